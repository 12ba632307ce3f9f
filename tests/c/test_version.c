/*
 * test_version.c -- the version macros of engine_slots.h (ES_VERSION_MAJOR,
 * _MINOR, _PATCH, _STRING), generated from Cargo.toml's version:
 *  - at compile time, that they exist and are what a program may test with
 *    #if (integer constants) or use as a string literal;
 *  - at run time, that they equal what es_version() of the linked library
 *    returns, and Cargo.toml's version (ES_EXPECTED_VERSION, passed by
 *    scripts/test-c.sh).
 *
 * Built by scripts/test-c.sh with -std=c11 -Wall -Wextra -Wpedantic -Werror
 * under AddressSanitizer and UndefinedBehaviorSanitizer.
 */
#define _POSIX_C_SOURCE 200809L

#include "check.h"

/* Compile time: the macros exist and the preprocessor can compare them, as
   a program checking which release it is built against would. */
#if !defined(ES_VERSION_MAJOR) || !defined(ES_VERSION_MINOR) || !defined(ES_VERSION_PATCH) || \
    !defined(ES_VERSION_STRING)
#error "engine_slots.h lacks ES_VERSION_MAJOR/MINOR/PATCH/STRING"
#endif
#if ES_VERSION_MAJOR < 0 || ES_VERSION_MINOR < 0 || ES_VERSION_PATCH < 0
#error "ES_VERSION_* are not non-negative integer constants"
#endif
/* A string literal (concatenates), at least "0.0.0" long. */
_Static_assert(sizeof("v" ES_VERSION_STRING) >= sizeof("v0.0.0"),
               "ES_VERSION_STRING is not a version string literal");

#define STR_(x) #x
#define STR(x) STR_(x)

int main(void) {
  const char *linked = es_version();
  char numbers[64];
  int n = snprintf(numbers, sizeof numbers, "%d.%d.%d", ES_VERSION_MAJOR, ES_VERSION_MINOR,
                   ES_VERSION_PATCH);
  size_t len;

  CHECK(n > 0 && (size_t)n < sizeof numbers);
  len = (size_t)n;
  /* The string is the three numbers, optionally followed by a pre-release
     or build suffix ("0.2.0-rc.1"). */
  CHECK(strncmp(ES_VERSION_STRING, numbers, len) == 0);
  CHECK(ES_VERSION_STRING[len] == '\0' || ES_VERSION_STRING[len] == '-' ||
        ES_VERSION_STRING[len] == '+');
  /* The numbers are also what the preprocessor sees, digit for digit. */
  CHECK(strncmp(numbers, STR(ES_VERSION_MAJOR) "." STR(ES_VERSION_MINOR) "." STR(ES_VERSION_PATCH),
                len + 1) == 0);

  /* The header and the library linked are the same release. */
  CHECK(linked != NULL);
  if (strcmp(linked, ES_VERSION_STRING) != 0) {
    fprintf(stderr, "header %s, library %s\n", ES_VERSION_STRING, linked);
    CHECK(strcmp(linked, ES_VERSION_STRING) == 0);
  }
#ifdef ES_EXPECTED_VERSION
  CHECK(strcmp(ES_VERSION_STRING, ES_EXPECTED_VERSION) == 0); /* Cargo.toml's */
#endif

  printf("test_version: header %s (%d.%d.%d) == es_version() %s\n", ES_VERSION_STRING,
         ES_VERSION_MAJOR, ES_VERSION_MINOR, ES_VERSION_PATCH, linked);
  return 0;
}
