/*
 * test_stress.c -- 4 threads hammer one small table through the C ABI.
 *
 * Phase 1 (no leases, ~1.3 s): random reserve / reserve_on / commit /
 * cancel / release / touch, plus settings that never raise admission
 * (health, priority, drain, external load). Each admission is mirrored in a
 * shadow count per engine (C11 atomics): incremented after a successful
 * reserve, decremented before the cancel/release that gives the slot back,
 * so a shadow count never exceeds the engine's real count, which must never
 * exceed its capacity. Every finished ticket is tried once more and must be
 * ES_ERR_STALE, even after its slot was reused by another thread.
 * At quiescence every count is back to zero.
 *
 * Phase 2 (short leases, ~0.6 s): threads also leak tickets on purpose;
 * operations may now meet expired tickets (ES_ERR_STALE). After the leases
 * ran out, reclaiming leaves every count at zero: nothing leaks.
 */
#define _POSIX_C_SOURCE 200809L

#include "check.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#define THREADS 4
#define ENGINES 4
#define TICKETS 7 /* fewer than the total capacity: ES_ERR_TABLE_FULL happens too */
#define HELD_MAX 16

static const uint32_t capacity[ENGINES] = {1, 2, 2, 3};

static es_table *table;
static es_engine engines[ENGINES];
static atomic_int shadow[ENGINES];
static atomic_bool stop;
static atomic_ulong admitted;
static bool leases; /* phase 2: expiry allowed, leaks on purpose */

struct held {
  es_ticket ticket;
  int engine;
  bool active;
};

struct worker {
  uint64_t rng;
  struct held held[HELD_MAX];
  int n;
  unsigned long ops, full, no_capacity;
};

static int engine_index(es_engine e) {
  int i;
  for (i = 0; i < ENGINES; i++)
    if (engines[i] == e) return i;
  fprintf(stderr, "es_reserve returned an unknown engine %llu\n", (unsigned long long)e);
  exit(1);
}

/* Picks a held ticket in the given state, or -1. */
static int pick(struct worker *w, bool active) {
  int start, i;
  if (w->n == 0) return -1;
  start = (int)(next_rand(&w->rng) % (uint64_t)w->n);
  for (i = 0; i < w->n; i++) {
    int j = (start + i) % w->n;
    if (w->held[j].active == active) return j;
  }
  return -1;
}

static void forget(struct worker *w, int j) { w->held[j] = w->held[--w->n]; }

/* A status that phase 2 may also see because the ticket expired. */
static void check_ok_or_expired(es_status st, int line) {
  if (st == ES_OK || (leases && st == ES_ERR_STALE)) return;
  fprintf(stderr, "test_stress.c:%d: unexpected status %d (%s)\n", line, (int)st,
          es_status_str(st));
  exit(1);
}

static void do_reserve(struct worker *w) {
  es_ticket k = 0;
  es_engine e = 0;
  es_status st;
  int idx;
  if (next_rand(&w->rng) & 1) {
    st = es_reserve(table, &k, &e);
  } else {
    e = engines[next_rand(&w->rng) % ENGINES];
    st = es_reserve_on(table, e, &k);
  }
  if (st == ES_NO_CAPACITY) {
    w->no_capacity++;
    return;
  }
  if (st == ES_ERR_TABLE_FULL) {
    w->full++;
    return;
  }
  CHECK_OK(st);
  CHECK(k != 0);
  idx = engine_index(e);
  atomic_fetch_add(&admitted, 1);
  if (!leases) {
    int now = atomic_fetch_add(&shadow[idx], 1) + 1;
    if (now > (int)capacity[idx]) {
      fprintf(stderr, "OVERCOMMIT: engine %d holds %d streams, capacity %u\n", idx, now,
              capacity[idx]);
      exit(1);
    }
  }
  CHECK(w->n < HELD_MAX);
  w->held[w->n].ticket = k;
  w->held[w->n].engine = idx;
  w->held[w->n].active = false;
  w->n++;
}

/* Gives ticket j back (cancel or release) and checks it is stale after. */
static void give_back(struct worker *w, int j) {
  struct held h = w->held[j];
  es_status st;
  forget(w, j);
  if (!leases) atomic_fetch_sub(&shadow[h.engine], 1);
  st = h.active ? es_release(table, h.ticket) : es_cancel(table, h.ticket);
  check_ok_or_expired(st, __LINE__);
  /* Exactly once: the second attempt, of either kind, is stale. */
  CHECK_ST(es_release(table, h.ticket), ES_ERR_STALE);
  CHECK_ST(es_cancel(table, h.ticket), ES_ERR_STALE);
  CHECK_ST(es_commit(table, h.ticket), ES_ERR_STALE);
}

