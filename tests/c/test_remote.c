/*
 * test_remote.c -- remote tables (kept in Redis) through the C ABI:
 * es_table_open_redis / es_table_unlink_redis with every bad input, every
 * es_* function on a remote table, two handles on one table, threads, real
 * leases, and the failures a server can stage (wrong password, FCALL
 * disabled, refused port, garbage in the key space), each one a status.
 *
 * scripts/test-c.sh starts the servers and passes their ports:
 *   ES_REDIS_PORT         a plain server
 *   ES_REDIS_AUTH_PORT    one with requirepass "pw"
 *   ES_REDIS_NOFCALL_PORT one with FCALL renamed away
 *   ES_REDIS_DEAD_PORT    a port nobody listens on
 */
#define _POSIX_C_SOURCE 200809L
#include "check.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

static char url[256];
static int port_plain;

static int env_port(const char *name) {
  const char *v = getenv(name);
  if (v == NULL) {
    fprintf(stderr, "test_remote: %s is not set (run scripts/test-c.sh)\n", name);
    exit(1);
  }
  return atoi(v);
}

static es_config config(uint32_t engines, uint32_t tickets, uint32_t cap, uint32_t pending_ms) {
  es_config c;
  c.max_engines = engines;
  c.max_tickets = tickets;
  c.default_capacity = cap;
  c.pending_lease_ms = pending_ms;
  c.active_lease_ms = 0;
  c.policy = ES_POLICY_LEAST_LOADED;
  return c;
}

static es_table *open_remote(const char *name, const es_config *cfg) {
  es_table *t = NULL;
  CHECK_OK(es_table_open_redis(url, name, cfg, &t));
  CHECK(t != NULL);
  return t;
}

/* Sends one command to the plain server as raw RESP (to stage garbage). */
static void raw_command(int argc, const char **argv) {
  char buf[1024];
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a;
  size_t n = 0;
  int i;
  CHECK(fd >= 0);
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons((uint16_t)port_plain);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  CHECK(connect(fd, (struct sockaddr *)&a, sizeof a) == 0);
  n += (size_t)snprintf(buf + n, sizeof buf - n, "*%d\r\n", argc);
  for (i = 0; i < argc; i++) {
    n += (size_t)snprintf(buf + n, sizeof buf - n, "$%zu\r\n%s\r\n", strlen(argv[i]), argv[i]);
  }
  CHECK(n < sizeof buf);
  CHECK(write(fd, buf, n) == (ssize_t)n);
  CHECK(read(fd, buf, sizeof buf) > 0);
  close(fd);
}

static void test_bad_inputs(void) {
  es_config cfg = config(4, 16, 2, 0);
  es_config bad = config(0, 16, 2, 0);
  es_table *t = NULL;
  const char *bad_urls[] = {"", "nope", "redis://127.0.0.1:0", "redis://h?timeout_ms=0",
                            "redis://h?what=1", "http://127.0.0.1:6379", "redis+sentinel://h:1"};
  const char *bad_names[] = {"", "a b", "a{b", "b}", "tab\t",
                             "0123456789012345678901234567890123456789012345678901234567890123x"};
  const char not_utf8[] = {'r', 'e', 'd', 'i', 's', ':', '/', '/', (char)0xff, 0};
  size_t i;

  CHECK_ST(es_table_open_redis(NULL, "t", &cfg, &t), ES_ERR_NULL);
  CHECK_ST(es_table_open_redis(url, NULL, &cfg, &t), ES_ERR_NULL);
  CHECK_ST(es_table_open_redis(url, "t", &cfg, NULL), ES_ERR_NULL);
  CHECK_ST(es_table_unlink_redis(NULL, "t"), ES_ERR_NULL);
  CHECK_ST(es_table_unlink_redis(url, NULL), ES_ERR_NULL);
  CHECK(t == NULL);
  for (i = 0; i < sizeof bad_urls / sizeof bad_urls[0]; i++) {
    CHECK_ST(es_table_open_redis(bad_urls[i], "t", &cfg, &t), ES_ERR_INVALID);
    CHECK_ST(es_table_unlink_redis(bad_urls[i], "t"), ES_ERR_INVALID);
  }
  CHECK_ST(es_table_open_redis(not_utf8, "t", &cfg, &t), ES_ERR_INVALID);
  for (i = 0; i < sizeof bad_names / sizeof bad_names[0]; i++) {
    CHECK_ST(es_table_open_redis(url, bad_names[i], &cfg, &t), ES_ERR_INVALID);
  }
  CHECK_ST(es_table_open_redis(url, "t", &bad, &t), ES_ERR_INVALID);
  bad = cfg;
  bad.policy = 7;
  CHECK_ST(es_table_open_redis(url, "t", &bad, &t), ES_ERR_INVALID);
  /* No such table: cfg NULL cannot create it; unlink finds nothing. */
  CHECK_ST(es_table_open_redis(url, "missing", NULL, &t), ES_ERR_NOT_FOUND);
  CHECK_ST(es_table_unlink_redis(url, "missing"), ES_ERR_NOT_FOUND);
  CHECK(t == NULL);
}

