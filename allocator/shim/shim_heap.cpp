// shim/shim_heap.cpp - the arena set behind the malloc shim (shim/shim_heap.h).
//
// Arenas are mapped aligned to their own size (a power of two), so the arena that holds an
// address is found by one table load: g_arena_of[address >> arena_shift], in a lazily committed
// mapping that covers the 47-bit user address space. Each thread remembers the arena it last
// allocated from; when that arena is full it tries the others, and only when all are full does
// it map a new one (under grow_lock). Requests above KMALLOC_MAX_SIZE, or aligned beyond it, are
// huge mappings (huge_mappings.h).
#include "shim_heap.h"

#include <pthread.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>

#include "huge_mappings.h"
#include "kmalloc/heap.h"
#include "platform/lock.h"
#include "platform/os.h"
#include "shim_options.h"
#include "shim_stats.h"

namespace km::shim {
namespace {

constexpr unsigned kMaxArenas = 4096;
constexpr unsigned kAddressBits = 47;
constexpr gfp_t kGfp = GFP_KERNEL | __GFP_NOWARN;
constexpr std::size_t kBootstrapBytes = 256u << 10;

// Every global is constant- or zero-initialized (constinit): no constructor may run after a
// library the shim depends on has already called malloc.
constinit ShimOptions g_options{};
constinit std::atomic<bool> g_ready{false};
pthread_mutex_t g_init_mutex = PTHREAD_MUTEX_INITIALIZER;
__thread bool t_initializing __attribute__((tls_model("initial-exec"))) = false;
__thread unsigned t_arena __attribute__((tls_model("initial-exec"))) = 0;

std::size_t g_max_cache_size = 0; // KMALLOC_MAX_CACHE_SIZE: above it, kmalloc_large
std::size_t g_max_size = 0;       // KMALLOC_MAX_SIZE: above it, a huge mapping

// Heaps live in static storage and are never destroyed: static destructors and atexit
// handlers that run after ours may still free.
alignas(Heap) unsigned char g_heap_storage[kMaxArenas][sizeof(Heap)];
constinit std::atomic<unsigned> g_nr_arenas{0};
std::uint16_t* g_arena_of = nullptr; // arena index + 1 per arena-sized granule; 0 = none
platform::Lock g_grow_lock;

// Blocks handed out while the first arena is being built: {size} header, then the block.
alignas(4096) unsigned char g_bootstrap[kBootstrapBytes];
constinit std::atomic<std::size_t> g_bootstrap_used{0};

Heap& heap(unsigned index) {
  return *std::launder(reinterpret_cast<Heap*>(g_heap_storage[index]));
}

bool in_bootstrap(const void* ptr) {
  const auto p = reinterpret_cast<std::uintptr_t>(ptr);
  const auto base = reinterpret_cast<std::uintptr_t>(g_bootstrap);
  return p >= base && p < base + kBootstrapBytes;
}

void* bootstrap_alloc(std::size_t size, std::size_t alignment) {
  if (alignment < kMinAlign)
    alignment = kMinAlign;
  if (alignment > 4096 || size > kBootstrapBytes)
    return nullptr;
  std::size_t used = g_bootstrap_used.load(std::memory_order_relaxed);
  for (;;) {
    const std::size_t start = (used + kMinAlign + alignment - 1) & ~(alignment - 1);
    if (start + size > kBootstrapBytes)
      return nullptr;
    if (g_bootstrap_used.compare_exchange_weak(used, start + size, std::memory_order_relaxed)) {
      std::memcpy(g_bootstrap + start - sizeof(std::size_t), &size, sizeof size);
      count(kBootstrap);
      return g_bootstrap + start;
    }
  }
}

std::size_t bootstrap_size(const void* ptr) {
  std::size_t size;
  std::memcpy(&size, static_cast<const unsigned char*>(ptr) - sizeof size, sizeof size);
  return size;
}

// The arena holding `ptr`, or -1.
int arena_index_of(const void* ptr) {
  const auto p = reinterpret_cast<std::uintptr_t>(ptr);
  if (g_arena_of == nullptr || (p >> kAddressBits) != 0)
    return -1;
  return static_cast<int>(g_arena_of[p >> g_options.arena_shift]) - 1;
}

// Maps and builds one more arena. Caller holds g_grow_lock (or is the first, in init).
bool add_arena() {
  const unsigned index = g_nr_arenas.load(std::memory_order_relaxed);
  if (index == kMaxArenas)
    return false;
  const std::size_t bytes = g_options.heap.arena_size;
  void* region = platform::map_aligned(bytes, bytes);
  if (region == nullptr)
    return false;
  Heap* h = new (g_heap_storage[index]) Heap;
  const Status st = h->init(g_options.heap, region, bytes);
  if (!st.ok) {
    platform::unmap(region, bytes);
    platform::print("kmalloc-malloc: cannot build an arena: ");
    platform::print(st.message);
    platform::print("\n");
    return false;
  }
  h->set_release_threshold(g_options.release_keep);
  g_arena_of[reinterpret_cast<std::uintptr_t>(region) >> g_options.arena_shift] =
      static_cast<std::uint16_t>(index + 1);
  g_nr_arenas.store(index + 1, std::memory_order_release);
  return true;
}

void fork_prepare() KM_TSA(no_thread_safety_analysis) {
  stats_lock_for_fork();
  g_grow_lock.lock();
  huge_lock_for_fork();
}
void fork_parent() KM_TSA(no_thread_safety_analysis) {
  huge_unlock_after_fork();
  g_grow_lock.unlock();
  stats_unlock_after_fork(false);
}
void fork_child() KM_TSA(no_thread_safety_analysis) {
  huge_unlock_after_fork();
  g_grow_lock.unlock();
  stats_unlock_after_fork(true);
}

[[noreturn]] void fail_init(const char* what, const char* detail) {
  platform::print("kmalloc-malloc: ");
  platform::print(what);
  platform::print(detail);
  platform::print("\n");
  _exit(127);
}

void init_once() {
  t_initializing = true;
  char error[256] = {};
  if (!parse_shim_options(std::getenv("KMALLOC_OPTIONS"), g_options, error, sizeof error))
    fail_init("KMALLOC_OPTIONS: ", error);
  g_grow_lock.init();
  const std::size_t granules = std::size_t{1} << (kAddressBits - g_options.arena_shift);
  g_arena_of =
      static_cast<std::uint16_t*>(platform::map_aligned(granules * sizeof(std::uint16_t), 4096));
  if (g_arena_of == nullptr || !add_arena())
    fail_init("cannot map the first arena", "");
  const KmallocLimits limits = heap(0).kmalloc_limits();
  g_max_cache_size = limits.max_cache_size;
  g_max_size = limits.max_size;
  // Registered after the first heap's fork hook installed the platform's handlers, so this
  // prepare runs before theirs (pthread_atfork runs prepare handlers newest first): the shim's
  // locks come before the heaps' in the lock order.
  pthread_atfork(&fork_prepare, &fork_parent, &fork_child);
  t_initializing = false;
  g_ready.store(true, std::memory_order_release);
}

// False only inside the first call's own initialisation (serve it from the bootstrap buffer).
bool ready() {
  if (__builtin_expect(g_ready.load(std::memory_order_acquire), 1))
    return true;
  if (t_initializing)
    return false;
  pthread_mutex_lock(&g_init_mutex);
  if (!g_ready.load(std::memory_order_relaxed))
    init_once();
  pthread_mutex_unlock(&g_init_mutex);
  return true;
}

// kmalloc(size) from the thread's arena, else any arena, else a new one.
void* from_arenas(std::size_t size, gfp_t gfp) {
  const unsigned mine = t_arena;
  unsigned count = g_nr_arenas.load(std::memory_order_acquire);
  if (void* p = heap(mine).kmalloc(size, gfp))
    return p;
  for (;;) {
    for (unsigned i = count; i-- > 0;) {
      if (i == mine)
        continue;
      if (void* p = heap(i).kmalloc(size, gfp)) {
        t_arena = i;
        return p;
      }
    }
    {
      platform::LockGuard guard(g_grow_lock);
      if (g_nr_arenas.load(std::memory_order_relaxed) == count && !add_arena())
        return nullptr;
    }
    const unsigned now = g_nr_arenas.load(std::memory_order_acquire);
    if (void* p = heap(now - 1).kmalloc(size, gfp)) {
      t_arena = now - 1;
      return p;
    }
    count = now;
  }
}

void* served(void* p, Path path) {
  count(p != nullptr ? path : kFailed);
  return p;
}

} // namespace

void* allocate(std::size_t size) {
  if (!ready())
    return bootstrap_alloc(size, kMinAlign);
  if (size < kMinAlign)
    size = kMinAlign; // kmalloc-8 objects are only 8-aligned; every class from 16 up is 16-aligned
  if (size > g_max_size)
    return served(huge_map(size, kMinAlign), kHuge);
  return served(from_arenas(size, kGfp), size <= g_max_cache_size ? kSlab : kLarge);
}

void* allocate_zeroed(std::size_t size) {
  if (!ready()) {
    void* p = bootstrap_alloc(size, kMinAlign);
    if (p != nullptr)
      std::memset(p, 0, size); // (bootstrap blocks are never reused, but be exact)
    return p;
  }
  if (size < kMinAlign)
    size = kMinAlign;
  if (size > g_max_size)
    return served(huge_map(size, kMinAlign), kHuge); // fresh mappings are zero
  return served(from_arenas(size, kGfp | __GFP_ZERO), size <= g_max_cache_size ? kSlab : kLarge);
}

void* allocate_aligned(std::size_t size, std::size_t alignment) {
  if (alignment <= kMinAlign)
    return allocate(size);
  if (!ready())
    return bootstrap_alloc(size, alignment);
  // Power-of-two kmalloc caches are naturally aligned (slabs are aligned to their order and
  // the stride is the size), and kmalloc_large blocks are aligned to their own size: asking for
  // max(size, alignment) rounded up to a power of two gives an object aligned to `alignment`.
  std::size_t want = size > alignment ? size : alignment;
  if (want <= g_max_cache_size && (want & (want - 1)) != 0)
    want = std::size_t{1} << (64 - __builtin_clzll(want));
  if (want > g_max_size)
    return served(huge_map(size, alignment), kHuge);
  return served(from_arenas(want, kGfp), want <= g_max_cache_size ? kSlab : kLarge);
}

void release(void* ptr) {
  if (ptr == nullptr || in_bootstrap(ptr))
    return;
  const int index = arena_index_of(ptr);
  if (index >= 0) {
    heap(static_cast<unsigned>(index)).kfree(ptr);
    return;
  }
  if (huge_unmap(ptr))
    return;
  char message[96];
  std::snprintf(message, sizeof message, "kmalloc-malloc: free(): invalid pointer %p\n", ptr);
  platform::print(message);
  platform::fatal();
}

std::size_t usable_size(const void* ptr) {
  if (ptr == nullptr)
    return 0;
  if (in_bootstrap(ptr))
    return bootstrap_size(ptr);
  const int index = arena_index_of(ptr);
  if (index >= 0)
    return heap(static_cast<unsigned>(index)).ksize(ptr);
  return huge_size(ptr);
}

void* reallocate(void* ptr, std::size_t size) {
  if (ptr == nullptr)
    return allocate(size);
  const int index = arena_index_of(ptr);
  std::size_t old_size;
  if (index >= 0) {
    Heap& h = heap(static_cast<unsigned>(index));
    old_size = h.ksize(ptr);
    // krealloc keeps the object when it is large enough, else moves it inside this arena (NULL,
    // the object untouched, when the arena is full). Unlike krealloc, a shrink to a quarter or
    // less moves, so a shrunk buffer does not pin a large block.
    const bool big_shrink = size <= old_size / 4 && old_size > 256;
    if (size <= g_max_size && !big_shrink) {
      void* moved = h.krealloc(ptr, size < kMinAlign ? kMinAlign : size, kGfp);
      if (moved != nullptr)
        return served(moved, size <= g_max_cache_size ? kSlab : kLarge);
    }
  } else if (in_bootstrap(ptr)) {
    old_size = bootstrap_size(ptr);
  } else {
    old_size = huge_size(ptr);
    if (old_size == 0)
      release(ptr); // reports the invalid pointer
    if (size <= old_size && size > old_size / 2)
      return ptr;
  }
  void* moved = allocate(size);
  if (moved == nullptr)
    return nullptr;
  std::memcpy(moved, ptr, old_size < size ? old_size : size);
  release(ptr);
  return moved;
}

unsigned nr_arenas() {
  return g_nr_arenas.load(std::memory_order_acquire);
}

Heap* arena(unsigned index) {
  return &heap(index);
}

std::size_t arena_bytes() {
  return g_options.heap.arena_size;
}

const char* stats_path() {
  return g_ready.load(std::memory_order_acquire) ? g_options.stats_path : "";
}

} // namespace km::shim
