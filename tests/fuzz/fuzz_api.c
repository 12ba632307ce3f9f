/* libFuzzer harness for the engine-slots C ABI, checked against a model.
 *
 * The input bytes become one table (a small config from the first bytes)
 * and a sequence of C ABI calls: engine add/find/remove/drain/undrain/set_*,
 * with keys of 0..80 bytes; reserve/reserve_on/commit/cancel/release/touch
 * with handles that are live, stale, near misses (one bit flipped), from
 * another table, 0, or raw garbage from the input; snapshots with a random
 * capacity; and NULL pointers. Every status is checked against a model of
 * the table kept here (engines with their counts and settings, the live
 * tickets), and after every call each engine's stats must equal the model's.
 * Any difference aborts, so libFuzzer saves the input.
 *
 * Leases are either 0 or at least an hour, so nothing expires during a run
 * and every result is deterministic (the lease bookkeeping still runs).
 * The only nondeterminism is ES_POLICY_TWO_CHOICES' sampling, for which the
 * model checks only that the chosen engine had room.
 *
 * Where several faults apply at once (say a NULL table and a bad key), the
 * docs/CONTRACT.md does not order them, so any of their statuses is accepted.
 *
 * Build and run: tests/fuzz/run.sh [SECONDS]. Replay one input with a trace:
 *   FUZZ_API_TRACE=1 target/fuzz/fuzz_api FILE
 * The seeds in corpus/ come from make_corpus.py (the encoding is documented
 * there by example). */
#include "engine_slots.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_E = 8, MAX_T = 16, RING = 32, KEY_IN_MAX = 80, CAP_MAX = 2047 };
static const uint64_t SENTINEL = 0x5A5A5A5A5A5A5A5AULL;

/* ---- failure reporting --------------------------------------------------- */

static unsigned g_step;
static const char *g_op = "setup";

/* The last calls and their statuses, printed when a check fails (a failure
 * may not replay: ES_POLICY_TWO_CHOICES samples at random). */
enum { HISTORY = 24 };
static char g_history[HISTORY][96];
static unsigned g_nhistory;
static void remember(const char *line) {
  snprintf(g_history[g_nhistory++ % HISTORY], sizeof g_history[0], "%s", line);
}
static void print_history(void) {
  unsigned from = g_nhistory > HISTORY ? g_nhistory - HISTORY : 0;
  fprintf(stderr, "fuzz_api: the last calls:\n");
  for (unsigned i = from; i < g_nhistory; i++) fprintf(stderr, "  %s\n", g_history[i % HISTORY]);
}

static void dump_state(void);

#define FAIL(...)                                                        \
  do {                                                                   \
    print_history();                                                     \
    dump_state();                                                        \
    fprintf(stderr, "fuzz_api: step %u (%s): ", g_step, g_op);           \
    fprintf(stderr, __VA_ARGS__);                                        \
    fputc('\n', stderr);                                                 \
    abort();                                                             \
  } while (0)
#define CHECK(cond, ...) \
  do {                   \
    if (!(cond)) FAIL(__VA_ARGS__); \
  } while (0)

/* A set of acceptable statuses, one bit each. */
typedef uint32_t smask;
static int sbit(es_status s) {
  switch ((int)s) {
    case ES_OK: return 0;
    case ES_NO_CAPACITY: return 1;
    case ES_ERR_NULL: return 2;
    case ES_ERR_INVALID: return 3;
    case ES_ERR_TABLE_FULL: return 4;
    case ES_ERR_EXISTS: return 5;
    case ES_ERR_NOT_FOUND: return 6;
    case ES_ERR_STALE: return 7;
    default: return 31; /* IO, CORRUPT, INTERNAL, unknown: never expected */
  }
}
#define M(s) ((smask)1u << sbit(s))

/* FUZZ_API_TRACE=1 in the environment prints every checked status (to
 * read what a crashing input does: ./fuzz_api crash-file). */
static int g_trace = -1;
static bool g_checking; /* inside check_all: not traced */

static void expect(es_status got, smask want) {
  if (g_trace < 0) g_trace = getenv("FUZZ_API_TRACE") != NULL;
  if (!g_checking) {
    char line[96];
    snprintf(line, sizeof line, "step %u %-12s -> %d %s", g_step, g_op, (int)got,
             es_status_str(got));
    remember(line);
    if (g_trace) fprintf(stderr, "  %s\n", line);
  }
  CHECK(M(got) & want, "status %d (%s), expected mask 0x%x", (int)got,
        es_status_str(got), (unsigned)want);
}

/* ---- input --------------------------------------------------------------- */

typedef struct {
  const uint8_t *p;
  size_t n;
} input;

static uint8_t u8(input *in) {
  if (in->n == 0) return 0;
  in->n--;
  return *in->p++;
}
static uint32_t u32(input *in) {
  uint32_t v = 0;
  for (int i = 0; i < 4; i++) v |= (uint32_t)u8(in) << (8 * i);
  return v;
}
static uint64_t u64(input *in) { return (uint64_t)u32(in) | (uint64_t)u32(in) << 32; }

