// shim/shim_stats.h - the shim's call counters and the stats=FILE dump.
//
// Every exported call counts itself in the calling thread's counters (initial-exec TLS: one
// relaxed load and store, no locked instruction). A thread's first count links its counters
// into the list of live threads and sets a pthread key whose destructor, when the thread exits,
// adds them to the totals of exited threads and unlinks them (before glibc can reuse that TLS
// for another thread). totals() (and so the dump at exit) adds the exited totals and every live
// thread's counters, so threads still running at exit count too. A call a thread makes after its
// key destructor ran (glibc's own thread teardown frees a few blocks) is added to the exited
// totals directly, under the lock.
//
// Threads: count() touches only the caller's TLS; the list and the exited totals are under the
// stats lock, which nests inside nothing (the fork handler takes it first). The reader's loads
// and the owner's stores of a counter are relaxed atomics: a dump while threads run is a
// snapshot, each counter exact at some instant.
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
  bool linked;  // on the live list; the key's destructor will fold these counters
  bool retired; // the destructor ran: later counts go to the exited totals
  ThreadCounters* prev;
  ThreadCounters* next;
};
extern __thread ThreadCounters this_thread_counters
    __attribute__((tls_model("initial-exec"), visibility("hidden")));

// The first count of a thread (links it), or a count after its destructor (folds it).
void thread_counters_slow();
inline void bump(unsigned long long& counter) {
  __atomic_store_n(&counter, __atomic_load_n(&counter, __ATOMIC_RELAXED) + 1, __ATOMIC_RELAXED);
}
inline void count(Call call) {
  bump(this_thread_counters.calls[call]);
  if (__builtin_expect(!this_thread_counters.linked, 0))
    thread_counters_slow();
}
inline void count(Path path) {
  bump(this_thread_counters.paths[path]);
  if (__builtin_expect(!this_thread_counters.linked, 0))
    thread_counters_slow();
}

struct Totals {
  unsigned long long calls[kNrCalls];
  unsigned long long paths[kNrPaths];
};
// The totals of exited threads plus the counters of every live thread.
Totals totals();
const char* call_name(Call call);
const char* path_name(Path path);
// Writes the stats dump to `path` ("%p": the pid). Returns false if the file cannot be written.
bool write_stats(const char* path);
void stats_lock_for_fork();
// child: the child's counters start from zero (its parent's other threads are gone).
void stats_unlock_after_fork(bool child);

} // namespace km::shim
