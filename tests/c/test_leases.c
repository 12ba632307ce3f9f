/*
 * test_leases.c -- lease expiry through the C ABI, with real time.
 *
 * Leases are short (40-300 ms) and the waits generous (3x the lease plus a
 * margin), because the machine may be noisy. Every assertion is about
 * "expired after enough time" or "alive, unless enough time passed":
 * none bounds how long anything took.
 */
#define _POSIX_C_SOURCE 200809L

#include "check.h"

#define LEASE 40.0 /* ms */
#define LONG_ENOUGH (3.0 * LEASE + 30.0)

/* A pending ticket whose lease ran out is reclaimed by es_reclaim_expired;
   the ticket is stale afterwards and the engine counts it as expired. */
static void test_pending_expiry_by_sweep(void) {
  es_table *t = new_table(2, 4, 2, (uint32_t)LEASE, 0, ES_POLICY_LEAST_LOADED);
  es_engine e = add_engine(t, "e", 2), got;
  es_ticket k;
  es_engine_stats s;
  uint32_t n = 99;
  double t0 = now_ms();

  CHECK_OK(es_reserve(t, &k, &got));
  sleep_until_elapsed(t0, LONG_ENOUGH);
  CHECK_OK(es_reclaim_expired(t, &n));
  CHECK(n == 1);
  CHECK_ST(es_commit(t, k), ES_ERR_STALE);
  CHECK_ST(es_cancel(t, k), ES_ERR_STALE);
  s = stats_of(t, e);
  CHECK(s.pending == 0 && s.active == 0 && s.expired_total == 1 && s.reserved_total == 1);
  CHECK(tickets_of(t).free == 4);
  CHECK_OK(es_reclaim_expired(t, &n));
  CHECK(n == 0);
  CHECK_OK(es_reclaim_expired(t, NULL)); /* reclaimed may be NULL */
  es_table_free(t);
}

/* es_reserve reclaims by itself when it finds no room. */
static void test_pending_expiry_by_reserve(void) {
  es_table *t = new_table(2, 8, 2, (uint32_t)LEASE, 0, ES_POLICY_LEAST_LOADED);
  es_engine e = add_engine(t, "e", 2), got;
  es_ticket a, b, c;
  es_engine_stats s;
  es_status st;
  double t0 = now_ms();

  CHECK_OK(es_reserve(t, &a, &got));
  CHECK_OK(es_reserve(t, &b, &got));
  st = es_reserve(t, &c, &got);
  if (st == ES_OK) {
    /* Only possible if the machine stalled past the lease. */
    CHECK(now_ms() - t0 >= LEASE);
    CHECK_OK(es_cancel(t, c));
  } else {
    CHECK_ST(st, ES_NO_CAPACITY);
  }
  sleep_until_elapsed(t0, LONG_ENOUGH);
  CHECK_OK(es_reserve(t, &c, &got)); /* reclaims a and b, then admits */
  CHECK(got == e);
  CHECK_ST(es_commit(t, a), ES_ERR_STALE);
  CHECK_ST(es_cancel(t, b), ES_ERR_STALE);
  s = stats_of(t, e);
  CHECK(s.pending == 1 && s.expired_total == 2);
  CHECK_OK(es_cancel(t, c));
  es_table_free(t);
}

/* An operation on a ticket whose lease ran out finds it expired. */
static void test_commit_after_expiry(void) {
  es_table *t = new_table(1, 4, 1, (uint32_t)LEASE, 0, ES_POLICY_LEAST_LOADED);
  es_engine e = add_engine(t, "e", 1);
  es_ticket k;
  es_engine_stats s;
  double t0 = now_ms();

  CHECK_OK(es_reserve_on(t, e, &k));
  sleep_until_elapsed(t0, LONG_ENOUGH);
  CHECK_ST(es_commit(t, k), ES_ERR_STALE); /* no sweep ran: commit finds it */
  CHECK_ST(es_cancel(t, k), ES_ERR_STALE);
  CHECK_ST(es_release(t, k), ES_ERR_STALE);
  s = stats_of(t, e);
  CHECK(s.pending == 0 && s.active == 0 && s.expired_total == 1);
  CHECK(tickets_of(t).free == 4);
  es_table_free(t);
}

/* The active lease: a committed stream neither touched nor released. */
static void test_active_expiry(void) {
  es_table *t = new_table(1, 4, 1, 0, (uint32_t)LEASE, ES_POLICY_LEAST_LOADED);
  es_engine e = add_engine(t, "e", 1);
  es_ticket k, k2;
  es_engine_stats s;
  uint32_t n = 0;
  double t0 = now_ms();

  CHECK_OK(es_reserve_on(t, e, &k));
  CHECK_OK(es_commit(t, k));
  sleep_until_elapsed(t0, LONG_ENOUGH);
  CHECK_OK(es_reclaim_expired(t, &n));
  CHECK(n == 1);
  CHECK_ST(es_release(t, k), ES_ERR_STALE);
  CHECK_ST(es_touch(t, k), ES_ERR_STALE);
  s = stats_of(t, e);
  CHECK(s.active == 0 && s.pending == 0 && s.expired_total == 1);
  /* The pending lease is 0 here: a reservation never expires. */
  t0 = now_ms();
  CHECK_OK(es_reserve_on(t, e, &k2));
  sleep_until_elapsed(t0, LONG_ENOUGH);
  CHECK_OK(es_reclaim_expired(t, &n));
  CHECK(n == 0);
  CHECK_OK(es_commit(t, k2));
  CHECK_OK(es_release(t, k2));
  es_table_free(t);
}