/* ---- the model ----------------------------------------------------------- */

typedef struct {
  bool live;
  es_engine h;
  uint8_t key[ES_KEY_MAX];
  size_t key_len;
  uint32_t cap, active, pending, external;
  int32_t prio;
  bool healthy, draining;
  uint64_t reserved_total;
} m_engine;

typedef struct {
  es_ticket h;
  int eng; /* index into model.e, -1 once its engine was removed */
  bool active;
} m_ticket;

typedef struct {
  es_config cfg;
  m_engine e[MAX_E]; /* model slots: not the table's slot order */
  m_ticket t[MAX_T];
  int nt;
  es_ticket stale_t[RING];
  unsigned nst;
  es_engine stale_e[RING];
  unsigned nse;
  uint8_t old_key[RING][ES_KEY_MAX]; /* keys of removed engines, for reuse */
  size_t old_key_len[RING];
  unsigned nok;
  /* A second table with one engine and one pending ticket: foreign handles. */
  es_table *other;
  es_engine other_e;
  es_ticket other_t;
} model;

static uint64_t load_of(const m_engine *e) {
  return (uint64_t)e->active + e->pending + (e->external > CAP_MAX ? CAP_MAX : e->external);
}
static bool has_room(const m_engine *e) {
  return e->live && !e->draining && load_of(e) < e->cap;
}
static int engine_of(const model *m, es_engine h) {
  for (int i = 0; i < MAX_E; i++)
    if (m->e[i].live && m->e[i].h == h) return i;
  return -1;
}
static int ticket_of(const model *m, es_ticket h) {
  for (int i = 0; i < m->nt; i++)
    if (m->t[i].h == h) return i;
  return -1;
}
static int live_engines(const model *m) {
  int n = 0;
  for (int i = 0; i < MAX_E; i++) n += m->e[i].live;
  return n;
}
static bool any_room(const model *m) {
  for (int i = 0; i < MAX_E; i++)
    if (has_room(&m->e[i])) return true;
  return false;
}
static int key_owner(const model *m, const uint8_t *key, size_t len) {
  for (int i = 0; i < MAX_E; i++)
    if (m->e[i].live && m->e[i].key_len == len && memcmp(m->e[i].key, key, len) == 0)
      return i;
  return -1;
}
static bool in_ring(const uint64_t *ring, unsigned n, uint64_t h) {
  for (unsigned i = 0; i < n && i < RING; i++)
    if (ring[i] == h) return true;
  return false;
}
/* Finishes live ticket i: it leaves the model and its handle is stale. */
static void ticket_done(model *m, int i) {
  m->stale_t[m->nst++ % RING] = m->t[i].h;
  m->t[i] = m->t[--m->nt];
}

/* ---- choosing arguments -------------------------------------------------- */

/* A key of 0..80 bytes in buf, often one that exists or existed. */
static size_t pick_key(model *m, input *in, uint8_t *buf) {
  uint8_t sel = u8(in);
  switch (sel % 4) {
    case 0: { /* a live engine's key */
      int n = u8(in) % MAX_E;
      for (int k = 0; k < MAX_E; k++) {
        const m_engine *e = &m->e[(n + k) % MAX_E];
        if (e->live) {
          memcpy(buf, e->key, e->key_len);
          return e->key_len;
        }
      }
    } /* fall through: none live */
    /* FALLTHROUGH */
    case 1: /* a removed engine's key */
      if (m->nok) {
        unsigned i = u8(in) % (m->nok < RING ? m->nok : RING);
        memcpy(buf, m->old_key[i], m->old_key_len[i]);
        return m->old_key_len[i];
      }
      /* FALLTHROUGH */
    case 2: { /* any bytes, any length up to 80 */
      size_t len = u8(in) % (KEY_IN_MAX + 1);
      for (size_t i = 0; i < len; i++) buf[i] = u8(in);
      return len;
    }
    default: { /* short keys from a tiny alphabet: collisions are likely */
      size_t len = 1 + u8(in) % 3;
      for (size_t i = 0; i < len; i++) buf[i] = (uint8_t)('a' + u8(in) % 3);
      return len;
    }
  }
}

static es_engine pick_engine(const model *m, input *in) {
  uint8_t sel = u8(in);
  switch (sel % 8) {
    case 0:
    case 1:
    case 2: {
      int n = u8(in) % MAX_E;
      for (int k = 0; k < MAX_E; k++)
        if (m->e[(n + k) % MAX_E].live) return m->e[(n + k) % MAX_E].h;
      return u64(in);
    }
    case 3:
      return m->nse ? m->stale_e[u8(in) % (m->nse < RING ? m->nse : RING)] : 0;
    case 4:
      return 0;
    case 5: { /* a near miss of a live or stale handle */
      es_engine h = m->nse ? m->stale_e[0] : 0;
      for (int i = 0; i < MAX_E; i++)
        if (m->e[i].live) h = m->e[i].h;
      return h ^ (1ULL << (u8(in) % 64));
    }
    case 6:
      return m->other_e;
    default:
      return u64(in);
  }
}

