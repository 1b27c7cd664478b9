/* c_check.h - the CHECK scaffolding of the C11 test programs (c_api_*_test.c): each CHECK counts
 * a pass or prints the failed condition with its line; main() ends by printing
 * "N passed, M failed" and returning non-zero on a failure. One include per program: the
 * counters are static. */
#ifndef KMALLOC_TESTS_C_CHECK_H
#define KMALLOC_TESTS_C_CHECK_H

#include <stddef.h>
#include <stdio.h>

static int passed;
static int failed;

#define CHECK(cond)                                                                                \
  do {                                                                                             \
    if (cond) {                                                                                    \
      ++passed;                                                                                    \
    } else {                                                                                       \
      ++failed;                                                                                    \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);                     \
    }                                                                                              \
  } while (0)

#define KiB ((size_t)1024)
#define MiB ((size_t)1024 * 1024)

#endif /* KMALLOC_TESTS_C_CHECK_H */
