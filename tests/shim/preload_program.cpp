// tests/shim/preload_program.cpp - a program that knows nothing of kmalloc, for
// shim_preload.cmake to run with and without LD_PRELOAD=libkmalloc-malloc.so: it allocates in a
// static constructor (before main), calls dlsym and dlerror (glibc allocates there), uses
// operator new from several threads, and prints a digest of what it computed. Both runs must
// print the same. One thread is still running at exit, after exactly 7 valloc calls (nobody
// else calls valloc), so the stats dump must count the calls of a live thread: valloc=7; its
// results must be page aligned (exit status 6 otherwise).
#include <dlfcn.h>
#include <malloc.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <future>
#include <map>
#include <string>
#include <thread>
#include <vector>

namespace {

std::string* g_before_main = nullptr;

__attribute__((constructor)) void allocate_before_main() {
  g_before_main = new std::string(5000, 'k');
  void* p = std::malloc(100);
  std::free(p);
}

std::uintptr_t os_page_size() {
  return static_cast<std::uintptr_t>(sysconf(_SC_PAGESIZE));
}

std::uint64_t work(unsigned seed) {
  std::map<std::string, std::vector<int>> m;
  std::uint64_t digest = seed;
  for (unsigned i = 0; i < 20000; ++i) {
    std::string key = std::to_string((i * 2654435761u + seed) % 5000);
    auto& v = m[key];
    v.push_back(static_cast<int>(i));
    if (v.size() > 8)
      m.erase(key);
  }
  for (const auto& [k, v] : m)
    digest = digest * 1099511628211ull + k.size() + v.size();
  return digest;
}

} // namespace

int main() {
  if (dlsym(RTLD_DEFAULT, "no_such_symbol_anywhere") == nullptr && dlerror() == nullptr)
    return 3;
  std::vector<std::thread> threads;
  std::vector<std::uint64_t> digests(3);
  for (unsigned t = 0; t < 3; ++t)
    threads.emplace_back([&, t] { digests[t] = work(t); });
  for (auto& th : threads)
    th.join();
  // Static: the thread outlives main's frame. Each valloc must be page aligned and writable.
  static std::promise<bool> valloced;
  std::thread([] {
    bool ok = true;
    char* blocks[7]; // all live at once, so they are seven different blocks
    for (char*& p : blocks) {
      p = static_cast<char*>(valloc(64));
      ok = ok && p != nullptr && reinterpret_cast<std::uintptr_t>(p) % os_page_size() == 0;
      if (p != nullptr)
        p[63] = 1;
    }
    for (char* p : blocks)
      std::free(p);
    valloced.set_value(ok);
    for (;;)
      pause(); // alive when main returns
  }).detach();
  if (!valloced.get_future().get())
    return 6;
  char* big = static_cast<char*>(std::calloc(1, 12u << 20)); // the huge path
  big[(12u << 20) - 1] = 1;
  void* aligned = nullptr;
  if (posix_memalign(&aligned, 4096, 300) != 0)
    return 4;
  // Its own checks, whoever serves it: exit status 5 fails shim_preload.cmake.
  if (reinterpret_cast<std::uintptr_t>(aligned) % 4096 != 0 || malloc_usable_size(aligned) < 300 ||
      big[(12u << 20) - 1] != 1 || big[0] != 0 || g_before_main->size() != 5000)
    return 5;
  std::printf("before main: %zu\n", g_before_main->size());
  for (unsigned t = 0; t < 3; ++t)
    std::printf("thread %u: %016llx\n", t, static_cast<unsigned long long>(digests[t]));
  std::printf("big: %d aligned: %d usable>=300: %d\n", big[(12u << 20) - 1],
              static_cast<int>(reinterpret_cast<std::uintptr_t>(aligned) % 4096),
              malloc_usable_size(aligned) >= 300);
  std::free(big);
  std::free(aligned);
  delete g_before_main;
  return 0;
}