static es_ticket pick_ticket(const model *m, input *in) {
  uint8_t sel = u8(in);
  switch (sel % 8) {
    case 0:
    case 1:
    case 2:
      if (m->nt) return m->t[u8(in) % m->nt].h;
      return u64(in);
    case 3:
      return m->nst ? m->stale_t[u8(in) % (m->nst < RING ? m->nst : RING)] : 0;
    case 4:
      return 0;
    case 5: {
      es_ticket h = m->nt ? m->t[0].h : (m->nst ? m->stale_t[0] : 0);
      return h ^ (1ULL << (u8(in) % 64));
    }
    case 6:
      return m->other_t;
    default:
      return u64(in);
  }
}

static uint32_t pick_capacity(input *in) {
  switch (u8(in) % 6) {
    case 0: return 0;
    case 1: return 1 + u8(in) % 4;
    case 2: return CAP_MAX;
    case 3: return CAP_MAX + 1;
    case 4: return u32(in);
    default: return 1;
  }
}

static uint32_t pick_external(input *in) {
  switch (u8(in) % 5) {
    case 0: return 0;
    case 1: return u8(in) % 5;
    case 2: return CAP_MAX;
    case 3: return CAP_MAX + 1;
    default: return u32(in);
  }
}

/* ---- checks -------------------------------------------------------------- */

static void check_stats(const m_engine *e, const es_engine_stats *s) {
  CHECK(s->engine == e->h, "stats engine %llx, model %llx", (unsigned long long)s->engine,
        (unsigned long long)e->h);
  CHECK(s->key_len == e->key_len && memcmp(s->key, e->key, e->key_len) == 0,
        "stats key (len %u) differs from model (len %zu)", s->key_len, e->key_len);
  CHECK(s->capacity == e->cap, "capacity %u, model %u", s->capacity, e->cap);
  CHECK(s->active == e->active, "active %u, model %u", s->active, e->active);
  CHECK(s->pending == e->pending, "pending %u, model %u", s->pending, e->pending);
  CHECK(s->external == e->external, "external %u, model %u", s->external, e->external);
  CHECK(s->priority == e->prio, "priority %d, model %d", s->priority, e->prio);
  CHECK(s->healthy == e->healthy, "healthy %d, model %d", s->healthy, e->healthy);
  CHECK(s->draining == e->draining, "draining %d, model %d", s->draining, e->draining);
  CHECK(s->reserved_total == e->reserved_total, "reserved_total %llu, model %llu",
        (unsigned long long)s->reserved_total, (unsigned long long)e->reserved_total);
  CHECK(s->expired_total == 0, "expired_total %llu without leases running out",
        (unsigned long long)s->expired_total);
}

/* Every engine's stats, the engine count and the ticket counts agree. */
static void check_all(const model *m, const es_table *t) {
  g_checking = true;
  for (int i = 0; i < MAX_E; i++) {
    if (!m->e[i].live) continue;
    es_engine_stats s;
    expect(es_engine_stats_get(t, m->e[i].h, &s), M(ES_OK));
    check_stats(&m->e[i], &s);
  }
  size_t len = SENTINEL;
  expect(es_table_snapshot(t, NULL, 0, &len), M(ES_OK));
  CHECK(len == (size_t)live_engines(m), "snapshot len %zu, model %d", len, live_engines(m));
  es_ticket_counts c;
  expect(es_table_ticket_counts(t, &c), M(ES_OK));
  uint32_t pending = 0, active = 0;
  for (int i = 0; i < m->nt; i++) m->t[i].active ? active++ : pending++;
  CHECK(c.pending == pending && c.active == active &&
            c.free == m->cfg.max_tickets - (uint32_t)m->nt,
        "ticket counts %u/%u/%u, model %u/%u/%u", c.free, c.pending, c.active,
        m->cfg.max_tickets - (uint32_t)m->nt, pending, active);
  g_checking = false;
}

/* `x` would be picked over `c` by the policy (ties not decided here). */
static bool beats(const model *m, const m_engine *x, const m_engine *c) {
  if (x->healthy != c->healthy) return x->healthy;
  uint64_t lx = load_of(x) * c->cap, lc = load_of(c) * x->cap; /* ratio, exactly */
  if (lx != lc) return m->cfg.policy == ES_POLICY_FILL_FIRST ? lx > lc : lx < lc;
  return x->prio > c->prio;
}

/* A new handle: non-zero, not live, never seen before. */
static void check_new_ticket(const model *m, es_ticket h) {
  CHECK(h != 0 && h != SENTINEL, "ticket handle %llx", (unsigned long long)h);
  CHECK(ticket_of(m, h) < 0, "new ticket %llx equals a live one", (unsigned long long)h);
  CHECK(!in_ring(m->stale_t, m->nst, h), "new ticket %llx equals a stale one",
        (unsigned long long)h);
}