static void test_every_function(void) {
  es_config cfg = config(4, 8, 2, 0);
  es_config got;
  es_table *t = open_remote("api", &cfg);
  es_table *other = NULL;
  es_engine a = 0, b = 0, found = 0, e = 0;
  es_ticket k1 = 0, k2 = 0, k3 = 0;
  es_engine_stats snap[4];
  es_engine_stats s;
  size_t len = 0;
  uint32_t n = 99;
  uint64_t garbage[] = {0, 1, UINT64_MAX, 0x0E5E000000000000ULL};
  size_t i;
  const uint8_t key_nul[] = {'k', 0, 'z'};
  uint8_t long_key[ES_KEY_MAX + 1];

  memset(long_key, 'x', sizeof long_key);
  CHECK_OK(es_table_get_config(t, &got));
  CHECK(memcmp(&got, &cfg, sizeof cfg) == 0);
  /* cfg NULL takes the table's own; a different one is refused. */
  CHECK_OK(es_table_open_redis(url, "api", NULL, &other));
  got = cfg;
  got.max_tickets = 9;
  {
    es_table *t2 = NULL;
    CHECK_ST(es_table_open_redis(url, "api", &got, &t2), ES_ERR_INVALID);
    CHECK(t2 == NULL);
  }

  a = add_engine(t, "a", 0);
  CHECK_ST(es_engine_add(t, (const uint8_t *)"a", 1, 1, &e), ES_ERR_EXISTS);
  CHECK_ST(es_engine_add(t, long_key, ES_KEY_MAX + 1, 1, &e), ES_ERR_INVALID);
  CHECK_ST(es_engine_add(t, long_key, 0, 1, &e), ES_ERR_INVALID);
  CHECK_ST(es_engine_add(t, NULL, 1, 1, &e), ES_ERR_NULL);
  CHECK_ST(es_engine_add(t, (const uint8_t *)"x", 1, 5000, &e), ES_ERR_INVALID);
  CHECK_OK(es_engine_add(t, key_nul, sizeof key_nul, 1, &b));
  CHECK_OK(es_engine_add(t, long_key, ES_KEY_MAX, 1, &e));
  CHECK_OK(es_engine_find(other, key_nul, sizeof key_nul, &found));
  CHECK(found == b);
  CHECK_ST(es_engine_find(t, (const uint8_t *)"k", 1, &found), ES_ERR_NOT_FOUND);
  CHECK_OK(es_engine_remove(t, e));
  CHECK_ST(es_engine_remove(t, e), ES_ERR_STALE);

  CHECK_OK(es_engine_set_capacity(t, a, 3));
  CHECK_ST(es_engine_set_capacity(t, a, 0), ES_ERR_INVALID);
  CHECK_OK(es_engine_set_healthy(t, b, false));
  CHECK_OK(es_engine_set_priority(t, a, -5));
  CHECK_OK(es_engine_set_external(t, a, 1));
  s = stats_of(t, a);
  CHECK(s.capacity == 3 && s.external == 1 && s.priority == -5 && s.healthy && !s.draining);
  CHECK(s.key_len == 1 && s.key[0] == 'a');
  s = stats_of(other, b);
  CHECK(!s.healthy && s.key_len == 3 && memcmp(s.key, key_nul, 3) == 0);

  /* a is healthy: chosen first although loaded. */
  CHECK_OK(es_reserve(t, &k1, &e));
  CHECK(e == a && k1 != 0);
  CHECK_OK(es_reserve_on(other, b, &k2));
  CHECK_ST(es_reserve_on(t, b, &k3), ES_NO_CAPACITY);
  CHECK_ST(es_release(t, k1), ES_ERR_STALE);
  CHECK_OK(es_commit(other, k1));
  CHECK_ST(es_commit(t, k1), ES_ERR_STALE);
  CHECK_OK(es_touch(t, k1));
  CHECK_OK(es_release(other, k1));
  CHECK_ST(es_release(t, k1), ES_ERR_STALE);
  CHECK_OK(es_cancel(t, k2));
  CHECK_ST(es_cancel(t, k2), ES_ERR_STALE);

  CHECK_OK(es_engine_drain(t, a));
  CHECK_ST(es_reserve_on(t, a, &k3), ES_NO_CAPACITY);
  CHECK(stats_of(t, a).draining);
  CHECK_OK(es_engine_undrain(t, a));
  CHECK_OK(es_reserve_on(t, a, &k3));
  CHECK(tickets_of(t).pending == 1 && tickets_of(other).free == 7);

  /* Snapshots: size query, then a short buffer, then all. */
  CHECK_OK(es_table_snapshot(t, NULL, 0, &len));
  CHECK(len == 2);
  CHECK_ST(es_table_snapshot(t, NULL, 1, &len), ES_ERR_NULL);
  CHECK_OK(es_table_snapshot(t, snap, 1, &len));
  CHECK(len == 2 && snap[0].engine == a);
  CHECK_OK(es_table_snapshot(t, snap, 4, &len));
  CHECK(len == 2 && snap[1].engine == b && snap[0].pending == 1 && snap[0].reserved_total == 2);

  /* Garbage and foreign handles: stale, nothing changes. */
  for (i = 0; i < sizeof garbage / sizeof garbage[0]; i++) {
    CHECK_ST(es_commit(t, garbage[i]), ES_ERR_STALE);
    CHECK_ST(es_cancel(t, garbage[i]), ES_ERR_STALE);
    CHECK_ST(es_release(t, garbage[i]), ES_ERR_STALE);
    CHECK_ST(es_touch(t, garbage[i]), ES_ERR_STALE);
    CHECK_ST(es_engine_drain(t, garbage[i]), ES_ERR_STALE);
    CHECK_ST(es_engine_stats_get(t, garbage[i], &s), ES_ERR_STALE);
    CHECK_ST(es_reserve_on(t, garbage[i], &k2), ES_ERR_STALE);
  }
  CHECK_ST(es_cancel(t, a), ES_ERR_STALE); /* an engine is not a ticket */
  CHECK_ST(es_reserve(t, NULL, &e), ES_ERR_NULL);
  CHECK_ST(es_reserve(NULL, &k2, &e), ES_ERR_NULL);

  /* Removing the engine of a pending ticket: cancel only frees it. */
  CHECK_OK(es_engine_remove(other, a));
  CHECK_OK(es_cancel(t, k3));
  CHECK_OK(es_reclaim_expired(t, &n));
  CHECK(n == 0);
  CHECK_OK(es_reclaim_expired(t, NULL));
  CHECK(tickets_of(t).free == 8);

  es_table_free(other);
  es_table_free(t);
  CHECK_OK(es_table_unlink_redis(url, "api"));
  CHECK_ST(es_table_open_redis(url, "api", NULL, &t), ES_ERR_NOT_FOUND);
}

