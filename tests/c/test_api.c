/*
 * test_api.c -- the C ABI of engine-slots, function by function, with every
 * bad input the contract (docs/CONTRACT.md, "C functions") lists. Single-threaded; see
 * test_stress.c for concurrency and test_leases.c for lease expiry.
 *
 * Built by scripts/test-c.sh with -std=c11 -Wall -Wextra -Wpedantic -Werror
 * under AddressSanitizer and UndefinedBehaviorSanitizer.
 */
#define _POSIX_C_SOURCE 200809L

#include "check.h"

#include <limits.h>

/* A value that must survive a failed call in every out-parameter. */
#define SENTINEL 0xDEADBEEFCAFEF00DULL

static void test_status_strings(void) {
  const es_status all[] = {ES_OK,           ES_NO_CAPACITY,    ES_ERR_NULL,  ES_ERR_INVALID,
                           ES_ERR_TABLE_FULL, ES_ERR_EXISTS,   ES_ERR_NOT_FOUND, ES_ERR_STALE,
                           ES_ERR_IO,       ES_ERR_CORRUPT,    ES_ERR_INTERNAL};
  const int32_t unknown[] = {2, -9, -99, -101, 100, 12345, INT32_MIN, INT32_MAX};
  const size_t n = sizeof all / sizeof all[0];
  size_t i, j;
  const char *unknown_str = es_status_str(2);

  CHECK(ES_OK == 0 && ES_NO_CAPACITY == 1 && ES_ERR_NULL == -1 && ES_ERR_INVALID == -2);
  CHECK(ES_ERR_TABLE_FULL == -3 && ES_ERR_EXISTS == -4 && ES_ERR_NOT_FOUND == -5);
  CHECK(ES_ERR_STALE == -6 && ES_ERR_IO == -7 && ES_ERR_CORRUPT == -8);
  CHECK(ES_ERR_INTERNAL == -100);
  CHECK(ES_POLICY_LEAST_LOADED == 0 && ES_POLICY_FILL_FIRST == 1 && ES_POLICY_TWO_CHOICES == 2);
  CHECK(ES_KEY_MAX >= 253); /* any DNS name or Kubernetes object name fits */

  CHECK(unknown_str != NULL && strlen(unknown_str) > 0);
  for (i = 0; i < n; i++) {
    const char *s = es_status_str(all[i]);
    CHECK(s != NULL);
    CHECK(strlen(s) > 0);
    CHECK(strcmp(s, unknown_str) != 0);
    CHECK(es_status_str(all[i]) == s); /* static: the same string each time */
    for (j = i + 1; j < n; j++) CHECK(strcmp(s, es_status_str(all[j])) != 0);
  }
  for (i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
    const char *s = es_status_str(unknown[i]);
    CHECK(s != NULL);
    CHECK(strcmp(s, unknown_str) == 0);
  }
}

static void test_version(void) {
  const char *v = es_version();
  CHECK(v != NULL);
  CHECK(v[0] >= '0' && v[0] <= '9');
  CHECK(strchr(v, '.') != NULL);
#ifdef ES_EXPECTED_VERSION
  CHECK(strcmp(v, ES_EXPECTED_VERSION) == 0);
#endif
  CHECK(es_version() == v);
}

static es_config good_config(void) {
  es_config c;
  c.max_engines = 4;
  c.max_tickets = 16;
  c.default_capacity = 2;
  c.pending_lease_ms = 0;
  c.active_lease_ms = 0;
  c.policy = ES_POLICY_LEAST_LOADED;
  return c;
}

static void expect_bad_config(es_config c) {
  es_table *t = (es_table *)&t; /* any non-NULL value: must stay untouched */
  es_table *before = t;
  CHECK_ST(es_table_new(&c, &t), ES_ERR_INVALID);
  CHECK(t == before);
}

static void test_table_new_and_config(void) {
  es_config c = good_config(), back;
  es_table *t = NULL, *untouched = (es_table *)&c;
  uint32_t p;

  CHECK_ST(es_table_new(NULL, &t), ES_ERR_NULL);
  CHECK(t == NULL);
  CHECK_ST(es_table_new(&c, NULL), ES_ERR_NULL);
  CHECK_ST(es_table_new(NULL, NULL), ES_ERR_NULL);

  /* Every field out of range, alone. */
  c = good_config(); c.max_engines = 0; expect_bad_config(c);
  c = good_config(); c.max_engines = 65536; expect_bad_config(c);
  c = good_config(); c.max_engines = UINT32_MAX; expect_bad_config(c);
  c = good_config(); c.max_tickets = 0; expect_bad_config(c);
  c = good_config(); c.max_tickets = 1048577; expect_bad_config(c);
  c = good_config(); c.max_tickets = UINT32_MAX; expect_bad_config(c);
  c = good_config(); c.default_capacity = 0; expect_bad_config(c);
  c = good_config(); c.default_capacity = 2048; expect_bad_config(c);
  c = good_config(); c.default_capacity = UINT32_MAX; expect_bad_config(c);
  c = good_config(); c.policy = 3; expect_bad_config(c);
  c = good_config(); c.policy = UINT32_MAX; expect_bad_config(c);
  c = good_config(); c.policy = 0x80000000u; expect_bad_config(c);

  /* NULL out with a bad config: NULL is reported first, nothing written. */
  c = good_config();
  c.max_engines = 0;
  CHECK_ST(es_table_new(&c, NULL), ES_ERR_NULL);
  CHECK(untouched == (es_table *)&c);

  /* Every policy, the range limits and any lease value are accepted. */
  for (p = ES_POLICY_LEAST_LOADED; p <= ES_POLICY_TWO_CHOICES; p++) {
    c = good_config();
    c.policy = p;
    c.pending_lease_ms = UINT32_MAX;
    c.active_lease_ms = 1;
    t = NULL;
    CHECK_OK(es_table_new(&c, &t));
    CHECK(t != NULL);
    CHECK_OK(es_table_get_config(t, &back));
    CHECK(back.max_engines == c.max_engines && back.max_tickets == c.max_tickets);
    CHECK(back.default_capacity == c.default_capacity && back.policy == p);
    CHECK(back.pending_lease_ms == UINT32_MAX && back.active_lease_ms == 1);
    es_table_free(t);
  }
  c = good_config();
  c.max_engines = 1;
  c.max_tickets = 1;
  c.default_capacity = 1;
  CHECK_OK(es_table_new(&c, &t));
  es_table_free(t);
  c.max_engines = 65535;
  c.max_tickets = 1048576;
  c.default_capacity = 2047;
  CHECK_OK(es_table_new(&c, &t));
  CHECK_OK(es_table_get_config(t, &back));
  CHECK(back.max_engines == 65535 && back.max_tickets == 1048576 && back.default_capacity == 2047);
  CHECK_ST(es_table_get_config(NULL, &back), ES_ERR_NULL);
  CHECK_ST(es_table_get_config(t, NULL), ES_ERR_NULL);
  es_table_free(t);

  es_table_free(NULL); /* a no-op */
}