/* The foreign table is exactly as it was set up. */
static void check_other(const model *m) {
  es_engine_stats s;
  expect(es_engine_stats_get(m->other, m->other_e, &s), M(ES_OK));
  CHECK(s.pending == 1 && s.active == 0 && s.capacity == 1 && !s.draining,
        "foreign table changed: pending %u active %u capacity %u draining %d", s.pending,
        s.active, s.capacity, s.draining);
}

/* ---- operations ---------------------------------------------------------- */

enum {
  OP_ADD, OP_FIND, OP_REMOVE, OP_DRAIN, OP_UNDRAIN, OP_SET_CAPACITY, OP_SET_HEALTHY,
  OP_SET_PRIORITY, OP_SET_EXTERNAL, OP_RESERVE, OP_RESERVE_ON, OP_COMMIT, OP_CANCEL,
  OP_RELEASE, OP_TOUCH, OP_RECLAIM, OP_STATS, OP_SNAPSHOT, OP_FOREIGN, OP_MISC,
  OP_COUNT
};
static const char *const OP_NAMES[OP_COUNT] = {
    "add", "find", "remove", "drain", "undrain", "set_capacity", "set_healthy",
    "set_priority", "set_external", "reserve", "reserve_on", "commit", "cancel",
    "release", "touch", "reclaim", "stats", "snapshot", "foreign", "misc"};

/* Key arguments: the bytes in an exactly-sized heap buffer (so ASan sees an
 * over-read), the faults they carry, and whether the key is well-formed. */
typedef struct {
  uint8_t *p;
  size_t len;
  smask faults;
  bool ok;
} key_arg;

static key_arg make_key(model *m, input *in, bool null_key) {
  uint8_t buf[KEY_IN_MAX];
  key_arg k = {0};
  k.len = pick_key(m, in, buf);
  k.p = malloc(k.len ? k.len : 1);
  if (!k.p) abort();
  memcpy(k.p, buf, k.len);
  if (k.len == 0 || k.len > ES_KEY_MAX) k.faults |= M(ES_ERR_INVALID);
  if (null_key && k.len != 0) k.faults |= M(ES_ERR_NULL); /* len 0 is INVALID whatever the pointer */
  k.ok = k.faults == 0;
  if (null_key) {
    free(k.p);
    k.p = NULL;
  }
  return k;
}

static void op_add(model *m, es_table *t, input *in, bool null_t, bool null_other) {
  bool null_key = null_other && (u8(in) & 1), null_out = null_other && !null_key;
  key_arg k = make_key(m, in, null_key);
  uint32_t cap = pick_capacity(in);
  uint32_t eff = cap ? cap : m->cfg.default_capacity;
  smask faults = k.faults;
  if (null_t || null_out) faults |= M(ES_ERR_NULL);
  if (eff > CAP_MAX) faults |= M(ES_ERR_INVALID);
  smask state = 0; /* what the table's state says, for a well-formed key */
  int free_slot = -1;
  for (int i = MAX_E - 1; i >= 0; i--)
    if (!m->e[i].live && (uint32_t)i < m->cfg.max_engines) free_slot = i;
  if (k.ok) {
    if (key_owner(m, k.p, k.len) >= 0)
      state = M(ES_ERR_EXISTS);
    else if (free_slot < 0 || (uint32_t)live_engines(m) >= m->cfg.max_engines)
      state = M(ES_ERR_TABLE_FULL);
  }
  es_engine out = SENTINEL;
  es_status s = es_engine_add(null_t ? NULL : t, k.p, k.len, cap, null_out ? NULL : &out);
  expect(s, faults ? faults | state : state ? state : M(ES_OK));
  if (s == ES_OK) {
    CHECK(out != 0 && out != SENTINEL && engine_of(m, out) < 0 &&
              !in_ring(m->stale_e, m->nse, out),
          "new engine handle %llx is 0, live or stale", (unsigned long long)out);
    m_engine *e = &m->e[free_slot];
    memset(e, 0, sizeof *e);
    e->live = true;
    e->h = out;
    memcpy(e->key, k.p, k.len);
    e->key_len = k.len;
    e->cap = eff;
    e->healthy = true;
  } else {
    CHECK(out == SENTINEL, "out-parameter written on error");
  }
  free(k.p);
}

static void op_find(model *m, es_table *t, input *in, bool null_t, bool null_other) {
  bool null_key = null_other && (u8(in) & 1), null_out = null_other && !null_key;
  key_arg k = make_key(m, in, null_key);
  smask faults = k.faults | (null_t || null_out ? M(ES_ERR_NULL) : 0);
  int owner = k.ok ? key_owner(m, k.p, k.len) : -1;
  es_engine out = SENTINEL;
  es_status s = es_engine_find(null_t ? NULL : t, k.p, k.len, null_out ? NULL : &out);
  expect(s, faults ? faults : owner >= 0 ? M(ES_OK) : M(ES_ERR_NOT_FOUND));
  if (s == ES_OK)
    CHECK(out == m->e[owner].h, "found %llx, model %llx", (unsigned long long)out,
          (unsigned long long)m->e[owner].h);
  else
    CHECK(out == SENTINEL, "out-parameter written on error");
  free(k.p);
}

