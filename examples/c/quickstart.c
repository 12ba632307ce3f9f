/* engine-slots from C: two engines, one stream, its whole life cycle. */
#include <engine_slots.h>
#include <stdio.h>
#include <string.h>

#define KEY(s) (const uint8_t *)(s), strlen(s)

static int check(es_status s, const char *what) {
  if (s != ES_OK) fprintf(stderr, "%s: %s\n", what, es_status_str(s));
  return s == ES_OK;
}

int main(void) {
  es_config cfg = {.max_engines = 8, .max_tickets = 64, .default_capacity = 2,
                   .pending_lease_ms = 5000, .active_lease_ms = 0,
                   .policy = ES_POLICY_LEAST_LOADED};
  es_table *t;
  es_engine a, b, picked;
  es_ticket ticket;
  if (!check(es_table_new(&cfg, &t), "es_table_new")) return 1;

  int ok = check(es_engine_add(t, KEY("engine-a"), 0, &a), "add a") /* capacity 2 */
        && check(es_engine_add(t, KEY("engine-b"), 4, &b), "add b")
        && check(es_reserve(t, &ticket, &picked), "reserve") /* or ES_NO_CAPACITY */
        && check(es_commit(t, ticket), "commit");            /* the stream started */

  es_engine_stats stats[8];
  size_t n = 0;
  if (ok && check(es_table_snapshot(t, stats, 8, &n), "snapshot"))
    for (size_t i = 0; i < n && i < 8; i++)
      printf("%.*s: %u active, %u pending, capacity %u\n", (int)stats[i].key_len,
             (const char *)stats[i].key, stats[i].active, stats[i].pending,
             stats[i].capacity);

  ok = ok && check(es_release(t, ticket), "release"); /* the stream ended */
  es_table_free(t);
  return ok ? 0 : 1;
}