static void test_keys(void) {
  es_table *t = new_table(4, 8, 3, 0, 0, ES_POLICY_LEAST_LOADED);
  uint8_t kmax[ES_KEY_MAX], kover[ES_KEY_MAX + 1];
  const uint8_t nul_a[3] = {'a', 0, 'b'}, nul_b[3] = {'a', 0, 'c'}, nul_only[1] = {0};
  es_engine e = SENTINEL, emax, ea, eb, e0;
  es_engine_stats s;

  memset(kmax, 'k', sizeof kmax);
  memset(kover, 'k', sizeof kover);

  /* Length 0 is invalid whatever the pointer (NULL included). */
  CHECK_ST(es_engine_add(t, kmax, 0, 1, &e), ES_ERR_INVALID);
  CHECK_ST(es_engine_add(t, NULL, 0, 1, &e), ES_ERR_INVALID);
  CHECK_ST(es_engine_find(t, kmax, 0, &e), ES_ERR_INVALID);
  CHECK_ST(es_engine_find(t, NULL, 0, &e), ES_ERR_INVALID);
  /* NULL with a length is ES_ERR_NULL. */
  CHECK_ST(es_engine_add(t, NULL, 5, 1, &e), ES_ERR_NULL);
  CHECK_ST(es_engine_add(t, NULL, ES_KEY_MAX + 1, 1, &e), ES_ERR_NULL);
  CHECK_ST(es_engine_find(t, NULL, 5, &e), ES_ERR_NULL);
  /* Longer than ES_KEY_MAX: rejected before a byte is read (ASan would see
     a read past kover for the SIZE_MAX case). */
  CHECK_ST(es_engine_add(t, kover, ES_KEY_MAX + 1, 1, &e), ES_ERR_INVALID);
  CHECK_ST(es_engine_add(t, kover, SIZE_MAX, 1, &e), ES_ERR_INVALID);
  CHECK_ST(es_engine_find(t, kover, ES_KEY_MAX + 1, &e), ES_ERR_INVALID);
  CHECK_ST(es_engine_find(t, kover, SIZE_MAX, &e), ES_ERR_INVALID);
  CHECK(e == SENTINEL);

  /* ES_KEY_MAX bytes is the longest key. */
  CHECK_OK(es_engine_add(t, kmax, ES_KEY_MAX, 1, &emax));
  CHECK_OK(es_engine_find(t, kmax, ES_KEY_MAX, &e));
  CHECK(e == emax);
  s = stats_of(t, emax);
  CHECK(s.key_len == ES_KEY_MAX && memcmp(s.key, kmax, ES_KEY_MAX) == 0);
  /* A one-byte-shorter prefix is another key. */
  CHECK_ST(es_engine_find(t, kmax, ES_KEY_MAX - 1, &e), ES_ERR_NOT_FOUND);

  /* Keys are bytes, NUL included. */
  CHECK_OK(es_engine_add(t, nul_a, 3, 0, &ea));
  CHECK_OK(es_engine_add(t, nul_b, 3, 0, &eb));
  CHECK_OK(es_engine_add(t, nul_only, 1, 0, &e0));
  CHECK(ea != eb && ea != e0 && eb != e0);
  CHECK_OK(es_engine_find(t, nul_a, 3, &e));
  CHECK(e == ea);
  CHECK_OK(es_engine_find(t, nul_b, 3, &e));
  CHECK(e == eb);
  CHECK_OK(es_engine_find(t, nul_only, 1, &e));
  CHECK(e == e0);
  e = SENTINEL;
  CHECK_ST(es_engine_find(t, (const uint8_t *)"a", 1, &e), ES_ERR_NOT_FOUND);
  CHECK(e == SENTINEL);
  s = stats_of(t, ea);
  CHECK(s.key_len == 3 && memcmp(s.key, nul_a, 3) == 0);
  CHECK(s.key[3] == 0 && s.key[63] == 0);
  CHECK(s.capacity == 3); /* capacity 0: the table's default */

  /* Duplicates, a full table, NULL outputs. */
  CHECK_ST(es_engine_add(t, nul_a, 3, 1, &e), ES_ERR_EXISTS);
  CHECK_ST(es_engine_add(t, (const uint8_t *)"x", 1, 1, &e), ES_ERR_TABLE_FULL);
  CHECK(e == SENTINEL);
  CHECK_ST(es_engine_add(t, (const uint8_t *)"x", 1, 1, NULL), ES_ERR_NULL);
  CHECK_ST(es_engine_find(t, nul_a, 3, NULL), ES_ERR_NULL);
  CHECK_ST(es_engine_add(NULL, nul_a, 3, 1, &e), ES_ERR_NULL);
  CHECK_ST(es_engine_find(NULL, nul_a, 3, &e), ES_ERR_NULL);
  CHECK(e == SENTINEL);

  /* After removal the key is free again, under a new handle. */
  CHECK_OK(es_engine_remove(t, ea));
  CHECK_ST(es_engine_find(t, nul_a, 3, &e), ES_ERR_NOT_FOUND);
  CHECK_OK(es_engine_add(t, nul_a, 3, 1, &e));
  CHECK(e != ea);
  es_table_free(t);
}

static void test_capacity_values(void) {
  es_table *t = new_table(4, 8, 5, 0, 0, ES_POLICY_LEAST_LOADED);
  es_engine e = SENTINEL, big;
  es_engine_stats s;

  CHECK_ST(es_engine_add(t, (const uint8_t *)"a", 1, 2048, &e), ES_ERR_INVALID);
  CHECK_ST(es_engine_add(t, (const uint8_t *)"a", 1, UINT32_MAX, &e), ES_ERR_INVALID);
  CHECK(e == SENTINEL);
  big = add_engine(t, "big", 2047);
  CHECK(stats_of(t, big).capacity == 2047);
  e = add_engine(t, "dflt", 0);
  CHECK(stats_of(t, e).capacity == 5);

  CHECK_ST(es_engine_set_capacity(t, e, 0), ES_ERR_INVALID);
  CHECK_ST(es_engine_set_capacity(t, e, 2048), ES_ERR_INVALID);
  CHECK_ST(es_engine_set_capacity(t, e, UINT32_MAX), ES_ERR_INVALID);
  CHECK(stats_of(t, e).capacity == 5);
  CHECK_OK(es_engine_set_capacity(t, e, 1));
  CHECK_OK(es_engine_set_capacity(t, big, 1000));
  s = stats_of(t, e);
  CHECK(s.capacity == 1);
  CHECK(stats_of(t, big).capacity == 1000);
  /* A bad handle is STALE even with a bad value. */
  CHECK_ST(es_engine_set_capacity(t, 0, 0), ES_ERR_STALE);
  es_table_free(t);
}