/* Touching keeps an active stream alive past its lease. */
static void test_touch_extends(void) {
  const double lease = 300.0;
  es_table *t = new_table(1, 4, 1, 0, (uint32_t)lease, ES_POLICY_LEAST_LOADED);
  es_engine e = add_engine(t, "e", 1);
  es_ticket k;
  uint32_t n = 0;
  double last_ok, start;
  int i, alive = 1;

  CHECK_OK(es_reserve_on(t, e, &k));
  last_ok = now_ms();
  CHECK_OK(es_commit(t, k));
  start = last_ok;
  for (i = 0; i < 6 && alive; i++) {
    double before;
    sleep_ms(100);
    before = now_ms();
    if (es_touch(t, k) == ES_OK) {
      last_ok = before;
    } else {
      /* Only if this thread was descheduled for a whole lease. */
      CHECK(now_ms() - last_ok >= lease);
      alive = 0;
    }
  }
  if (alive) {
    CHECK(now_ms() - start >= lease); /* it outlived its first lease */
    CHECK_OK(es_reclaim_expired(t, &n));
    if (n != 0) CHECK(now_ms() - last_ok >= lease);
    else CHECK_OK(es_release(t, k));
  } else {
    fprintf(stderr, "test_touch_extends: machine too slow, skipped the rest\n");
  }
  CHECK(stats_of(t, e).active == 0); /* released, or reclaimed */
  es_table_free(t);
}

/* Leases of 0 never expire; huge leases are capped, not wrapped. */
static void test_no_and_huge_leases(void) {
  es_table *t = new_table(2, 8, 2, 0, 0, ES_POLICY_LEAST_LOADED);
  es_table *h = new_table(2, 8, 2, UINT32_MAX, UINT32_MAX, ES_POLICY_LEAST_LOADED);
  es_engine e = add_engine(t, "e", 2), he = add_engine(h, "h", 2);
  es_ticket p, a, hp, ha;
  uint32_t n = 7;
  double t0 = now_ms();

  CHECK_OK(es_reserve_on(t, e, &p));
  CHECK_OK(es_reserve_on(t, e, &a));
  CHECK_OK(es_commit(t, a));
  CHECK_OK(es_reserve_on(h, he, &hp));
  CHECK_OK(es_reserve_on(h, he, &ha));
  CHECK_OK(es_commit(h, ha));
  sleep_until_elapsed(t0, LONG_ENOUGH);
  CHECK_OK(es_reclaim_expired(t, &n));
  CHECK(n == 0);
  CHECK_OK(es_reclaim_expired(h, &n));
  CHECK(n == 0);
  CHECK_OK(es_touch(t, a));
  CHECK_OK(es_touch(h, ha));
  CHECK_OK(es_commit(t, p));
  CHECK_OK(es_commit(h, hp));
  CHECK_OK(es_release(t, p));
  CHECK_OK(es_release(t, a));
  CHECK_OK(es_release(h, hp));
  CHECK_OK(es_release(h, ha));
  CHECK(stats_of(t, e).expired_total == 0 && stats_of(h, he).expired_total == 0);
  es_table_free(t);
  es_table_free(h);
}

/* A leaked ticket never blocks the last ticket slot for longer than its
   lease: ES_ERR_TABLE_FULL turns into a reservation once it expired. */
static void test_expiry_frees_ticket_slots(void) {
  es_table *t = new_table(1, 1, 5, (uint32_t)LEASE, 0, ES_POLICY_LEAST_LOADED);
  es_engine e = add_engine(t, "e", 5), got;
  es_ticket leaked, k;
  es_status st;
  double t0 = now_ms();

  CHECK_OK(es_reserve(t, &leaked, &got));
  st = es_reserve(t, &k, &got);
  if (st == ES_OK) {
    CHECK(now_ms() - t0 >= LEASE);
    CHECK_OK(es_cancel(t, k));
  } else {
    CHECK_ST(st, ES_ERR_TABLE_FULL);
  }
  sleep_until_elapsed(t0, LONG_ENOUGH);
  CHECK_OK(es_reserve(t, &k, &got));
  CHECK(got == e && k != leaked);
  CHECK_ST(es_cancel(t, leaked), ES_ERR_STALE);
  CHECK(stats_of(t, e).pending == 1);
  CHECK_OK(es_cancel(t, k));
  es_table_free(t);
}

int main(void) {
  test_pending_expiry_by_sweep();
  test_pending_expiry_by_reserve();
  test_commit_after_expiry();
  test_active_expiry();
  test_touch_extends();
  test_no_and_huge_leases();
  test_expiry_frees_ticket_slots();
  printf("test_leases: all checks passed\n");
  return 0;
}
