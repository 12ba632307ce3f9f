/*
 * c_cycle.c -- the reserve + commit + release cycle through the C ABI, as a
 * C media server runs it: one table of ENGINES engines with 64-byte keys
 * (capacity 8, pending lease 10 s, active lease 60 s, least loaded), one
 * thread, es_reserve / es_commit / es_release in a loop.
 *
 * Built and run by scripts/bench.sh against target/release/libengine_slots.a
 * (static, as C programs link it), beside the same loop in Rust
 * (benches/driver, `cycle`), so the two differ only by the C ABI layer.
 *
 *   c_cycle [cycles [engines [repeats]]]   prints "c_cycle <engines> <best ns per cycle>"
 *
 * Timing: the best of `repeats` runs of `cycles` cycles (the least disturbed
 * by the other work on a shared machine). Under callgrind, run with
 * `--collect-atstart=no --toggle-collect=run_cycles` to count only the loop.
 */
#define _POSIX_C_SOURCE 200809L

#include "engine_slots.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CAPACITY 8

static void check(es_status st, const char *what) {
  if (st != ES_OK) {
    fprintf(stderr, "c_cycle: %s: %s\n", what, es_status_str(st));
    exit(1);
  }
}

static double now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* The measured loop; not inlined so callgrind can count exactly it. */
__attribute__((noinline)) void run_cycles(es_table *t, unsigned long n) {
  unsigned long i;
  for (i = 0; i < n; i++) {
    es_ticket ticket;
    es_engine engine;
    check(es_reserve(t, &ticket, &engine), "es_reserve");
    check(es_commit(t, ticket), "es_commit");
    check(es_release(t, ticket), "es_release");
  }
}

int main(int argc, char **argv) {
  unsigned long cycles = argc > 1 ? strtoul(argv[1], NULL, 10) : 1000000;
  unsigned engines = argc > 2 ? (unsigned)strtoul(argv[2], NULL, 10) : 16;
  unsigned repeats = argc > 3 ? (unsigned)strtoul(argv[3], NULL, 10) : 5;
  es_config cfg;
  es_table *t;
  unsigned e, r;
  double best = 0;

  check(es_config_default(&cfg), "es_config_default");
  cfg.max_engines = engines;
  cfg.max_tickets = 1024;
  cfg.default_capacity = CAPACITY;
  cfg.pending_lease_ms = 10000;
  cfg.active_lease_ms = 60000;
  cfg.policy = ES_POLICY_LEAST_LOADED;
  check(es_table_new(&cfg, &t), "es_table_new");
  for (e = 0; e < engines; e++) {
    /* A 64-byte container id, as the Rust benchmarks key their engines. */
    char key[65];
    es_engine out;
    snprintf(key, sizeof key, "%064x", e + 1);
    check(es_engine_add(t, (const uint8_t *)key, 64, CAPACITY, &out), "es_engine_add");
  }
  run_cycles(t, cycles / 10 + 1); /* warm-up */
  for (r = 0; r < repeats; r++) {
    double start = now_ns(), ns;
    run_cycles(t, cycles);
    ns = (now_ns() - start) / (double)(cycles ? cycles : 1);
    if (r == 0 || ns < best) best = ns;
  }
  printf("c_cycle %u %.2f\n", engines, best);
  es_table_free(t);
  return 0;
}