/* Calls every function with a NULL table / NULL required pointer. */
static void test_null_pointers(void) {
  es_table *t = new_table(2, 4, 2, 0, 0, ES_POLICY_LEAST_LOADED);
  es_engine e = add_engine(t, "e", 2), eo = SENTINEL;
  es_ticket k = SENTINEL, pending, active;
  es_engine_stats s;
  es_ticket_counts c;
  size_t len = SENTINEL;
  uint32_t n = 7;

  /* The real tickets the NULL-table calls must not touch. */
  CHECK_OK(es_reserve_on(t, e, &pending));
  CHECK_OK(es_reserve_on(t, e, &active));
  CHECK_OK(es_commit(t, active));

  CHECK_ST(es_engine_add(NULL, (const uint8_t *)"k", 1, 1, &eo), ES_ERR_NULL);
  CHECK_ST(es_engine_find(NULL, (const uint8_t *)"e", 1, &eo), ES_ERR_NULL);
  CHECK_ST(es_engine_set_capacity(NULL, e, 3), ES_ERR_NULL);
  CHECK_ST(es_engine_set_healthy(NULL, e, false), ES_ERR_NULL);
  CHECK_ST(es_engine_set_priority(NULL, e, 9), ES_ERR_NULL);
  CHECK_ST(es_engine_set_external(NULL, e, 1), ES_ERR_NULL);
  CHECK_ST(es_engine_drain(NULL, e), ES_ERR_NULL);
  CHECK_ST(es_engine_undrain(NULL, e), ES_ERR_NULL);
  CHECK_ST(es_engine_remove(NULL, e), ES_ERR_NULL);
  CHECK_ST(es_reserve(NULL, &k, &eo), ES_ERR_NULL);
  CHECK_ST(es_reserve_on(NULL, e, &k), ES_ERR_NULL);
  CHECK_ST(es_commit(NULL, pending), ES_ERR_NULL);
  CHECK_ST(es_cancel(NULL, pending), ES_ERR_NULL);
  CHECK_ST(es_release(NULL, active), ES_ERR_NULL);
  CHECK_ST(es_touch(NULL, active), ES_ERR_NULL);
  CHECK_ST(es_reclaim_expired(NULL, &n), ES_ERR_NULL);
  CHECK_ST(es_reclaim_expired(NULL, NULL), ES_ERR_NULL);
  CHECK_ST(es_engine_stats_get(NULL, e, &s), ES_ERR_NULL);
  CHECK_ST(es_table_snapshot(NULL, &s, 1, &len), ES_ERR_NULL);
  CHECK_ST(es_table_snapshot(NULL, NULL, 0, &len), ES_ERR_NULL);
  CHECK_ST(es_table_ticket_counts(NULL, &c), ES_ERR_NULL);
  CHECK(k == SENTINEL && eo == SENTINEL && n == 7 && len == SENTINEL);

  /* NULL out-parameters: an error, and nothing is reserved or leaked. */
  CHECK_ST(es_reserve(t, NULL, &eo), ES_ERR_NULL);
  CHECK_ST(es_reserve(t, &k, NULL), ES_ERR_NULL);
  CHECK_ST(es_reserve(t, NULL, NULL), ES_ERR_NULL);
  CHECK_ST(es_reserve_on(t, e, NULL), ES_ERR_NULL);
  CHECK_ST(es_engine_stats_get(t, e, NULL), ES_ERR_NULL);
  CHECK_ST(es_table_snapshot(t, NULL, 0, NULL), ES_ERR_NULL);
  CHECK_ST(es_table_snapshot(t, &s, 1, NULL), ES_ERR_NULL);
  CHECK_ST(es_table_snapshot(t, NULL, 1, &len), ES_ERR_NULL);
  CHECK_ST(es_table_ticket_counts(t, NULL), ES_ERR_NULL);
  CHECK(k == SENTINEL && eo == SENTINEL && len == SENTINEL);

  s = stats_of(t, e);
  CHECK(s.capacity == 2 && s.active == 1 && s.pending == 1 && s.healthy && !s.draining);
  CHECK(s.priority == 0 && s.external == 0 && s.reserved_total == 2);
  c = tickets_of(t);
  CHECK(c.free == 2 && c.pending == 1 && c.active == 1 && c.in_flight == 0);
  /* reclaimed may be NULL. */
  CHECK_OK(es_reclaim_expired(t, NULL));
  CHECK_OK(es_cancel(t, pending));
  CHECK_OK(es_release(t, active));
  es_table_free(t);
}

/* Every handle-taking function with `e`/`k` must answer STALE and change
   nothing. */
static void expect_stale_everywhere(es_table *t, es_engine e, es_ticket k) {
  es_ticket out_k = SENTINEL;
  es_engine_stats s;
  memset(&s, 0x5A, sizeof s);
  CHECK_ST(es_engine_set_capacity(t, e, 3), ES_ERR_STALE);
  CHECK_ST(es_engine_set_healthy(t, e, false), ES_ERR_STALE);
  CHECK_ST(es_engine_set_priority(t, e, 5), ES_ERR_STALE);
  CHECK_ST(es_engine_set_external(t, e, 1), ES_ERR_STALE);
  CHECK_ST(es_engine_drain(t, e), ES_ERR_STALE);
  CHECK_ST(es_engine_undrain(t, e), ES_ERR_STALE);
  CHECK_ST(es_engine_remove(t, e), ES_ERR_STALE);
  CHECK_ST(es_engine_stats_get(t, e, &s), ES_ERR_STALE);
  CHECK(s.engine == 0x5A5A5A5A5A5A5A5AULL && s.capacity == 0x5A5A5A5Au);
  CHECK_ST(es_reserve_on(t, e, &out_k), ES_ERR_STALE);
  CHECK(out_k == SENTINEL);
  CHECK_ST(es_commit(t, k), ES_ERR_STALE);
  CHECK_ST(es_cancel(t, k), ES_ERR_STALE);
  CHECK_ST(es_release(t, k), ES_ERR_STALE);
  CHECK_ST(es_touch(t, k), ES_ERR_STALE);
}