/* remove, drain, undrain, set_*: one engine handle and maybe a value. */
static void op_engine(model *m, es_table *t, input *in, int op, bool null_t) {
  es_engine h = pick_engine(m, in);
  int i = engine_of(m, h);
  m_engine *e = i >= 0 ? &m->e[i] : NULL;
  smask want = null_t ? M(ES_ERR_NULL) : e ? M(ES_OK) : M(ES_ERR_STALE);
  es_table *tt = null_t ? NULL : t;
  es_status s;
  switch (op) {
    case OP_REMOVE:
      s = es_engine_remove(tt, h);
      expect(s, want);
      if (s == ES_OK) {
        for (int k = 0; k < m->nt; k++)
          if (m->t[k].eng == i) m->t[k].eng = -1; /* its tickets can only finish */
        m->stale_e[m->nse++ % RING] = e->h;
        unsigned o = m->nok++ % RING;
        memcpy(m->old_key[o], e->key, e->key_len);
        m->old_key_len[o] = e->key_len;
        e->live = false;
      }
      return;
    case OP_DRAIN:
    case OP_UNDRAIN:
      s = op == OP_DRAIN ? es_engine_drain(tt, h) : es_engine_undrain(tt, h);
      expect(s, want);
      if (s == ES_OK) e->draining = op == OP_DRAIN;
      return;
    case OP_SET_CAPACITY: {
      uint32_t cap = pick_capacity(in);
      if (cap == 0 || cap > CAP_MAX) want = (want & ~M(ES_OK)) | M(ES_ERR_INVALID);
      s = es_engine_set_capacity(tt, h, cap);
      expect(s, want);
      if (s == ES_OK) e->cap = cap;
      return;
    }
    case OP_SET_HEALTHY: {
      bool healthy = u8(in) & 1;
      s = es_engine_set_healthy(tt, h, healthy);
      expect(s, want);
      if (s == ES_OK) e->healthy = healthy;
      return;
    }
    case OP_SET_PRIORITY: {
      int32_t prio = (int32_t)u32(in);
      s = es_engine_set_priority(tt, h, prio);
      expect(s, want);
      if (s == ES_OK) e->prio = prio;
      return;
    }
    default: { /* OP_SET_EXTERNAL */
      uint32_t ext = pick_external(in);
      s = es_engine_set_external(tt, h, ext);
      expect(s, want);
      if (s == ES_OK) e->external = ext;
      return;
    }
  }
}

/* Records a successful admission of ticket `h` on model engine `i`. */
static void admitted(model *m, int i, es_ticket h) {
  check_new_ticket(m, h);
  CHECK(has_room(&m->e[i]), "admitted on engine %llx without room (load %llu, cap %u, "
        "draining %d)", (unsigned long long)m->e[i].h, (unsigned long long)load_of(&m->e[i]),
        m->e[i].cap, m->e[i].draining);
  CHECK(m->nt < MAX_T, "more tickets than the model holds");
  m->e[i].pending++;
  m->e[i].reserved_total++;
  m->t[m->nt++] = (m_ticket){.h = h, .eng = i, .active = false};
}

static void op_reserve(model *m, es_table *t, input *in, bool null_t, bool null_other) {
  bool null_ticket = null_other && (u8(in) & 1), null_engine = null_other && !null_ticket;
  bool full = (uint32_t)m->nt >= m->cfg.max_tickets, room = any_room(m);
  smask want = null_t || null_other ? M(ES_ERR_NULL)
               : full && !room      ? M(ES_ERR_TABLE_FULL) | M(ES_NO_CAPACITY)
               : full               ? M(ES_ERR_TABLE_FULL)
               : !room              ? M(ES_NO_CAPACITY)
                                    : M(ES_OK);
  es_ticket tk = SENTINEL;
  es_engine en = SENTINEL;
  es_status s = es_reserve(null_t ? NULL : t, null_ticket ? NULL : &tk,
                           null_engine ? NULL : &en);
  expect(s, want);
  if (s != ES_OK) {
    CHECK(tk == SENTINEL && en == SENTINEL, "out-parameters written on status %d", (int)s);
    return;
  }
  int i = engine_of(m, en);
  CHECK(i >= 0, "reserve picked %llx, not a live engine", (unsigned long long)en);
  if (m->cfg.policy != ES_POLICY_TWO_CHOICES)
    for (int x = 0; x < MAX_E; x++)
      CHECK(!has_room(&m->e[x]) || !beats(m, &m->e[x], &m->e[i]),
            "policy %d picked %llx over the better %llx", (int)m->cfg.policy,
            (unsigned long long)en, (unsigned long long)m->e[x].h);
  admitted(m, i, tk);
}