static void test_real_leases(void) {
  es_config cfg = config(1, 4, 1, 100);
  es_table *t = open_remote("leases", &cfg);
  es_ticket leaked = 0, fresh = 0;
  es_engine e = add_engine(t, "e", 1);
  es_engine got = 0;
  double start = now_ms();
  CHECK_OK(es_reserve(t, &leaked, &got));
  CHECK_ST(es_reserve(t, &fresh, &got), ES_NO_CAPACITY);
  sleep_until_elapsed(start, 250);
  CHECK_OK(es_reserve(t, &fresh, &got)); /* the lease ran out: reclaimed inside */
  CHECK_ST(es_commit(t, leaked), ES_ERR_STALE);
  CHECK_OK(es_commit(t, fresh));
  CHECK(stats_of(t, e).expired_total == 1);
  es_table_free(t);
  CHECK_OK(es_table_unlink_redis(url, "leases"));
}

#define THREADS 4
#define ROUNDS 150

struct worker {
  es_table *t;
  int over;
};

static void *churn(void *arg) {
  struct worker *w = (struct worker *)arg;
  int i;
  for (i = 0; i < ROUNDS; i++) {
    es_ticket k = 0;
    es_engine e = 0;
    es_engine_stats s;
    es_status st = es_reserve(w->t, &k, &e);
    if (st == ES_NO_CAPACITY) continue;
    CHECK_OK(st);
    CHECK_OK(es_engine_stats_get(w->t, e, &s));
    if (s.active + s.pending > s.capacity) w->over++;
    if (i % 3 == 0) {
      CHECK_OK(es_cancel(w->t, k));
    } else {
      CHECK_OK(es_commit(w->t, k));
      CHECK_OK(es_release(w->t, k));
    }
  }
  return NULL;
}