static void test_garbage_and_foreign_handles(void) {
  es_table *t = new_table(4, 8, 2, 0, 0, ES_POLICY_LEAST_LOADED), *other = NULL;
  es_engine e = add_engine(t, "e", 2), oe = 0, oe2;
  es_ticket pending, active, ok = 0, ok2;
  es_engine_stats before, after;
  es_ticket_counts c;
  uint64_t rng = 0x9E3779B97F4A7C15ULL;
  int i, tries;

  CHECK_OK(es_reserve_on(t, e, &pending));
  CHECK_OK(es_reserve_on(t, e, &active));
  CHECK_OK(es_commit(t, active));
  before = stats_of(t, e);

  /* 0 is never valid. */
  expect_stale_everywhere(t, 0, 0);
  /* Random 64-bit values (deterministic seed). */
  for (i = 0; i < 2000; i++) {
    uint64_t g = next_rand(&rng);
    if (g == e || g == pending || g == active) continue;
    expect_stale_everywhere(t, g, g);
  }
  /* Values next to the real ones: other slots, generations, tags. */
  for (i = 0; i < 64; i++) {
    uint64_t bit = 1ULL << i;
    expect_stale_everywhere(t, e ^ bit, (pending ^ bit) == active ? 0 : pending ^ bit);
    if ((active ^ bit) != pending) expect_stale_everywhere(t, e ^ bit, active ^ bit);
  }
  expect_stale_everywhere(t, UINT64_MAX, UINT64_MAX);

  /* Handles of another table with the same shape (same slot, generation):
     tables carry a random tag; retry in the 2^-15 case that two tags
     collide so that the check below is deterministic. */
  for (tries = 0; tries < 50; tries++) {
    other = new_table(4, 8, 2, 0, 0, ES_POLICY_LEAST_LOADED);
    oe = add_engine(other, "e", 2);
    CHECK_OK(es_reserve_on(other, oe, &ok));
    CHECK_OK(es_reserve_on(other, oe, &ok2));
    CHECK_OK(es_commit(other, ok2));
    if (oe != e && ok != pending && ok2 != active && ok != active && ok2 != pending) break;
    es_table_free(other);
    other = NULL;
  }
  CHECK(other != NULL);
  expect_stale_everywhere(t, oe, ok);
  expect_stale_everywhere(t, oe, ok2);
  expect_stale_everywhere(other, e, pending);
  expect_stale_everywhere(other, e, active);
  /* And nothing changed on either side. */
  after = stats_of(t, e);
  CHECK(memcmp(&before, &after, sizeof before) == 0);
  CHECK(stats_of(other, oe).active == 1 && stats_of(other, oe).pending == 1);
  CHECK_OK(es_engine_find(other, (const uint8_t *)"e", 1, &oe2));
  CHECK(oe2 == oe);
  c = tickets_of(t);
  CHECK(c.pending == 1 && c.active == 1 && c.free == 6);

  CHECK_OK(es_cancel(t, pending));
  CHECK_OK(es_release(t, active));
  CHECK_OK(es_cancel(other, ok));
  CHECK_OK(es_release(other, ok2));
  es_table_free(other);
  es_table_free(t);
}

static void test_ticket_life_cycle(void) {
  es_table *t = new_table(2, 8, 4, 0, 0, ES_POLICY_LEAST_LOADED);
  es_engine e = add_engine(t, "e", 4), got = SENTINEL;
  es_ticket a, b, c;
  es_engine_stats s;

  CHECK_OK(es_reserve(t, &a, &got));
  CHECK(a != 0 && got == e);
  s = stats_of(t, e);
  CHECK(s.pending == 1 && s.active == 0 && s.reserved_total == 1);

  /* Pending: touch and release are for active tickets. */
  CHECK_ST(es_touch(t, a), ES_ERR_STALE);
  CHECK_ST(es_release(t, a), ES_ERR_STALE);
  CHECK(stats_of(t, e).pending == 1);

  CHECK_OK(es_commit(t, a));
  s = stats_of(t, e);
  CHECK(s.pending == 0 && s.active == 1);
  CHECK_ST(es_commit(t, a), ES_ERR_STALE); /* double commit */
  CHECK_ST(es_cancel(t, a), ES_ERR_STALE); /* cancel after commit */
  CHECK_OK(es_touch(t, a));
  CHECK_OK(es_touch(t, a));
  s = stats_of(t, e);
  CHECK(s.pending == 0 && s.active == 1);
  CHECK_OK(es_release(t, a));
  CHECK_ST(es_release(t, a), ES_ERR_STALE); /* double release */
  CHECK_ST(es_touch(t, a), ES_ERR_STALE);
  CHECK_ST(es_commit(t, a), ES_ERR_STALE);
  CHECK_ST(es_cancel(t, a), ES_ERR_STALE);
  s = stats_of(t, e);
  CHECK(s.pending == 0 && s.active == 0);

  CHECK_OK(es_reserve_on(t, e, &b));
  CHECK(b != a);
  CHECK_OK(es_cancel(t, b));
  CHECK_ST(es_cancel(t, b), ES_ERR_STALE); /* double cancel */
  CHECK_ST(es_commit(t, b), ES_ERR_STALE); /* commit after cancel */
  CHECK_ST(es_release(t, b), ES_ERR_STALE);
  s = stats_of(t, e);
  CHECK(s.pending == 0 && s.active == 0 && s.reserved_total == 2 && s.expired_total == 0);

  /* Ticket slot reuse: the old handle stays stale and never touches the
     new ticket in the same slot. */
  {
    es_table *one = new_table(1, 1, 1, 0, 0, ES_POLICY_LEAST_LOADED);
    es_engine oe = add_engine(one, "o", 1);
    es_ticket old, fresh;
    CHECK_OK(es_reserve_on(one, oe, &old));
    CHECK_OK(es_cancel(one, old));
    CHECK_OK(es_reserve_on(one, oe, &fresh));
    CHECK(fresh != old);
    CHECK_ST(es_commit(one, old), ES_ERR_STALE);
    CHECK_ST(es_cancel(one, old), ES_ERR_STALE);
    CHECK(stats_of(one, oe).pending == 1);
    CHECK_OK(es_commit(one, fresh));
    CHECK_ST(es_release(one, old), ES_ERR_STALE);
    CHECK_ST(es_touch(one, old), ES_ERR_STALE);
    CHECK(stats_of(one, oe).active == 1);
    CHECK_OK(es_release(one, fresh));
    es_table_free(one);
  }

  CHECK_OK(es_reserve(t, &c, &got));
  CHECK_OK(es_commit(t, c));
  CHECK_OK(es_release(t, c));
  es_table_free(t);
}

static void test_exact_admission(void) {
  es_table *t = new_table(2, 16, 2, 0, 0, ES_POLICY_LEAST_LOADED);
  es_engine e = add_engine(t, "e", 2), got = SENTINEL;
  es_ticket a, b, c = SENTINEL;
  es_engine_stats s;

  CHECK_OK(es_reserve(t, &a, &got));
  CHECK_OK(es_reserve_on(t, e, &b));
  /* Full: no third stream, whichever way it is asked. */
  CHECK_ST(es_reserve(t, &c, &got), ES_NO_CAPACITY);
  CHECK_ST(es_reserve_on(t, e, &c), ES_NO_CAPACITY);
  CHECK(c == SENTINEL && got == e);
  CHECK_OK(es_commit(t, a));
  CHECK_ST(es_reserve_on(t, e, &c), ES_NO_CAPACITY);

  /* Lowering the capacity below the load revokes nothing. */
  CHECK_OK(es_engine_set_capacity(t, e, 1));
  s = stats_of(t, e);
  CHECK(s.capacity == 1 && s.active == 1 && s.pending == 1);
  CHECK_OK(es_cancel(t, b));
  CHECK_ST(es_reserve_on(t, e, &c), ES_NO_CAPACITY); /* load 1 == capacity 1 */
  CHECK_OK(es_engine_set_capacity(t, e, 3));
  CHECK_OK(es_reserve_on(t, e, &b));
  CHECK_OK(es_reserve_on(t, e, &c));
  CHECK_ST(es_reserve(t, &c, &got), ES_NO_CAPACITY);
  CHECK_OK(es_release(t, a));
  CHECK_OK(es_cancel(t, b));
  CHECK_OK(es_cancel(t, c));

  /* A table without engines has no capacity. */
  CHECK_OK(es_engine_remove(t, e));
  c = SENTINEL;
  CHECK_ST(es_reserve(t, &c, &got), ES_NO_CAPACITY);
  CHECK(c == SENTINEL);
  es_table_free(t);
}

