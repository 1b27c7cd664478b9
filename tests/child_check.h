// child_check.h - checks inside the child process of a gtest death test (EXPECT_EXIT): a failed
// CHILD_CHECK prints its line and condition and exits 1; child_passed() exits 0. The C API's
// default heap is one per process, so its contract tests run each case in a fresh child.
#pragma once

#include <cstdio>
#include <cstdlib>

#define CHILD_CHECK(cond)                                                                          \
  do {                                                                                             \
    if (!(cond)) {                                                                                 \
      std::fprintf(stderr, "CHILD_CHECK failed at line %d: %s\n", __LINE__, #cond);                \
      std::_Exit(1);                                                                               \
    }                                                                                              \
  } while (0)

[[noreturn]] inline void child_passed() {
  std::exit(0);
}