static void test_threads(void) {
  es_config cfg = config(4, 64, 2, 0);
  es_table *t = open_remote("threads", &cfg);
  pthread_t th[THREADS];
  struct worker w[THREADS];
  es_engine_stats snap[4];
  size_t len = 0, i;
  add_engine(t, "a", 2);
  add_engine(t, "b", 2);
  for (i = 0; i < THREADS; i++) {
    w[i].t = t;
    w[i].over = 0;
    CHECK(pthread_create(&th[i], NULL, churn, &w[i]) == 0);
  }
  for (i = 0; i < THREADS; i++) {
    CHECK(pthread_join(th[i], NULL) == 0);
    CHECK(w[i].over == 0);
  }
  CHECK_OK(es_table_snapshot(t, snap, 4, &len));
  CHECK(len == 2);
  for (i = 0; i < len; i++) CHECK(snap[i].active == 0 && snap[i].pending == 0);
  CHECK(tickets_of(t).free == 64);
  es_table_free(t);
  CHECK_OK(es_table_unlink_redis(url, "threads"));
}

static void test_server_failures(void) {
  es_config cfg = config(4, 16, 2, 0);
  es_table *t = NULL;
  char u[256];
  es_engine e = 0;

  /* Wrong password, no password: EACCES. The right one works. */
  snprintf(u, sizeof u, "redis://:wrong@127.0.0.1:%d", env_port("ES_REDIS_AUTH_PORT"));
  errno = 0;
  CHECK_ST(es_table_open_redis(u, "t", &cfg, &t), ES_ERR_IO);
  CHECK(errno == EACCES);
  snprintf(u, sizeof u, "redis://127.0.0.1:%d", env_port("ES_REDIS_AUTH_PORT"));
  CHECK_ST(es_table_open_redis(u, "t", &cfg, &t), ES_ERR_IO);
  CHECK(errno == EACCES);
  snprintf(u, sizeof u, "redis://:pw@127.0.0.1:%d/2", env_port("ES_REDIS_AUTH_PORT"));
  CHECK_OK(es_table_open_redis(u, "t", &cfg, &t));
  es_table_free(t);
  t = NULL;

  /* FCALL renamed away: ENOSYS. */
  snprintf(u, sizeof u, "redis://127.0.0.1:%d", env_port("ES_REDIS_NOFCALL_PORT"));
  CHECK_ST(es_table_open_redis(u, "t", &cfg, &t), ES_ERR_IO);
  CHECK(errno == ENOSYS);

  /* Nobody listening: ECONNREFUSED, quickly. */
  snprintf(u, sizeof u, "redis://127.0.0.1:%d?timeout_ms=300", env_port("ES_REDIS_DEAD_PORT"));
  CHECK_ST(es_table_open_redis(u, "t", &cfg, &t), ES_ERR_IO);
  CHECK(errno == ECONNREFUSED);
  CHECK_ST(es_table_unlink_redis(u, "t"), ES_ERR_IO);
  CHECK(t == NULL);

  /* Garbage in the key space: CORRUPT, never a crash. */
  {
    const char *set_meta[] = {"SET", "es:{junk}:meta", "not a table"};
    const char *set_room[] = {"SET", "es:{soiled}:room", "not a sorted set"};
    raw_command(3, set_meta);
    CHECK_ST(es_table_open_redis(url, "junk", &cfg, &t), ES_ERR_CORRUPT);
    CHECK_ST(es_table_open_redis(url, "junk", NULL, &t), ES_ERR_CORRUPT);
    t = open_remote("soiled", &cfg);
    e = add_engine(t, "e", 1);
    raw_command(3, set_room);
    {
      es_ticket k = 0;
      es_engine got = 0;
      CHECK_ST(es_reserve(t, &k, &got), ES_ERR_CORRUPT);
    }
    CHECK(stats_of(t, e).pending == 0);
    es_table_free(t);
    CHECK_OK(es_table_unlink_redis(url, "soiled"));
    CHECK_OK(es_table_unlink_redis(url, "junk"));
  }
}