static void test_external_load(void) {
  es_table *t = new_table(2, 16, 3, 0, 0, ES_POLICY_LEAST_LOADED);
  es_engine e = add_engine(t, "e", 3), got;
  es_ticket a, b;
  es_engine_stats s;

  CHECK_OK(es_engine_set_external(t, e, 2));
  CHECK(stats_of(t, e).external == 2);
  CHECK_OK(es_reserve(t, &a, &got));
  CHECK_ST(es_reserve(t, &b, &got), ES_NO_CAPACITY);
  CHECK_ST(es_reserve_on(t, e, &b), ES_NO_CAPACITY);
  /* Any value is accepted and reported exactly; it blocks everything. */
  CHECK_OK(es_engine_set_external(t, e, 100000));
  s = stats_of(t, e);
  CHECK(s.external == 100000 && s.pending == 1);
  CHECK_OK(es_engine_set_external(t, e, UINT32_MAX));
  CHECK(stats_of(t, e).external == UINT32_MAX);
  CHECK_ST(es_reserve_on(t, e, &b), ES_NO_CAPACITY);
  /* Back to 0: room for the other two. */
  CHECK_OK(es_engine_set_external(t, e, 0));
  CHECK_OK(es_reserve_on(t, e, &b));
  CHECK_OK(es_commit(t, b));
  CHECK_OK(es_reserve(t, &b, &got));
  CHECK_ST(es_reserve(t, &b, &got), ES_NO_CAPACITY);
  s = stats_of(t, e);
  CHECK(s.active == 1 && s.pending == 2 && s.external == 0);
  es_table_free(t);
}

static void test_drain(void) {
  es_table *t = new_table(2, 16, 2, 0, 0, ES_POLICY_LEAST_LOADED);
  es_engine a = add_engine(t, "a", 2), b = add_engine(t, "b", 2), got;
  es_ticket k1, k2, k3 = SENTINEL;
  es_engine_stats s;

  CHECK_OK(es_reserve_on(t, a, &k1));
  CHECK_OK(es_commit(t, k1));
  CHECK_OK(es_reserve_on(t, a, &k2));
  CHECK_OK(es_engine_drain(t, a));
  CHECK_OK(es_engine_drain(t, a)); /* twice is fine */
  s = stats_of(t, a);
  CHECK(s.draining && s.active == 1 && s.pending == 1);
  CHECK_OK(es_cancel(t, k2)); /* tickets finish normally */
  CHECK_ST(es_reserve_on(t, a, &k3), ES_NO_CAPACITY);
  CHECK(k3 == SENTINEL);
  /* es_reserve never picks a draining engine, even the emptier one. */
  CHECK_OK(es_reserve(t, &k2, &got));
  CHECK(got == b);
  CHECK_OK(es_reserve(t, &k3, &got));
  CHECK(got == b);
  CHECK_ST(es_reserve(t, &k3, &got), ES_NO_CAPACITY);
  CHECK_OK(es_release(t, k1));
  s = stats_of(t, a);
  CHECK(s.draining && s.active == 0 && s.pending == 0);
  /* Extension: undrain admits again. */
  CHECK_OK(es_engine_undrain(t, a));
  CHECK(!stats_of(t, a).draining);
  CHECK_OK(es_reserve(t, &k1, &got));
  CHECK(got == a);
  CHECK_OK(es_engine_undrain(t, a)); /* not draining: still OK */
  es_table_free(t);
}

static void test_health_and_priority(void) {
  es_table *t = new_table(4, 16, 2, 0, 0, ES_POLICY_LEAST_LOADED);
  es_engine a = add_engine(t, "a", 2), b = add_engine(t, "b", 2), got;
  es_ticket k[4];
  int i;

  /* Health wins over load: b is healthy and fuller, still chosen. */
  CHECK_OK(es_engine_set_healthy(t, a, false));
  CHECK(!stats_of(t, a).healthy && stats_of(t, b).healthy);
  CHECK_OK(es_reserve(t, &k[0], &got));
  CHECK(got == b);
  CHECK_OK(es_reserve(t, &k[1], &got));
  CHECK(got == b);
  /* An unhealthy engine is still admissible. */
  CHECK_OK(es_reserve(t, &k[2], &got));
  CHECK(got == a);
  CHECK_OK(es_engine_set_healthy(t, a, true));
  for (i = 0; i < 3; i++) CHECK_OK(es_cancel(t, k[i]));

  /* Equal load: the higher priority wins. */
  CHECK_OK(es_engine_set_priority(t, a, -5));
  CHECK_OK(es_engine_set_priority(t, b, INT32_MAX));
  CHECK(stats_of(t, a).priority == -5 && stats_of(t, b).priority == INT32_MAX);
  CHECK_OK(es_reserve(t, &k[0], &got));
  CHECK(got == b);
  /* Then lower relative load wins over priority. */
  CHECK_OK(es_reserve(t, &k[1], &got));
  CHECK(got == a);
  CHECK_OK(es_cancel(t, k[0]));
  CHECK_OK(es_cancel(t, k[1]));
  CHECK_OK(es_engine_set_priority(t, a, INT32_MIN));
  CHECK(stats_of(t, a).priority == INT32_MIN);
  es_table_free(t);
}

static void test_policies(void) {
  es_table *t = new_table(4, 32, 3, 0, 0, ES_POLICY_FILL_FIRST);
  es_engine a = add_engine(t, "a", 3), b = add_engine(t, "b", 3), got;
  es_ticket k[8];
  uint32_t p;
  int i;

  /* Fill first: the fullest engine with room. */
  CHECK_OK(es_reserve_on(t, b, &k[0]));
  CHECK_OK(es_reserve(t, &k[1], &got));
  CHECK(got == b);
  CHECK_OK(es_reserve(t, &k[2], &got));
  CHECK(got == b);
  CHECK_OK(es_reserve(t, &k[3], &got));
  CHECK(got == a);
  for (i = 0; i < 4; i++) CHECK_OK(es_cancel(t, k[i]));
  es_table_free(t);

  /* Every policy admits exactly the total capacity, never more. */
  for (p = ES_POLICY_LEAST_LOADED; p <= ES_POLICY_TWO_CHOICES; p++) {
    es_engine e[3];
    uint32_t per[3] = {0, 0, 0};
    es_ticket ks[7];
    t = new_table(8, 32, 1, 0, 0, p);
    e[0] = add_engine(t, "x", 1);
    e[1] = add_engine(t, "y", 2);
    e[2] = add_engine(t, "z", 4);
    for (i = 0; i < 7; i++) {
      int j;
      CHECK_OK(es_reserve(t, &ks[i], &got));
      for (j = 0; j < 3; j++)
        if (got == e[j]) per[j]++;
    }
    CHECK(per[0] == 1 && per[1] == 2 && per[2] == 4);
    CHECK_ST(es_reserve(t, &ks[0], &got), ES_NO_CAPACITY);
    for (i = 0; i < 3; i++) {
      es_engine_stats s = stats_of(t, e[i]);
      CHECK(s.pending == s.capacity);
    }
    es_table_free(t);
  }
}