static void op_reserve_on(model *m, es_table *t, input *in, bool null_t, bool null_other) {
  es_engine h = pick_engine(m, in);
  int i = engine_of(m, h);
  bool full = (uint32_t)m->nt >= m->cfg.max_tickets;
  bool room = i >= 0 && has_room(&m->e[i]);
  smask want = null_t || null_other ? M(ES_ERR_NULL)
               : i < 0              ? M(ES_ERR_STALE) | (full ? M(ES_ERR_TABLE_FULL) : 0)
               : full && !room      ? M(ES_ERR_TABLE_FULL) | M(ES_NO_CAPACITY)
               : full               ? M(ES_ERR_TABLE_FULL)
               : !room              ? M(ES_NO_CAPACITY)
                                    : M(ES_OK);
  es_ticket tk = SENTINEL;
  es_status s = es_reserve_on(null_t ? NULL : t, h, null_other ? NULL : &tk);
  expect(s, want);
  if (s == ES_OK)
    admitted(m, i, tk);
  else
    CHECK(tk == SENTINEL, "out-parameter written on status %d", (int)s);
}

/* commit, cancel, release, touch. */
static void op_ticket(model *m, es_table *t, input *in, int op, bool null_t) {
  es_ticket h = pick_ticket(m, in);
  int i = ticket_of(m, h);
  m_ticket *k = i >= 0 ? &m->t[i] : NULL;
  m_engine *e = k && k->eng >= 0 ? &m->e[k->eng] : NULL;
  es_table *tt = null_t ? NULL : t;
  es_status s;
  if (null_t) {
    s = op == OP_COMMIT ? es_commit(tt, h) : op == OP_CANCEL ? es_cancel(tt, h)
        : op == OP_RELEASE ? es_release(tt, h) : es_touch(tt, h);
    expect(s, M(ES_ERR_NULL));
    return;
  }
  switch (op) {
    case OP_COMMIT:
      s = es_commit(tt, h);
      if (!k || k->active) {
        expect(s, M(ES_ERR_STALE));
      } else if (!e) { /* engine removed: the commit finishes the ticket */
        expect(s, M(ES_ERR_STALE));
        ticket_done(m, i);
      } else {
        expect(s, M(ES_OK));
        e->pending--;
        e->active++;
        k->active = true;
      }
      return;
    case OP_CANCEL:
    case OP_RELEASE: {
      bool want_active = op == OP_RELEASE;
      s = want_active ? es_release(tt, h) : es_cancel(tt, h);
      if (!k || k->active != want_active) {
        expect(s, M(ES_ERR_STALE));
        return;
      }
      expect(s, M(ES_OK));
      if (e) want_active ? e->active-- : e->pending--;
      ticket_done(m, i);
      return;
    }
    default: /* OP_TOUCH: an active ticket of a live engine; never finishes one */
      s = es_touch(tt, h);
      expect(s, k && k->active && e ? M(ES_OK) : M(ES_ERR_STALE));
      return;
  }
}

static void op_stats(model *m, es_table *t, input *in, bool null_t, bool null_other) {
  es_engine h = pick_engine(m, in);
  int i = engine_of(m, h);
  es_engine_stats s, untouched;
  memset(&s, 0xA5, sizeof s);
  memcpy(&untouched, &s, sizeof s);
  es_status st = es_engine_stats_get(null_t ? NULL : t, h, null_other ? NULL : &s);
  expect(st, null_t || null_other ? M(ES_ERR_NULL) : i >= 0 ? M(ES_OK) : M(ES_ERR_STALE));
  if (st == ES_OK)
    check_stats(&m->e[i], &s);
  else
    CHECK(memcmp(&s, &untouched, sizeof s) == 0, "stats written on error");
}

static void op_snapshot(model *m, es_table *t, input *in, bool null_t, bool null_other) {
  size_t cap = u8(in) % (MAX_E + 3);
  bool null_buf = null_other && (u8(in) & 1), null_len = null_other && !null_buf;
  /* Exactly `cap` entries on the heap: ASan catches a write past them. */
  es_engine_stats *buf = malloc(cap ? cap * sizeof *buf : 1);
  if (!buf) abort();
  memset(buf, 0xA5, cap * sizeof *buf);
  size_t len = SENTINEL;
  es_status s = es_table_snapshot(null_t ? NULL : t, null_buf ? NULL : buf, cap,
                                  null_len ? NULL : &len);
  bool null_fault = null_t || null_len || (null_buf && cap > 0);
  expect(s, null_fault ? M(ES_ERR_NULL) : M(ES_OK));
  if (s != ES_OK) {
    CHECK(len == SENTINEL, "len written on error");
  } else {
    size_t live = (size_t)live_engines(m), n = cap < live ? cap : live;
    CHECK(len == live, "snapshot len %zu, model %zu", len, live);
    bool seen[MAX_E] = {0};
    for (size_t j = 0; j < n && !null_buf; j++) {
      int i = engine_of(m, buf[j].engine);
      CHECK(i >= 0 && !seen[i], "snapshot entry %zu: engine %llx unknown or repeated", j,
            (unsigned long long)buf[j].engine);
      seen[i] = true;
      check_stats(&m->e[i], &buf[j]);
    }
    es_engine_stats pattern;
    memset(&pattern, 0xA5, sizeof pattern);
    for (size_t j = n; j < cap && !null_buf; j++)
      CHECK(memcmp(&buf[j], &pattern, sizeof pattern) == 0, "snapshot wrote entry %zu of "
            "%zu beyond the %zu engines", j, cap, live);
  }
  free(buf);
}

