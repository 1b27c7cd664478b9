// capi_exit_program.cpp - the C API's default heap lives until the process ends: a statically
// linked C++ program may call kfree/kmalloc from a global destructor and from an atexit handler
// that run after every other static destructor of the library (ctest: c_api.exit_kfree, unit).
//
// The global object and the atexit registration are made at init priority 101, before any
// default-priority static initialiser of the library, so their destructor and handler run after
// the library's destructors: a default heap that was destroyed at exit would be rebuilt by the
// late kfree, which then reports "Invalid object pointer" and aborts. The test passes when the
// program exits 0 and prints nothing that starts with "kmalloc: " or names a failed CHECK
// (FAIL_REGULAR_EXPRESSION).
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "kmalloc/kmalloc.h"

// At exit no main() is left to return a status: a failed check prints its condition and ends
// the process with status 1.
#define EXIT_CHECK(cond)                                                                           \
  do {                                                                                             \
    if (!(cond)) {                                                                                 \
      std::fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);                \
      std::_Exit(1);                                                                               \
    }                                                                                              \
  } while (0)

namespace {

void* g_freed_at_exit = nullptr; // kmalloc'd in main, kfree'd by the atexit handler

// A global whose destructor frees what main allocated into it.
struct Holder {
  void* objects[3] = {};
  ~Holder() {
    for (void*& p : objects) {
      EXIT_CHECK(std::strcmp(static_cast<const char*>(p), "held") == 0);
      kfree(p);
      p = nullptr;
    }
  }
};

Holder g_holder __attribute__((init_priority(101)));

void at_exit() {
  EXIT_CHECK(std::strcmp(static_cast<const char*>(g_freed_at_exit), "atexit") == 0);
  kfree(g_freed_at_exit);
  void* p = kmalloc(100, GFP_KERNEL);
  EXIT_CHECK(p != nullptr);
  EXIT_CHECK(ksize(p) == 128);
  std::memset(p, 0x5a, 100);
  kfree(p);
  void* large = kmalloc(100000, GFP_KERNEL); // the page allocator too
  EXIT_CHECK(large != nullptr);
  kfree(large);
}

__attribute__((constructor(101))) void register_at_exit() {
  EXIT_CHECK(std::atexit(at_exit) == 0);
}

} // namespace

int main() {
  for (void*& p : g_holder.objects) {
    p = kmalloc(64, GFP_KERNEL);
    EXIT_CHECK(p != nullptr);
    std::strcpy(static_cast<char*>(p), "held");
  }
  g_freed_at_exit = kmalloc(5000, GFP_KERNEL);
  EXIT_CHECK(g_freed_at_exit != nullptr);
  std::strcpy(static_cast<char*>(g_freed_at_exit), "atexit");
  std::puts("main returns; the global destructor and the atexit handler free at exit");
  return 0;
}
