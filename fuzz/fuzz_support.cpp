// fuzz/fuzz_support.cpp - see fuzz_support.h.
#include "fuzz/fuzz_support.h"

#include <sys/mman.h>

#include <cstdlib>
#include <cstring>

namespace km::fuzz {

namespace {

Stats g_stats;

const char* g_stats_path = nullptr; // KMALLOC_FUZZ_STATS=FILE; nullptr: stderr

void print_stats() {
  std::FILE* out = g_stats_path != nullptr ? std::fopen(g_stats_path, "a") : stderr;
  if (out == nullptr) {
    std::perror("fuzz: KMALLOC_FUZZ_STATS");
    return;
  }
  std::fprintf(out,
               "fuzz_stats: inputs=%llu ops=%llu skipped_inputs=%llu skipped_ops=%llu "
               "misuse=%llu\n",
               g_stats.inputs, g_stats.ops, g_stats.skipped_inputs, g_stats.skipped_ops,
               g_stats.misuse);
  if (out != stderr)
    std::fclose(out);
}

} // namespace

void* region() {
  static void* base = [] {
    void* p = mmap(nullptr, kRegionBytes + kRegionAlign, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) {
      std::perror("fuzz: mmap");
      std::abort();
    }
    const auto addr = reinterpret_cast<std::uintptr_t>(p);
    return reinterpret_cast<void*>((addr + kRegionAlign - 1) & ~(kRegionAlign - 1));
  }();
  return base;
}

Trace trace_mode() {
  static const Trace mode = [] {
    const char* env = std::getenv("KMALLOC_FUZZ_TRACE");
    if (env == nullptr || env[0] == '\0' || std::strcmp(env, "0") == 0)
      return Trace::Off;
    return std::strcmp(env, "cpp") == 0 ? Trace::Cpp : Trace::Ops;
  }();
  return mode;
}

Stats& begin_input() {
  static const bool registered = [] {
    const char* env = std::getenv("KMALLOC_FUZZ_STATS");
    if (env == nullptr || env[0] == '\0' || std::strcmp(env, "0") == 0)
      return true;
    if (std::strcmp(env, "1") != 0)
      g_stats_path = env;
    std::atexit(print_stats);
    return true;
  }();
  (void)registered;
  ++g_stats.inputs;
  return g_stats;
}

void fail(const std::exception& e) {
  std::fprintf(stderr, "%s\n", e.what());
  std::fflush(stderr);
  std::abort();
}

} // namespace km::fuzz
