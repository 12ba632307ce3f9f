/*
 * check.h -- the tiny test harness of the C tests: assertions that print
 * file:line and exit non-zero, plus a few helpers over engine_slots.h.
 */
#ifndef ES_TEST_CHECK_H
#define ES_TEST_CHECK_H

#include "engine_slots.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Fails the test program unless cond holds. */
#define CHECK(cond)                                                              \
  do {                                                                           \
    if (!(cond)) {                                                               \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);   \
      exit(1);                                                                   \
    }                                                                            \
  } while (0)

/* Fails the test program unless expr returns the status want. */
#define CHECK_ST(expr, want)                                                     \
  do {                                                                           \
    es_status got_ = (expr);                                                     \
    es_status want_ = (want);                                                    \
    if (got_ != want_) {                                                         \
      fprintf(stderr, "%s:%d: %s\n  returned %d (%s), want %d (%s)\n", __FILE__, \
              __LINE__, #expr, (int)got_, es_status_str(got_), (int)want_,       \
              es_status_str(want_));                                             \
      exit(1);                                                                   \
    }                                                                            \
  } while (0)

#define CHECK_OK(expr) CHECK_ST(expr, ES_OK)

/* A table with the given shape; fails the program if creation fails. */
static inline es_table *new_table(uint32_t engines, uint32_t tickets, uint32_t default_capacity,
                                  uint32_t pending_lease_ms, uint32_t active_lease_ms,
                                  uint32_t policy) {
  es_config cfg;
  es_table *t = NULL;
  cfg.max_engines = engines;
  cfg.max_tickets = tickets;
  cfg.default_capacity = default_capacity;
  cfg.pending_lease_ms = pending_lease_ms;
  cfg.active_lease_ms = active_lease_ms;
  cfg.policy = policy;
  CHECK_OK(es_table_new(&cfg, &t));
  CHECK(t != NULL);
  return t;
}

/* Registers the engine with the C-string key (no NUL inside). */
static inline es_engine add_engine(es_table *t, const char *key, uint32_t capacity) {
  es_engine e = 0;
  CHECK_OK(es_engine_add(t, (const uint8_t *)key, strlen(key), capacity, &e));
  CHECK(e != 0);
  return e;
}

static inline es_engine_stats stats_of(const es_table *t, es_engine e) {
  es_engine_stats s;
  memset(&s, 0, sizeof s);
  CHECK_OK(es_engine_stats_get(t, e, &s));
  CHECK(s.engine == e);
  return s;
}

static inline es_ticket_counts tickets_of(const es_table *t) {
  es_ticket_counts c;
  CHECK_OK(es_table_ticket_counts(t, &c));
  return c;
}

/* CLOCK_MONOTONIC in milliseconds (the clock the leases use). */
static inline double now_ms(void) {
  struct timespec ts;
  CHECK(clock_gettime(CLOCK_MONOTONIC, &ts) == 0);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static inline void sleep_ms(long ms) {
  struct timespec ts;
  ts.tv_sec = ms / 1000;
  ts.tv_nsec = (ms % 1000) * 1000000L;
  while (nanosleep(&ts, &ts) != 0) {
  }
}

/* Sleeps until at least ms milliseconds have passed since start. */
static inline void sleep_until_elapsed(double start, double ms) {
  while (now_ms() - start < ms) sleep_ms(5);
}

/* xorshift64*: deterministic pseudo-random numbers for the tests. */
static inline uint64_t next_rand(uint64_t *state) {
  uint64_t x = *state;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  *state = x;
  return x * 0x2545F4914F6CDD1DULL;
}

#endif /* ES_TEST_CHECK_H */