static void do_settings(struct worker *w) {
  es_engine e = engines[next_rand(&w->rng) % ENGINES];
  es_engine_stats s[ENGINES];
  size_t len = 0;
  int i;
  switch (next_rand(&w->rng) % 6) {
    case 0: CHECK_OK(es_engine_set_healthy(table, e, next_rand(&w->rng) & 1)); break;
    case 1: CHECK_OK(es_engine_set_priority(table, e, (int32_t)(next_rand(&w->rng) % 5) - 2)); break;
    case 2: CHECK_OK(es_engine_drain(table, e)); break;
    case 3: CHECK_OK(es_engine_undrain(table, e)); break;
    case 4: CHECK_OK(es_engine_set_external(table, e, (uint32_t)(next_rand(&w->rng) % 2))); break;
    default:
      /* Each engine's counts come from one atomic read: never overcommitted. */
      CHECK_OK(es_table_snapshot(table, s, ENGINES, &len));
      CHECK(len == ENGINES);
      for (i = 0; i < ENGINES; i++) {
        CHECK(s[i].engine == engines[i]);
        CHECK(s[i].active + s[i].pending <= s[i].capacity);
      }
      break;
  }
}

static void *run(void *arg) {
  struct worker *w = arg;
  while (!atomic_load(&stop)) {
    uint64_t op = next_rand(&w->rng) % 100;
    int j;
    w->ops++;
    if (op < 35) {
      do_reserve(w);
    } else if (op < 55) {
      if ((j = pick(w, false)) >= 0) {
        es_status st = es_commit(table, w->held[j].ticket);
        if (leases && st == ES_ERR_STALE) {
          forget(w, j); /* expired before the commit */
        } else {
          CHECK_OK(st);
          w->held[j].active = true;
          CHECK_ST(es_commit(table, w->held[j].ticket), ES_ERR_STALE);
          CHECK_ST(es_cancel(table, w->held[j].ticket), ES_ERR_STALE);
        }
      }
    } else if (op < 70) {
      if ((j = pick(w, false)) >= 0) give_back(w, j);
    } else if (op < 85) {
      if ((j = pick(w, true)) >= 0) give_back(w, j);
    } else if (op < 93) {
      if ((j = pick(w, true)) >= 0) check_ok_or_expired(es_touch(table, w->held[j].ticket), __LINE__);
      if ((j = pick(w, false)) >= 0) CHECK_ST(es_touch(table, w->held[j].ticket), ES_ERR_STALE);
    } else if (op < 97) {
      do_settings(w);
    } else if (leases && w->n > 0 && next_rand(&w->rng) % 256 == 0) {
      /* Leak it (rarely: a leak holds its slot for a whole lease). */
      forget(w, (int)(next_rand(&w->rng) % (uint64_t)w->n));
    }
  }
  while (w->n > 0) give_back(w, 0);
  return NULL;
}

static void run_phase(uint32_t pending_lease, uint32_t active_lease, long ms, uint64_t seed) {
  pthread_t th[THREADS];
  struct worker w[THREADS];
  es_ticket_counts c;
  unsigned long ops = 0, full = 0, nocap = 0, reserved = 0;
  uint32_t reclaimed = 0;
  int i;

  table = new_table(ENGINES, TICKETS, 1, pending_lease, active_lease, ES_POLICY_LEAST_LOADED);
  for (i = 0; i < ENGINES; i++) {
    char key[16];
    snprintf(key, sizeof key, "eng-%d", i);
    engines[i] = add_engine(table, key, capacity[i]);
    atomic_store(&shadow[i], 0);
  }
  atomic_store(&stop, false);
  atomic_store(&admitted, 0);
  memset(w, 0, sizeof w);
  for (i = 0; i < THREADS; i++) {
    w[i].rng = seed + 0x9E3779B97F4A7C15ULL * (uint64_t)(i + 1);
    CHECK(pthread_create(&th[i], NULL, run, &w[i]) == 0);
  }
  sleep_ms(ms);
  atomic_store(&stop, true);
  for (i = 0; i < THREADS; i++) {
    CHECK(pthread_join(th[i], NULL) == 0);
    ops += w[i].ops;
    full += w[i].full;
    nocap += w[i].no_capacity;
  }

  if (leases) {
    /* Leaked tickets are won back once their leases ran out. */
    double t0 = now_ms();
    uint32_t longest = pending_lease > active_lease ? pending_lease : active_lease;
    sleep_until_elapsed(t0, 3.0 * longest + 30.0);
    CHECK_OK(es_reclaim_expired(table, &reclaimed));
  }
  for (i = 0; i < ENGINES; i++) {
    es_engine_stats s = stats_of(table, engines[i]);
    CHECK(atomic_load(&shadow[i]) == 0);
    if (s.active != 0 || s.pending != 0) {
      fprintf(stderr, "engine %d: active %u pending %u at quiescence\n", i, s.active, s.pending);
      exit(1);
    }
    CHECK(leases || s.expired_total == 0);
    reserved += (unsigned long)s.reserved_total;
  }
  CHECK(reserved == atomic_load(&admitted));
  c = tickets_of(table);
  CHECK(c.free == TICKETS && c.pending == 0 && c.active == 0);
  printf("test_stress: %s: %lu ops, %lu admitted, %lu no-capacity, %lu table-full, %u reclaimed\n",
         leases ? "leases" : "exact", ops, reserved, nocap, full, reclaimed);
  CHECK(reserved > 0);
  es_table_free(table);
  table = NULL;
}

int main(void) {
  leases = false;
  run_phase(0, 0, 1300, 1);
  leases = true;
  run_phase(20, 30, 600, 2);
  printf("test_stress: all checks passed\n");
  return 0;
}