static void test_removed_engine(void) {
  es_table *t = new_table(2, 16, 4, 0, 0, ES_POLICY_LEAST_LOADED);
  es_engine e = add_engine(t, "gone", 4), found = SENTINEL;
  es_ticket p1, p2, act, act2;
  es_ticket_counts c;

  CHECK_OK(es_reserve_on(t, e, &p1));
  CHECK_OK(es_reserve_on(t, e, &p2));
  CHECK_OK(es_reserve_on(t, e, &act));
  CHECK_OK(es_commit(t, act));
  CHECK_OK(es_reserve_on(t, e, &act2));
  CHECK_OK(es_commit(t, act2));

  CHECK_OK(es_engine_remove(t, e));
  CHECK_ST(es_engine_remove(t, e), ES_ERR_STALE);
  CHECK_ST(es_engine_find(t, (const uint8_t *)"gone", 4, &found), ES_ERR_NOT_FOUND);
  CHECK(found == SENTINEL);
  {
    size_t n = 99;
    CHECK_OK(es_table_snapshot(t, NULL, 0, &n));
    CHECK(n == 0);
  }
  /* The engine handle is stale for everything. */
  {
    es_ticket k = SENTINEL;
    es_engine_stats s;
    CHECK_ST(es_engine_stats_get(t, e, &s), ES_ERR_STALE);
    CHECK_ST(es_reserve_on(t, e, &k), ES_ERR_STALE);
    CHECK(k == SENTINEL);
    CHECK_ST(es_engine_set_capacity(t, e, 2), ES_ERR_STALE);
    CHECK_ST(es_engine_drain(t, e), ES_ERR_STALE);
  }
  /* Its tickets can only be finished. */
  CHECK_ST(es_commit(t, p1), ES_ERR_STALE); /* and p1 is finished by it */
  CHECK_ST(es_cancel(t, p1), ES_ERR_STALE);
  CHECK_ST(es_commit(t, p1), ES_ERR_STALE);
  CHECK_OK(es_cancel(t, p2));
  CHECK_ST(es_cancel(t, p2), ES_ERR_STALE);
  CHECK_OK(es_release(t, act));
  CHECK_ST(es_release(t, act), ES_ERR_STALE);
  CHECK_ST(es_touch(t, act), ES_ERR_STALE);
  c = tickets_of(t);
  CHECK(c.active == 1 && c.pending == 0 && c.free == 15);
  CHECK_OK(es_release(t, act2));
  c = tickets_of(t);
  CHECK(c.free == 16);
  es_table_free(t);
}

/* A stale ticket of a removed engine must never change the counts of the
   engine that takes its slot next. */
static void test_stale_after_slot_reuse(void) {
  es_table *t = new_table(1, 16, 2, 0, 0, ES_POLICY_LEAST_LOADED);
  es_engine a = add_engine(t, "a", 2), b, got;
  es_ticket pa, aa, pb1, pb2, x = SENTINEL;
  es_engine_stats s;

  CHECK_OK(es_reserve_on(t, a, &pa));
  CHECK_OK(es_reserve_on(t, a, &aa));
  CHECK_OK(es_commit(t, aa));
  CHECK_OK(es_engine_remove(t, a));

  b = add_engine(t, "b", 2); /* the only slot: a's */
  CHECK(b != a);
  CHECK_OK(es_reserve(t, &pb1, &got));
  CHECK(got == b);
  CHECK_OK(es_reserve_on(t, b, &pb2));
  CHECK_ST(es_reserve(t, &x, &got), ES_NO_CAPACITY);

  /* a's tickets finish without touching b. */
  CHECK_OK(es_release(t, aa));
  CHECK_OK(es_cancel(t, pa));
  s = stats_of(t, b);
  CHECK(s.pending == 2 && s.active == 0);
  CHECK_ST(es_reserve(t, &x, &got), ES_NO_CAPACITY);
  CHECK(x == SENTINEL);
  CHECK_ST(es_release(t, aa), ES_ERR_STALE);
  CHECK_ST(es_cancel(t, pa), ES_ERR_STALE);
  /* a's engine handle does not reach b either. */
  expect_stale_everywhere(t, a, pa);
  s = stats_of(t, b);
  CHECK(s.pending == 2 && s.active == 0 && s.capacity == 2 && s.priority == 0);
  CHECK(s.healthy && !s.draining && s.external == 0 && s.reserved_total == 2);

  /* The same with a pending ticket committed after reuse. */
  CHECK_OK(es_cancel(t, pb1));
  CHECK_OK(es_cancel(t, pb2));
  CHECK_OK(es_reserve_on(t, b, &pb1));
  CHECK_OK(es_engine_remove(t, b));
  a = add_engine(t, "a2", 1);
  CHECK_ST(es_commit(t, pb1), ES_ERR_STALE);
  s = stats_of(t, a);
  CHECK(s.pending == 0 && s.active == 0);
  CHECK(tickets_of(t).free == 16);
  es_table_free(t);
}

static void test_ticket_exhaustion(void) {
  es_table *t = new_table(2, 3, 10, 0, 0, ES_POLICY_LEAST_LOADED);
  es_engine e = add_engine(t, "e", 10), got = SENTINEL;
  es_ticket k[3], x = SENTINEL;
  es_ticket_counts c;

  CHECK_OK(es_reserve(t, &k[0], &got));
  CHECK_OK(es_reserve_on(t, e, &k[1]));
  CHECK_OK(es_reserve(t, &k[2], &got));
  CHECK_OK(es_commit(t, k[2]));
  got = SENTINEL;
  CHECK_ST(es_reserve(t, &x, &got), ES_ERR_TABLE_FULL);
  CHECK_ST(es_reserve_on(t, e, &x), ES_ERR_TABLE_FULL);
  CHECK(x == SENTINEL && got == SENTINEL);
  c = tickets_of(t);
  CHECK(c.free == 0 && c.pending == 2 && c.active == 1);
  CHECK(stats_of(t, e).pending == 2); /* the failures counted nothing */
  CHECK_OK(es_cancel(t, k[0]));
  CHECK_OK(es_reserve(t, &x, &got));
  CHECK(got == e);
  CHECK_ST(es_reserve(t, &x, &got), ES_ERR_TABLE_FULL);
  es_table_free(t);
}

