// shim/shim_stats.h - the shim's call counters and the stats=FILE dump.
//
// Every exported call counts itself in the calling thread's counters (initial-exec TLS: one
// increment, no atomic). A thread's first count sets a pthread key whose destructor, when the
// thread exits, adds its counters to the totals. The dump, at exit, adds the totals and the
// counters of the exiting thread. Threads still running at exit, and calls a thread makes after
// its key destructors ran (glibc's own thread teardown frees a few blocks), are not counted:
// no thread's TLS is ever linked into a global list, since glibc reuses a dead thread's TLS.
//
// Threads: count() touches only the caller's TLS; the totals are under the stats lock, which
// nests inside nothing (the fork handler takes it first).
#pragma once

#include <cstddef>

namespace km::shim {

enum Call : unsigned {
  kMalloc,
  kFree,
  kCalloc,
  kRealloc,
  kReallocarray,
  kPosixMemalign,
  kAlignedAlloc,
  kMemalign,
  kValloc,
  kPvalloc,
  kUsableSize,
  kNew,
  kDelete,
  kNrCalls
};
// Which path served an allocation.
enum Path : unsigned { kSlab, kLarge, kHuge, kBootstrap, kFailed, kNrPaths };

struct ThreadCounters {
  unsigned long long calls[kNrCalls];
  unsigned long long paths[kNrPaths];
  bool linked; // the key's destructor will fold these counters
};
extern __thread ThreadCounters this_thread_counters
    __attribute__((tls_model("initial-exec"), visibility("hidden")));

void link_thread_counters();
inline void count(Call call) {
  ++this_thread_counters.calls[call];
  if (__builtin_expect(!this_thread_counters.linked, 0))
    link_thread_counters();
}
inline void count(Path path) {
  ++this_thread_counters.paths[path];
}

struct Totals {
  unsigned long long calls[kNrCalls];
  unsigned long long paths[kNrPaths];
};
// The totals of exited threads plus the calling thread's counters.
Totals totals();
const char* call_name(Call call);
const char* path_name(Path path);
// Writes the stats dump to `path` ("%p": the pid). Returns false if the file cannot be written.
bool write_stats(const char* path);
void stats_lock_for_fork();
// child: the child's counters start from zero (its parent's other threads are gone).
void stats_unlock_after_fork(bool child);

} // namespace km::shim
