// shim/shim_stats.cpp - call counters and the stats dump (shim/shim_stats.h).
#include "shim_stats.h"

#include <fcntl.h>
#include <pthread.h>
#include <unistd.h>

#include <cstdarg>
#include <cstdio>
#include <cstring>

#include "huge_mappings.h"
#include "kmalloc/heap.h"
#include "platform/lock.h"
#include "platform/os.h"
#include "shim_heap.h"

namespace km::shim {

__thread ThreadCounters this_thread_counters
    __attribute__((tls_model("initial-exec"), visibility("hidden"))) = {};

namespace {

// No initializers: zero-initialized before any code runs. (A constructor would run after the
// libraries the shim depends on, which may already have called malloc: libstdc++ does.)
struct StatsList {
  platform::Lock lock;
  Totals exited KM_GUARDED_BY(lock);
  ThreadCounters* live KM_GUARDED_BY(lock); // every linked thread's counters
  pthread_key_t key;
};
StatsList g_stats;
pthread_once_t g_stats_once = PTHREAD_ONCE_INIT;

unsigned long long load(const unsigned long long& counter) {
  return __atomic_load_n(&counter, __ATOMIC_RELAXED);
}

// Adds c's counters to the exited totals and zeroes them.
void fold_locked(ThreadCounters* c) KM_REQUIRES(g_stats.lock) {
  for (unsigned i = 0; i < kNrCalls; ++i)
    g_stats.exited.calls[i] += c->calls[i];
  for (unsigned i = 0; i < kNrPaths; ++i)
    g_stats.exited.paths[i] += c->paths[i];
  std::memset(c->calls, 0, sizeof c->calls);
  std::memset(c->paths, 0, sizeof c->paths);
}

// The key's destructor, at thread exit: fold, and leave the live list for good.
void fold_thread_counters(void* value) {
  auto* c = static_cast<ThreadCounters*>(value);
  platform::LockGuard guard(g_stats.lock);
  fold_locked(c);
  if (c->linked) {
    (c->prev != nullptr ? c->prev->next : g_stats.live) = c->next;
    if (c->next != nullptr)
      c->next->prev = c->prev;
  }
  c->prev = c->next = nullptr;
  c->linked = false;
  c->retired = true;
}

void init_stats() {
  g_stats.lock.init();
  pthread_key_create(&g_stats.key, &fold_thread_counters);
}

// Appends printf-style text to a fixed buffer, keeping what fits.
struct Writer {
  char* buf;
  std::size_t size;
  std::size_t used = 0;
  __attribute__((format(printf, 2, 3))) void put(const char* fmt, ...) {
    if (used + 1 < size) {
      va_list args;
      va_start(args, fmt);
      const int n = std::vsnprintf(buf + used, size - used, fmt, args);
      va_end(args);
      used += n < 0 ? 0 : static_cast<std::size_t>(n);
      if (used >= size)
        used = size - 1;
    }
  }
};

} // namespace

void thread_counters_slow() {
  pthread_once(&g_stats_once, &init_stats);
  ThreadCounters* c = &this_thread_counters;
  if (c->retired) { // after this thread's destructor: straight into the exited totals
    platform::LockGuard guard(g_stats.lock);
    fold_locked(c);
    return;
  }
  {
    platform::LockGuard guard(g_stats.lock);
    c->linked = true; // before pthread_setspecific, which may allocate (and count)
    c->prev = nullptr;
    c->next = g_stats.live;
    if (c->next != nullptr)
      c->next->prev = c;
    g_stats.live = c;
  }
  pthread_setspecific(g_stats.key, c);
}

Totals totals() {
  pthread_once(&g_stats_once, &init_stats);
  platform::LockGuard guard(g_stats.lock);
  Totals t = g_stats.exited;
  for (const ThreadCounters* c = g_stats.live; c != nullptr; c = c->next) {
    for (unsigned i = 0; i < kNrCalls; ++i)
      t.calls[i] += load(c->calls[i]);
    for (unsigned i = 0; i < kNrPaths; ++i)
      t.paths[i] += load(c->paths[i]);
  }
  if (!this_thread_counters.linked) { // a thread that never counted, or a retired one
    for (unsigned i = 0; i < kNrCalls; ++i)
      t.calls[i] += this_thread_counters.calls[i];
    for (unsigned i = 0; i < kNrPaths; ++i)
      t.paths[i] += this_thread_counters.paths[i];
  }
  return t;
}

const char* call_name(Call call) {
  static const char* const names[kNrCalls] = {
      "malloc",         "free",     "calloc", "realloc", "reallocarray",       "posix_memalign",
      "aligned_alloc",  "memalign", "valloc", "pvalloc", "malloc_usable_size", "operator new",
      "operator delete"};
  return call < kNrCalls ? names[call] : "?";
}

const char* path_name(Path path) {
  static const char* const names[kNrPaths] = {"slab", "large", "huge", "bootstrap", "failed"};
  return path < kNrPaths ? names[path] : "?";
}

bool write_stats(const char* path) {
  char name[320];
  std::size_t n = 0;
  for (const char* p = path; *p != '\0' && n + 24 < sizeof name; ++p) {
    if (p[0] == '%' && p[1] == 'p') {
      n += static_cast<std::size_t>(std::snprintf(name + n, sizeof name - n, "%d", getpid()));
      ++p;
    } else {
      name[n++] = *p;
    }
  }
  name[n] = '\0';
  const int fd = open(name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    return false;
  constexpr std::size_t kBufSize = 1u << 20;
  auto* buf = static_cast<char*>(platform::map_aligned(kBufSize, 4096));
  if (buf == nullptr) {
    close(fd);
    return false;
  }
  Writer w{buf, kBufSize};
  const Totals t = totals();
  const HugeStats huge = huge_stats();
  w.put("kmalloc-malloc stats, pid %d\ncalls:", getpid());
  for (unsigned i = 0; i < kNrCalls; ++i)
    w.put(" %s=%llu", call_name(static_cast<Call>(i)), t.calls[i]);
  w.put("\nserved:");
  for (unsigned i = 0; i < kNrPaths; ++i)
    w.put(" %s=%llu", path_name(static_cast<Path>(i)), t.paths[i]);
  w.put("\narenas: %u of %zu bytes\nhuge mappings: live=%zu live_bytes=%zu total=%zu\n",
        nr_arenas(), arena_bytes(), huge.live, huge.live_bytes, huge.total);
  for (unsigned a = 0; a < nr_arenas(); ++a) {
    const Heap* h = arena(a);
    w.put("--- arena %u slabinfo\n", a);
    w.used += h->slabinfo(buf + w.used, kBufSize - w.used);
    if (w.used >= kBufSize)
      w.used = kBufSize - 1;
    w.put("--- arena %u buddyinfo\n", a);
    w.used += h->buddyinfo(buf + w.used, kBufSize - w.used);
    if (w.used >= kBufSize)
      w.used = kBufSize - 1;
  }
  bool ok = true;
  for (std::size_t off = 0; off < w.used;) {
    const ssize_t k = write(fd, buf + off, w.used - off);
    if (k <= 0) {
      ok = false;
      break;
    }
    off += static_cast<std::size_t>(k);
  }
  close(fd);
  platform::unmap(buf, kBufSize);
  return ok;
}

void stats_lock_for_fork() KM_TSA(no_thread_safety_analysis) {
  pthread_once(&g_stats_once, &init_stats);
  g_stats.lock.lock();
}

void stats_unlock_after_fork(bool child) KM_TSA(no_thread_safety_analysis) {
  if (child) {
    // The child counts its own calls from the fork on; its only thread is this one, which
    // links itself again at its next count (its key is still set: the destructor folds zeros).
    g_stats.exited = Totals{};
    g_stats.live = nullptr;
    std::memset(&this_thread_counters, 0, sizeof this_thread_counters);
  }
  g_stats.lock.unlock();
}

} // namespace km::shim