/* Handles of this table used on the other table: always stale there, and the
 * other table's counts never move. */
static void op_foreign(model *m, input *in) {
  uint8_t which = u8(in) % 6;
  es_engine eh = pick_engine(m, in);
  es_ticket th = pick_ticket(m, in);
  if (eh == m->other_e || th == m->other_t) return; /* its own handles: not foreign */
  es_ticket tk = SENTINEL;
  es_status s;
  switch (which) {
    case 0: s = es_commit(m->other, th); break;
    case 1: s = es_cancel(m->other, th); break;
    case 2: s = es_release(m->other, th); break;
    case 3: s = es_engine_remove(m->other, eh); break;
    case 4: s = es_engine_set_capacity(m->other, eh, 5); break;
    default: s = es_reserve_on(m->other, eh, &tk); break;
  }
  expect(s, M(ES_ERR_STALE));
  check_other(m);
}

static void op_misc(model *m, es_table *t, input *in, bool null_t, bool null_other) {
  switch (u8(in) % 4) {
    case 0: { /* reclaim: nothing can have expired */
      uint32_t n = 77;
      es_status s = es_reclaim_expired(null_t ? NULL : t, null_other ? NULL : &n);
      expect(s, null_t ? M(ES_ERR_NULL) : M(ES_OK));
      CHECK(n == (s == ES_OK && !null_other ? 0u : 77u), "reclaimed %u", n);
      return;
    }
    case 1: { /* any int32 has a static string */
      int32_t code = (int32_t)u32(in);
      const char *str = es_status_str((es_status)code);
      CHECK(str && *str, "es_status_str(%d) empty", code);
      CHECK(es_version() && *es_version(), "es_version empty");
      return;
    }
    case 2: { /* the config reads back */
      es_config c;
      memset(&c, 0xA5, sizeof c);
      es_status s = es_table_get_config(null_t ? NULL : t, null_other ? NULL : &c);
      expect(s, null_t || null_other ? M(ES_ERR_NULL) : M(ES_OK));
      if (s == ES_OK) CHECK(memcmp(&c, &m->cfg, sizeof c) == 0, "config differs");
      return;
    }
    default: { /* ticket counts with a NULL argument */
      es_ticket_counts c;
      expect(es_table_ticket_counts(null_t ? NULL : t, NULL), M(ES_ERR_NULL));
      expect(es_table_ticket_counts(NULL, &c), M(ES_ERR_NULL));
      return;
    }
  }
}

/* The model and the table under test, for dump_state. */
static const model *g_model;
static const es_table *g_table;

/* On failure: the model's engines and tickets beside the table's view. */
static void dump_state(void) {
  const model *m = g_model;
  if (!m || !g_table) return;
  fprintf(stderr, "fuzz_api: model engines (table's view in brackets):\n");
  for (int i = 0; i < MAX_E; i++) {
    const m_engine *e = &m->e[i];
    if (!e->live) continue;
    es_engine_stats s;
    memset(&s, 0, sizeof s);
    es_status st = es_engine_stats_get(g_table, e->h, &s);
    fprintf(stderr, "  [%d] %016llx cap %u active %u pending %u ext %u%s%s  [status %d: cap %u "
            "active %u pending %u]\n", i, (unsigned long long)e->h, e->cap, e->active,
            e->pending, e->external, e->draining ? " draining" : "",
            e->healthy ? "" : " unhealthy", (int)st, s.capacity, s.active, s.pending);
  }
  fprintf(stderr, "fuzz_api: model tickets:\n");
  for (int i = 0; i < m->nt; i++)
    fprintf(stderr, "  %016llx %s on engine [%d]\n", (unsigned long long)m->t[i].h,
            m->t[i].active ? "active" : "pending", m->t[i].eng);
  es_ticket_counts c;
  memset(&c, 0, sizeof c);
  es_status st = es_table_ticket_counts(g_table, &c);
  fprintf(stderr, "fuzz_api: table ticket counts (status %d): free %u pending %u active %u\n",
          (int)st, c.free, c.pending, c.active);
}

/* ---- setup --------------------------------------------------------------- */