static void test_snapshot(void) {
  es_table *t = new_table(8, 16, 2, 0, 0, ES_POLICY_LEAST_LOADED);
  es_engine_stats buf[6], one;
  es_engine e[3];
  es_ticket k;
  size_t len = SENTINEL, i;
  unsigned char pattern[sizeof buf];

  CHECK_OK(es_table_snapshot(t, NULL, 0, &len));
  CHECK(len == 0);
  CHECK_OK(es_table_snapshot(t, buf, 6, &len));
  CHECK(len == 0);

  e[0] = add_engine(t, "zero", 1);
  e[1] = add_engine(t, "one", 2);
  e[2] = add_engine(t, "two", 3);
  CHECK_OK(es_reserve_on(t, e[1], &k));
  CHECK_OK(es_engine_set_priority(t, e[2], 7));

  /* Size query. */
  len = SENTINEL;
  CHECK_OK(es_table_snapshot(t, NULL, 0, &len));
  CHECK(len == 3);
  CHECK_OK(es_table_snapshot(t, buf, 0, &len)); /* cap 0 writes nothing */
  CHECK(len == 3);
  /* NULL buffer with a capacity. */
  len = SENTINEL;
  CHECK_ST(es_table_snapshot(t, NULL, 2, &len), ES_ERR_NULL);
  CHECK(len == SENTINEL);

  /* A short buffer: the first cap entries, nothing past them. */
  memset(buf, 0xAB, sizeof buf);
  memcpy(pattern, buf, sizeof buf);
  CHECK_OK(es_table_snapshot(t, buf, 2, &len));
  CHECK(len == 3);
  CHECK(buf[0].engine == e[0] && buf[1].engine == e[1]);
  CHECK(memcmp(&buf[2], pattern, sizeof buf - 2 * sizeof buf[0]) == 0);

  /* A long buffer: every engine, in slot order, nothing past them. */
  memset(buf, 0xAB, sizeof buf);
  CHECK_OK(es_table_snapshot(t, buf, 6, &len));
  CHECK(len == 3);
  for (i = 0; i < 3; i++) {
    one = stats_of(t, e[i]);
    CHECK(memcmp(&one, &buf[i], offsetof(es_engine_stats, healthy)) == 0);
    CHECK(one.healthy == buf[i].healthy && one.draining == buf[i].draining);
    CHECK(one.reserved_total == buf[i].reserved_total);
    CHECK(one.expired_total == buf[i].expired_total);
  }
  CHECK(buf[1].pending == 1 && buf[1].capacity == 2 && buf[2].priority == 7);
  CHECK(buf[0].key_len == 4 && memcmp(buf[0].key, "zero", 4) == 0);
  CHECK(memcmp(&buf[3], pattern, 3 * sizeof buf[0]) == 0);

  /* Removal shrinks it. */
  CHECK_OK(es_engine_remove(t, e[0]));
  CHECK_OK(es_table_snapshot(t, buf, 6, &len));
  CHECK(len == 2 && buf[0].engine == e[1] && buf[1].engine == e[2]);
  CHECK_OK(es_cancel(t, k));
  es_table_free(t);
}

static void test_stats_fields(void) {
  es_table *t = new_table(2, 8, 2, 0, 0, ES_POLICY_LEAST_LOADED);
  es_engine e = add_engine(t, "stats", 5);
  es_ticket a, b;
  es_engine_stats s;

  CHECK_OK(es_engine_set_priority(t, e, -3));
  CHECK_OK(es_engine_set_healthy(t, e, false));
  CHECK_OK(es_engine_set_external(t, e, 1));
  CHECK_OK(es_reserve_on(t, e, &a));
  CHECK_OK(es_reserve_on(t, e, &b));
  CHECK_OK(es_commit(t, b));
  CHECK_OK(es_engine_drain(t, e));
  s = stats_of(t, e);
  CHECK(s.key_len == 5 && memcmp(s.key, "stats", 5) == 0 && s.key[5] == 0);
  CHECK(s.capacity == 5 && s.active == 1 && s.pending == 1 && s.external == 1);
  CHECK(s.priority == -3 && !s.healthy && s.draining);
  CHECK(s.reserved_total == 2 && s.expired_total == 0);
  CHECK_OK(es_cancel(t, a));
  CHECK_OK(es_release(t, b));
  es_table_free(t);
}

/* es_engine_add_ex: every setting in place from the first instant. */
static void test_add_ex(void) {
  es_table *t = new_table(4, 8, 2, 0, 0, ES_POLICY_LEAST_LOADED);
  es_engine_spec spec;
  es_engine e = 0, d = 0, got = 0;
  es_ticket k = 0;
  es_engine_stats s;
  memset(&spec, 0, sizeof spec);
  spec.capacity = 3;
  spec.priority = -4;
  spec.external = 2;
  spec.healthy = 0;
  CHECK_ST(es_engine_add_ex(NULL, (const uint8_t *)"e", 1, &spec, &e), ES_ERR_NULL);
  CHECK_ST(es_engine_add_ex(t, (const uint8_t *)"e", 1, NULL, &e), ES_ERR_NULL);
  CHECK_ST(es_engine_add_ex(t, (const uint8_t *)"e", 1, &spec, NULL), ES_ERR_NULL);
  CHECK_ST(es_engine_add_ex(t, (const uint8_t *)"e", 0, &spec, &e), ES_ERR_INVALID);
  CHECK(e == 0);
  CHECK_OK(es_engine_add_ex(t, (const uint8_t *)"e", 1, &spec, &e));
  s = stats_of(t, e);
  CHECK(s.capacity == 3 && s.priority == -4 && s.external == 2 && !s.healthy && !s.draining);
  CHECK_OK(es_reserve(t, &k, &got)); /* external 2 of 3: one slot */
  CHECK(got == e);
  CHECK_ST(es_reserve(t, &k, &got), ES_NO_CAPACITY);
  CHECK_ST(es_engine_add_ex(t, (const uint8_t *)"e", 1, &spec, &d), ES_ERR_EXISTS);
  memset(&spec, 0, sizeof spec);
  spec.healthy = 7; /* any nonzero byte is true */
  spec.draining = 255;
  CHECK_OK(es_engine_add_ex(t, (const uint8_t *)"d", 1, &spec, &d));
  s = stats_of(t, d);
  CHECK(s.capacity == 2 && s.healthy && s.draining);
  CHECK_ST(es_reserve_on(t, d, &k), ES_NO_CAPACITY);
  CHECK_OK(es_engine_undrain(t, d));
  CHECK_OK(es_reserve_on(t, d, &k));
  spec.capacity = 2048;
  CHECK_ST(es_engine_add_ex(t, (const uint8_t *)"x", 1, &spec, &d), ES_ERR_INVALID);
  es_table_free(t);
}

/* The 0.2 extensions: add-or-find, the user word, reserve by key, finish,
   and the defaults read from the core. */
