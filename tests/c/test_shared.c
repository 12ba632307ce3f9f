/*
 * test_shared.c -- shared tables through the C ABI, under ASan/UBSan:
 * create/open/unlink, bad input, corrupt files (never a crash or an
 * out-of-bounds read), two processes sharing counts, and a child that dies
 * holding tickets.
 */
#define _POSIX_C_SOURCE 200809L
#include "check.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

static char path[256];

static es_config small_config(void) {
  es_config c;
  memset(&c, 0, sizeof c);
  c.max_engines = 4;
  c.max_tickets = 16;
  c.default_capacity = 2;
  c.policy = ES_POLICY_LEAST_LOADED;
  return c;
}

static void write_file(const unsigned char *buf, size_t len) {
  FILE *f = fopen(path, "wb");
  CHECK(f != NULL);
  CHECK(fwrite(buf, 1, len, f) == len);
  CHECK(fclose(f) == 0);
}

static unsigned char *read_file(size_t *len) {
  FILE *f = fopen(path, "rb");
  long n;
  unsigned char *buf;
  CHECK(f != NULL);
  CHECK(fseek(f, 0, SEEK_END) == 0);
  n = ftell(f);
  CHECK(n > 0);
  rewind(f);
  buf = malloc((size_t)n);
  CHECK(buf != NULL);
  CHECK(fread(buf, 1, (size_t)n, f) == (size_t)n);
  fclose(f);
  *len = (size_t)n;
  return buf;
}

static void expect_corrupt(const unsigned char *buf, size_t len) {
  es_table *t = NULL;
  write_file(buf, len);
  CHECK_ST(es_table_open_shared(path, NULL, &t), ES_ERR_CORRUPT);
  CHECK(t == NULL);
}

static void bad_input(void) {
  es_config cfg = small_config();
  es_table *t = NULL;
  CHECK_ST(es_table_open_shared(NULL, &cfg, &t), ES_ERR_NULL);
  CHECK_ST(es_table_open_shared(path, &cfg, NULL), ES_ERR_NULL);
  CHECK_ST(es_table_unlink_shared(NULL), ES_ERR_NULL);
  errno = 0;
  CHECK_ST(es_table_open_shared(path, NULL, &t), ES_ERR_IO);
  CHECK(errno == ENOENT);
  CHECK_ST(es_table_unlink_shared(path), ES_ERR_IO);
  cfg.max_engines = 0;
  CHECK_ST(es_table_open_shared(path, &cfg, &t), ES_ERR_INVALID);
  CHECK(access(path, F_OK) != 0);
  cfg = small_config();
  cfg.policy = 77;
  CHECK_ST(es_table_open_shared(path, &cfg, &t), ES_ERR_INVALID);
  CHECK_ST(es_table_open_shared("/nonexistent-dir/t", &cfg, &t), ES_ERR_INVALID);
  cfg = small_config();
  CHECK_ST(es_table_open_shared("/nonexistent-dir/t", &cfg, &t), ES_ERR_IO);
  CHECK(t == NULL);
}

static void corrupt_files(void) {
  es_config cfg = small_config();
  es_table *t = NULL;
  unsigned char *good, *b;
  size_t len, i;
  uint64_t rng = 42;
  CHECK_OK(es_table_open_shared(path, &cfg, &t));
  es_table_free(t);
  t = NULL;
  cfg.max_tickets = 17;
  CHECK_ST(es_table_open_shared(path, &cfg, &t), ES_ERR_INVALID);
  good = read_file(&len);
  b = malloc(len);
  CHECK(b != NULL);

  expect_corrupt(good, 40);  /* truncated inside the header */
  expect_corrupt(good, 700); /* header, but not the slots */
  memcpy(b, good, len);
  b[0] ^= 0xFF; /* magic */
  expect_corrupt(b, len);
  memcpy(b, good, len);
  b[8] = 42; /* layout version */
  expect_corrupt(b, len);
  for (i = 24; i < 48; i += 4) { /* every config field out of range */
    uint32_t v = 0xFFFFFFFFu;
    memcpy(b, good, len);
    memcpy(b + i, &v, 4);
    if (i == 36 || i == 40) continue; /* leases: any value is valid */
    expect_corrupt(b, len);
  }
  for (i = 0; i < len; i++) b[i] = (unsigned char)next_rand(&rng);
  expect_corrupt(b, len);
  /* Garbage in every slot behind a valid header: usable, never a crash. */
  memcpy(b, good, len);
  for (i = 128; i < len; i++) b[i] = (unsigned char)next_rand(&rng);
  write_file(b, len);
  CHECK_OK(es_table_open_shared(path, NULL, &t));
  for (i = 0; i < 100; i++) {
    es_ticket tk = 0;
    es_engine e = 0;
    uint32_t n;
    size_t live = 0;
    (void)es_reserve(t, &tk, &e);
    (void)es_commit(t, tk);
    (void)es_release(t, tk);
    (void)es_reclaim_expired(t, &n);
    (void)es_table_snapshot(t, NULL, 0, &live);
  }
  es_table_free(t);
  free(b);
  free(good);
  CHECK_OK(es_table_unlink_shared(path));
}

/* A child that reserves, commits one, then dies without cleaning up. */
static void crash_child(void) {
  es_table *t = NULL;
  es_ticket a = 0, b = 0;
  es_engine e = 0;
  CHECK_OK(es_table_open_shared(path, NULL, &t));
  CHECK_OK(es_reserve(t, &a, &e));
  CHECK_OK(es_reserve(t, &b, &e));
  CHECK_OK(es_commit(t, a));
  _exit(0); /* no free, no cancel: as if killed */
}

static void processes_share(void) {
  es_config cfg = small_config();
  es_table *t = NULL;
  es_engine e;
  es_ticket mine = 0;
  es_engine got = 0;
  es_engine_stats s;
  uint32_t n = 0;
  int status = 0;
  pid_t pid;
  CHECK_OK(es_table_open_shared(path, &cfg, &t));
  e = add_engine(t, "shared-engine", 3);
  pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) crash_child();
  CHECK(waitpid(pid, &status, 0) == pid);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  s = stats_of(t, e);
  CHECK(s.active == 1 && s.pending == 1); /* the child's counts are here */
  CHECK_OK(es_reserve(t, &mine, &got));
  CHECK(got == e);
  s = stats_of(t, e);
  CHECK(s.pending + s.active == 3); /* full: the dead child still counts */
  CHECK_OK(es_reclaim_expired(t, &n));
  CHECK(n == 2); /* ... until a reclaim finds its two tickets */
  s = stats_of(t, e);
  CHECK(s.active == 0 && s.pending == 1);
  CHECK_OK(es_cancel(t, mine));
  es_table_free(t);
  CHECK_OK(es_table_unlink_shared(path));
}

int main(void) {
  snprintf(path, sizeof path, "/tmp/es-c-shared-%ld.table", (long)getpid());
  unlink(path);
  bad_input();
  corrupt_files();
  processes_share();
  unlink(path);
  printf("test_shared: all checks passed\n");
  return 0;
}