/* Configurations outside the ranges of docs/CONTRACT.md: ES_ERR_INVALID, out untouched. */
static void bad_configs(input *in) {
  es_config c = {.max_engines = 4, .max_tickets = 4, .default_capacity = 1};
  switch (u8(in) % 10) {
    case 0: c.max_engines = 0; break;
    case 1: c.max_engines = 65536; break;
    case 2: c.max_tickets = 0; break;
    case 3: c.max_tickets = 1048577; break;
    case 4: c.default_capacity = 0; break;
    case 5: c.default_capacity = CAP_MAX + 1; break;
    case 6: c.policy = (es_policy)3; break;
    case 7: c.policy = (es_policy)u32(in); if (c.policy <= 2) c.policy = (es_policy)99; break;
    case 8: { /* NULL config, NULL out */
      es_table *out = (es_table *)&c;
      expect(es_table_new(NULL, &out), M(ES_ERR_NULL));
      CHECK(out == (es_table *)&c, "out written on error");
      expect(es_table_new(&c, NULL), M(ES_ERR_NULL));
      return;
    }
    default: c.max_engines = u32(in) | 0x10000; break;
  }
  es_table *out = (es_table *)&c;
  expect(es_table_new(&c, &out), M(ES_ERR_INVALID));
  CHECK(out == (es_table *)&c, "out written on error");
}

static es_config config_from(input *in) {
  uint8_t a = u8(in), b = u8(in), c = u8(in);
  static const uint32_t leases[4][2] = {
      {0, 0}, {3600000, 0}, {0, 3600000}, {UINT32_MAX, UINT32_MAX}};
  es_config cfg = {
      .max_engines = 1 + (a & 7),
      .max_tickets = 1 + (b & 15),
      .default_capacity = 1 + (c & 3),
      .pending_lease_ms = leases[(c >> 4) & 3][0],
      .active_lease_ms = leases[(c >> 4) & 3][1],
      .policy = (es_policy)(((c >> 2) & 3) % 3),
  };
  return cfg;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  input in = {data, size};
  g_step = 0;
  g_op = "setup";
  static model m; /* static: large, and reset below */
  memset(&m, 0, sizeof m);

  g_nhistory = 0;
  uint8_t flags = u8(&in);
  if (flags & 1) bad_configs(&in);
  m.cfg = config_from(&in);
  char line[96];
  snprintf(line, sizeof line, "config: %u engines, %u tickets, capacity %u, leases %u/%u ms, "
           "policy %u", m.cfg.max_engines, m.cfg.max_tickets, m.cfg.default_capacity,
           m.cfg.pending_lease_ms, m.cfg.active_lease_ms, (unsigned)m.cfg.policy);
  remember(line);
  es_table *t = NULL;
  expect(es_table_new(&m.cfg, &t), M(ES_OK));
  CHECK(t != NULL, "es_table_new gave NULL");
  g_model = &m;
  g_table = t;

  es_config oc = {.max_engines = 1, .max_tickets = 1, .default_capacity = 1};
  expect(es_table_new(&oc, &m.other), M(ES_OK));
  expect(es_engine_add(m.other, (const uint8_t *)"foreign", 7, 0, &m.other_e), M(ES_OK));
  expect(es_reserve(m.other, &m.other_t, &(es_engine){0}), M(ES_OK));

  while (in.n > 0) {
    uint8_t opb = u8(&in);
    int op = (opb & 31) % OP_COUNT;
    bool null_t = (opb >> 5) == 6, null_other = (opb >> 5) == 7;
    g_step++;
    g_op = OP_NAMES[op];
    switch (op) {
      case OP_ADD: op_add(&m, t, &in, null_t, null_other); break;
      case OP_FIND: op_find(&m, t, &in, null_t, null_other); break;
      case OP_REMOVE:
      case OP_DRAIN:
      case OP_UNDRAIN:
      case OP_SET_CAPACITY:
      case OP_SET_HEALTHY:
      case OP_SET_PRIORITY:
      case OP_SET_EXTERNAL: op_engine(&m, t, &in, op, null_t); break;
      case OP_RESERVE: op_reserve(&m, t, &in, null_t, null_other); break;
      case OP_RESERVE_ON: op_reserve_on(&m, t, &in, null_t, null_other); break;
      case OP_COMMIT:
      case OP_CANCEL:
      case OP_RELEASE:
      case OP_TOUCH: op_ticket(&m, t, &in, op, null_t); break;
      case OP_STATS: op_stats(&m, t, &in, null_t, null_other); break;
      case OP_SNAPSHOT: op_snapshot(&m, t, &in, null_t, null_other); break;
      case OP_FOREIGN: op_foreign(&m, &in); break;
      default: op_misc(&m, t, &in, null_t, null_other); break;
    }
    check_all(&m, t);
  }

  /* Finish every ticket: all counts return to zero. */
  g_op = "teardown";
  while (m.nt > 0) {
    m_ticket *k = &m.t[m.nt - 1];
    expect(k->active ? es_release(t, k->h) : es_cancel(t, k->h), M(ES_OK));
    if (k->eng >= 0) k->active ? m.e[k->eng].active-- : m.e[k->eng].pending--;
    ticket_done(&m, m.nt - 1);
  }
  check_all(&m, t);
  for (int i = 0; i < MAX_E; i++)
    CHECK(!m.e[i].live || (m.e[i].active == 0 && m.e[i].pending == 0), "counts left");
  check_other(&m);
  g_table = NULL;
  es_table_free(t);
  es_table_free(m.other);
  es_table_free(NULL);
  return 0;
}