static void test_add_or_find_and_user_word(void) {
  es_table *t = new_table(2, 8, 2, 0, 0, ES_POLICY_LEAST_LOADED);
  es_engine_spec spec;
  es_engine a = 0, b = 0, c = SENTINEL;
  bool created = false;
  uint8_t key[ES_KEY_MAX];
  es_engine_stats s;
  memset(&spec, 0, sizeof spec);
  memset(key, 'p', sizeof key);
  spec.healthy = 1;
  spec.user = UINT64_C(0xdeadbeefcafe);
  CHECK_ST(es_engine_add_or_find(NULL, key, 1, &spec, &a, &created), ES_ERR_NULL);
  CHECK_ST(es_engine_add_or_find(t, key, 1, &spec, NULL, &created), ES_ERR_NULL);
  CHECK_ST(es_engine_add_or_find(t, NULL, 3, &spec, &a, &created), ES_ERR_NULL);
  CHECK_ST(es_engine_add_or_find(t, key, 0, &spec, &a, &created), ES_ERR_INVALID);
  CHECK_ST(es_engine_add_or_find(t, key, ES_KEY_MAX + 1, &spec, &a, &created), ES_ERR_INVALID);
  CHECK(a == 0 && !created);
  CHECK_OK(es_engine_add_or_find(t, key, ES_KEY_MAX, &spec, &a, &created));
  CHECK(a != 0 && created);
  CHECK_OK(es_engine_add_or_find(t, key, ES_KEY_MAX, NULL, &b, &created));
  CHECK(b == a && !created);
  CHECK_OK(es_engine_add_or_find(t, key, ES_KEY_MAX, NULL, &b, NULL)); /* created may be NULL */
  s = stats_of(t, a);
  CHECK(s.user == UINT64_C(0xdeadbeefcafe) && s.key_len == ES_KEY_MAX && s.capacity == 2);
  CHECK_OK(es_engine_set_user(t, a, 7));
  CHECK(stats_of(t, a).user == 7);
  CHECK_ST(es_engine_set_user(NULL, a, 7), ES_ERR_NULL);
  CHECK_ST(es_engine_set_user(t, 0, 7), ES_ERR_STALE);
  CHECK_ST(es_engine_set_user(t, ~(es_engine)0, 7), ES_ERR_STALE);
  /* NULL spec: the defaults (capacity 0 = the table's default). */
  CHECK_OK(es_engine_add_or_find(t, (const uint8_t *)"n", 1, NULL, &b, &created));
  CHECK(created && stats_of(t, b).user == 0 && stats_of(t, b).healthy);
  CHECK_ST(es_engine_add_or_find(t, (const uint8_t *)"z", 1, NULL, &c, &created),
           ES_ERR_TABLE_FULL);
  CHECK(c == SENTINEL);
  CHECK_OK(es_engine_remove(t, a));
  CHECK_ST(es_engine_set_user(t, a, 1), ES_ERR_STALE);
  es_table_free(t);
}

static void test_reserve_on_key_and_finish(void) {
  es_table *t = new_table(2, 4, 2, 0, 0, ES_POLICY_LEAST_LOADED);
  es_engine e = add_engine(t, "host:8080", 2), got = SENTINEL;
  es_ticket p = SENTINEL, q = SENTINEL;
  const uint8_t *key = (const uint8_t *)"host:8080";
  CHECK_ST(es_reserve_on_key(NULL, key, 9, &p, &got), ES_ERR_NULL);
  CHECK_ST(es_reserve_on_key(t, key, 9, NULL, &got), ES_ERR_NULL);
  CHECK_ST(es_reserve_on_key(t, key, 9, &p, NULL), ES_ERR_NULL);
  CHECK_ST(es_reserve_on_key(t, NULL, 9, &p, &got), ES_ERR_NULL);
  CHECK_ST(es_reserve_on_key(t, key, 0, &p, &got), ES_ERR_INVALID);
  CHECK_ST(es_reserve_on_key(t, key, ES_KEY_MAX + 1, &p, &got), ES_ERR_INVALID);
  CHECK_ST(es_reserve_on_key(t, (const uint8_t *)"other", 5, &p, &got), ES_ERR_NOT_FOUND);
  CHECK(p == SENTINEL && got == SENTINEL);
  CHECK_OK(es_reserve_on_key(t, key, 9, &p, &got));
  CHECK(got == e);
  CHECK_OK(es_reserve_on_key(t, key, 9, &q, &got));
  CHECK_ST(es_reserve_on_key(t, key, 9, &q, &got), ES_NO_CAPACITY);
  CHECK_OK(es_commit(t, q));
  /* finish: cancels the pending one, releases the active one, once each. */
  CHECK_OK(es_finish(t, p));
  CHECK_OK(es_finish(t, q));
  CHECK(stats_of(t, e).active == 0 && stats_of(t, e).pending == 0);
  CHECK_ST(es_finish(t, p), ES_ERR_STALE);
  CHECK_ST(es_finish(t, q), ES_ERR_STALE);
  CHECK_ST(es_finish(t, 0), ES_ERR_STALE);
  CHECK_ST(es_finish(t, ~(es_ticket)0), ES_ERR_STALE);
  CHECK_ST(es_finish(NULL, p), ES_ERR_NULL);
  CHECK(tickets_of(t).free == 4);
  es_table_free(t);
}

static void test_config_default(void) {
  es_config d, back;
  es_table *t = NULL;
  CHECK_ST(es_config_default(NULL), ES_ERR_NULL);
  CHECK_OK(es_config_default(&d));
  CHECK(d.max_engines >= 256 && d.max_tickets >= 4096 && d.default_capacity >= 1);
  CHECK(d.policy == ES_POLICY_LEAST_LOADED);
  CHECK_OK(es_table_new(&d, &t));
  CHECK_OK(es_table_get_config(t, &back));
  CHECK(memcmp(&d, &back, sizeof d) == 0);
  es_table_free(t);
}

static void test_release_as_external(void) {
  es_table *t = new_table(1, 4, 2, 0, 0, ES_POLICY_LEAST_LOADED);
  es_engine e = add_engine(t, "e", 2), got = 0;
  es_ticket k = 0, p = 0;
  es_engine_stats s;
  CHECK_OK(es_engine_set_external(t, e, 1));
  CHECK_OK(es_reserve(t, &k, &got));
  CHECK_ST(es_release_as_external(t, k), ES_ERR_STALE); /* pending: not released */
  CHECK_OK(es_commit(t, k));
  CHECK_ST(es_release_as_external(NULL, k), ES_ERR_NULL);
  CHECK_OK(es_release_as_external(t, k));
  s = stats_of(t, e);
  CHECK(s.active == 0 && s.pending == 0 && s.external == 2);
  CHECK_ST(es_reserve(t, &p, &got), ES_NO_CAPACITY); /* the unit still counts */
  CHECK_ST(es_release_as_external(t, k), ES_ERR_STALE);
  CHECK_ST(es_release(t, k), ES_ERR_STALE);
  CHECK_OK(es_engine_set_external(t, e, 1)); /* the next report */
  CHECK_OK(es_reserve(t, &p, &got));
  CHECK_OK(es_cancel(t, p));
  es_table_free(t);
}

int main(void) {
  test_status_strings();
  test_version();
  test_table_new_and_config();
  test_keys();
  test_capacity_values();
  test_null_pointers();
  test_garbage_and_foreign_handles();
  test_ticket_life_cycle();
  test_exact_admission();
  test_external_load();
  test_drain();
  test_health_and_priority();
  test_policies();
  test_removed_engine();
  test_stale_after_slot_reuse();
  test_ticket_exhaustion();
  test_snapshot();
  test_stats_fields();
  test_add_ex();
  test_add_or_find_and_user_word();
  test_reserve_on_key_and_finish();
  test_config_default();
  test_release_as_external();
  printf("test_api: all checks passed\n");
  return 0;
}
