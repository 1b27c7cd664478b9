// platform/lock.h - the locks and the thread identity the heap uses. Hosted builds implement
// them with POSIX threads (platform/lock.cpp), unless the embedder installed its own
// (PlatformHooks, from kmalloc_set_platform()): a Lock is a pthread mutex stored inline, so it
// can live in the heap's metadata pages; a ThreadKey is a pthread key whose destructor is the
// heap's thread-exit hook (pthread keys rather than thread_local destructors, so the static
// core needs no C++ runtime).
//
// Lock order of the heap (each line may nest the ones below it, never the other way):
//   slab_mutex (SlabAllocator: the cache registry and list)
//     overflow_lock (SlabAllocator: the cpu slot shared by threads beyond nr_cpus)
//       kmem_cache::list_lock (one per cache: its partial and full lists and counters)
//         zone_lock (PageAllocator: free_area, the page counters)
#pragma once

#include "support/thread_annotations.h"

#if defined(__has_include)
#if __has_include(<sys/single_threaded.h>)
#include <sys/single_threaded.h>
#define KM_HAVE_SINGLE_THREADED 1
#endif
#endif

namespace km::platform {

// The embedder's locks and cpu identity (kmalloc.h's struct kmalloc_platform): set before the
// first heap is built, then fixed. Without them: pthread mutexes, and per-thread cpu slots.
struct PlatformHooks {
  void (*lock_init)(void* lock) = nullptr;
  void (*lock_destroy)(void* lock) = nullptr;
  void (*lock)(void* lock) = nullptr;
  void (*unlock)(void* lock) = nullptr;
  unsigned (*current_cpu)() = nullptr;
};
extern PlatformHooks platform_hooks __attribute__((visibility("hidden")));
// Installs hooks; false (nothing changed) once a heap has been built (next_heap_id called).
bool set_platform_hooks(const PlatformHooks& hooks);

class KM_CAPABILITY("mutex") Lock {
public:
  void init();
  void destroy();
  void lock() KM_ACQUIRE();
  void unlock() KM_RELEASE();

private:
  alignas(16) unsigned char storage_[64]; // a pthread_mutex_t
};

// Holds a Lock for its scope.
class KM_SCOPED_CAPABILITY LockGuard {
public:
  explicit LockGuard(Lock& lock) KM_ACQUIRE(lock) : lock_(lock) { lock_.lock(); }
  ~LockGuard() KM_RELEASE() { lock_.unlock(); }
  LockGuard(const LockGuard&) = delete;
  LockGuard& operator=(const LockGuard&) = delete;

private:
  Lock& lock_;
};

// A per-thread value with an exit hook: on_exit(value) runs when a thread whose value is not
// null exits. delete_key() stops the hook for every thread.
struct ThreadKey {
  unsigned id = 0;
  bool ok = false;
};
ThreadKey create_thread_key(void (*on_exit)(void* value));
void delete_thread_key(ThreadKey key);
void* thread_value(ThreadKey key);
void set_thread_value(ThreadKey key, void* value);

// True while the process has never created a second thread (glibc's __libc_single_threaded,
// which the creating thread clears before pthread_create returns). Then no other thread can
// touch the heap, and the allocation bitmap changes its words without a locked instruction
// (5 ns each on the development machine). Without that variable: always false.
inline bool process_single_threaded() {
#if defined(KM_HAVE_SINGLE_THREADED)
  return __libc_single_threaded != 0;
#else
  return false;
#endif
}

// fork(): every registered hook's prepare runs before it (in registration order), parent or
// child after it (in reverse), from pthread_atfork handlers installed at the first add. A heap
// takes all of its locks in prepare, so the child of a multithreaded parent finds none held.
struct ForkHook {
  void (*prepare)(void* context) = nullptr;
  void (*parent)(void* context) = nullptr;
  void (*child)(void* context) = nullptr;
  void* context = nullptr;
  ForkHook* next = nullptr;
  ForkHook* prev = nullptr;
};
void add_fork_hook(ForkHook* hook);
void remove_fork_hook(ForkHook* hook);

// The calling thread's cpu slot of the heap it used last: one initial-exec TLS entry, so the
// allocation fast path finds its slot with one load (about 0.3 ns against 1.8 ns for
// pthread_getspecific on the development machine: bench/thread_slot_bench.cpp). `heap` is a
// heap's unique id (next_heap_id()), never reused, so a destroyed heap's entry never matches.
struct ThreadSlot {
  unsigned long long heap;
  unsigned cpu;
};
extern __thread ThreadSlot this_thread_slot
    __attribute__((tls_model("initial-exec"), visibility("hidden")));
// A new id for a heap (1, 2, ...; never 0).
unsigned long long next_heap_id();

} // namespace km::platform