/* A fake server on a thread: answers every command as a Redis 6.2 without
   FCALL would (mode 'o'), or accepts and never answers (mode 's'). */
struct fake {
  int listen_fd;
  int port;
  char mode;
};

static void *fake_serve(void *arg) {
  struct fake *f = (struct fake *)arg;
  for (;;) {
    char buf[4096];
    int fd = accept(f->listen_fd, NULL, NULL);
    ssize_t n;
    if (fd < 0) return NULL;
    while ((n = read(fd, buf, sizeof buf - 1)) > 0) {
      const char *reply;
      buf[n] = 0;
      if (f->mode == 's') continue; /* silent: read, never answer */
      if (strstr(buf, "INFO") != NULL || strstr(buf, "info") != NULL) {
        reply = "$42\r\n# Server\r\nredis_version:6.2.14\r\nos:Linux\r\n\r\n";
      } else {
        reply = "-ERR unknown command 'FCALL', with args beginning with:\r\n";
      }
      if (write(fd, reply, strlen(reply)) < 0) break;
    }
    close(fd);
  }
}

static struct fake *fake_start(char mode) {
  static struct fake fakes[2];
  static int used = 0;
  struct fake *f = &fakes[used++];
  struct sockaddr_in a;
  socklen_t len = sizeof a;
  pthread_t th;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  f->mode = mode;
  f->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
  CHECK(f->listen_fd >= 0);
  CHECK(bind(f->listen_fd, (struct sockaddr *)&a, sizeof a) == 0);
  CHECK(listen(f->listen_fd, 16) == 0);
  CHECK(getsockname(f->listen_fd, (struct sockaddr *)&a, &len) == 0);
  f->port = ntohs(a.sin_port);
  CHECK(pthread_create(&th, NULL, fake_serve, f) == 0);
  CHECK(pthread_detach(th) == 0);
  return f;
}

static void test_fake_servers(void) {
  es_config cfg = config(4, 16, 2, 0);
  es_table *t = NULL;
  char u[256];
  double start;
  struct fake *old = fake_start('o');
  struct fake *silent = fake_start('s');

  /* Older than 7.0 (no Functions): ENOTSUP. */
  snprintf(u, sizeof u, "redis://127.0.0.1:%d", old->port);
  errno = 0;
  CHECK_ST(es_table_open_redis(u, "t", &cfg, &t), ES_ERR_IO);
  CHECK(errno == ENOTSUP);

  /* Never answers: ETIMEDOUT after timeout_ms, not later. */
  snprintf(u, sizeof u, "redis://127.0.0.1:%d?timeout_ms=200", silent->port);
  start = now_ms();
  CHECK_ST(es_table_open_redis(u, "t", &cfg, &t), ES_ERR_IO);
  CHECK(errno == ETIMEDOUT);
  CHECK(now_ms() - start < 1000);
  start = now_ms();
  CHECK_ST(es_table_unlink_redis(u, "t"), ES_ERR_IO);
  CHECK(errno == ETIMEDOUT);
  CHECK(now_ms() - start < 1000);
  CHECK(t == NULL);
}

int main(void) {
  port_plain = env_port("ES_REDIS_PORT");
  snprintf(url, sizeof url, "redis://127.0.0.1:%d?timeout_ms=5000&session_ms=2000", port_plain);
  test_bad_inputs();
  test_every_function();
  test_real_leases();
  test_threads();
  test_server_failures();
  test_fake_servers();
  printf("test_remote: ok\n");
  return 0;
}
