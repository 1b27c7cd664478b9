// thread_stress_test.cpp - many threads on one heap: random mixes of every allocation and free
// call (kmalloc, kzalloc, kcalloc, krealloc, kfree, kfree_sensitive, ksize, kmem_cache_alloc,
// kmem_cache_zalloc, kmem_cache_free, alloc_pages, __get_free_pages, free_pages) from 1 to 64
// threads, with objects freed by threads other than the one that allocated them, through the C++
// km::Heap and through the C API's default heap; and the thread-exit hook, which gives an exiting
// thread's cpu slabs back.
//
// Every object carries a fill pattern derived from (thread, sequence number), checked on every
// free and krealloc (krealloc: the preserved prefix); kzalloc/kcalloc/kmem_cache_zalloc objects
// must read zero, objects of the constructor cache must hold the constructor's bytes. After the
// workers are joined the main thread frees what the cross-thread queue still holds, flushes the
// cpu slabs and checks the end state: validate() == 0, no report, every cache with
// active_objects == 0 and nr_cpu_slabs == 0 and, after kmem_cache_shrink, no slab; page_counts()
// and the free blocks (for_each_free_block) exactly as right after init (AC4).
//
// What it assumes, the thread-safety contract of km::Heap:
// - every allocation and free call on one heap may be made from any thread concurrently;
//   kmem_cache_create/destroy are serialised internally (here only the main thread calls them,
//   while no worker runs);
// - introspection (validate, cache_info, page_counts, for_each_free_block, for_each_cache) and
//   flush_cpu_slabs are exact only when no other thread is running: they are called after join,
//   or while the only other thread is parked on a condition variable;
// - a thread that exits gives back its cpu slabs (so after join, with no flush, the counters of
//   a cache only that thread used show no cpu slab);
// - Config::nr_cpus is the number of cpu slots; threads beyond it share one locked slot. Every
//   test sets nr_cpus explicitly (1 or 2).
//
// Scaling: KMALLOC_STRESS_OPS=N sets the ops each ThreadStress thread runs (default 20000);
// SixtyFourThreadsOnTwoSlots runs N/8 per thread and CApiFromThreads N/4. Each run prints one
// line with the ops it made and the objects freed by another thread than their allocator, e.g.
//   KMALLOC_STRESS_OPS=200000 build/tsan/tests/kmalloc_unit_tests --gtest_filter='*Thread*'
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdarg>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <latch>
#include <mutex>
#include <optional>
#include <ostream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "heap_test_support.h"
#include "kmalloc/heap.h"
#include "kmalloc/kmalloc.h"

namespace {

constexpr std::size_t KiB = 1024;
constexpr std::size_t MiB = 1024 * KiB;
constexpr std::size_t kDefaultOpsPerThread = 20000;
constexpr unsigned kMainThread = 0xffff; // the owner of what the main thread allocates

// The ops each ThreadStress thread runs: KMALLOC_STRESS_OPS, else kDefaultOpsPerThread.
std::size_t stress_ops_per_thread() {
  const char* text = std::getenv("KMALLOC_STRESS_OPS");
  if (text == nullptr || *text == '\0')
    return kDefaultOpsPerThread;
  char* end = nullptr;
  const unsigned long long ops = std::strtoull(text, &end, 10);
  if (*end != '\0' || ops == 0) {
    ADD_FAILURE() << "KMALLOC_STRESS_OPS must be a positive number, got '" << text << "'";
    return kDefaultOpsPerThread;
  }
  return static_cast<std::size_t>(ops);
}

__attribute__((format(printf, 1, 2))) std::string format(const char* fmt, ...) {
  char buf[512];
  va_list args;
  va_start(args, fmt);
  std::vsnprintf(buf, sizeof buf, fmt, args);
  va_end(args);
  return buf;
}

std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15u;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9u;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebu;
  return x ^ (x >> 31);
}

// A small deterministic generator (the same sequence with every standard library).
class Rng {
public:
  explicit Rng(std::uint64_t seed) : state_(seed) {}
  std::uint64_t next() { return splitmix64(state_++); }
  std::size_t below(std::size_t n) { return static_cast<std::size_t>(next() % n); }
  bool percent(unsigned p) { return below(100) < p; }

private:
  std::uint64_t state_;
};

// ---- fill patterns: word j of an object is splitmix64(key + j), key from (thread, sequence)

std::uint64_t pattern_key(unsigned thread, std::uint64_t sequence) {
  return splitmix64((std::uint64_t{thread} << 40) ^ sequence);
}

std::uint8_t pattern_byte(std::uint64_t key, std::size_t offset) {
  return static_cast<std::uint8_t>(splitmix64(key + offset / 8) >> (offset % 8 * 8));
}

// Writes the pattern of `key` into bytes [from, to) of the object at p (8-byte aligned).
void fill_pattern(void* p, std::size_t from, std::size_t to, std::uint64_t key) {
  auto* bytes = static_cast<unsigned char*>(p);
  std::size_t i = from;
  for (; i < to && i % 8 != 0; ++i)
    bytes[i] = pattern_byte(key, i);
  for (; i + 8 <= to; i += 8) {
    const std::uint64_t word = splitmix64(key + i / 8);
    std::memcpy(bytes + i, &word, sizeof word);
  }
  for (; i < to; ++i)
    bytes[i] = pattern_byte(key, i);
}

// The first offset in [0, n) whose byte is not the pattern of `key`, or n.
std::size_t pattern_mismatch(const void* p, std::size_t n, std::uint64_t key) {
  const auto* bytes = static_cast<const unsigned char*>(p);
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    std::uint64_t word;
    std::memcpy(&word, bytes + i, sizeof word);
    if (word != splitmix64(key + i / 8))
      break;
  }
  for (; i < n; ++i)
    if (bytes[i] != pattern_byte(key, i))
      return i;
  return n;
}

// The first offset in [0, n) whose byte is not `value`, or n.
std::size_t first_byte_not(const void* p, std::size_t n, unsigned char value) {
  const auto* bytes = static_cast<const unsigned char*>(p);
  for (std::size_t i = 0; i < n; ++i)
    if (bytes[i] != value)
      return i;
  return n;
}

// ---- the constructor cache: objects hold kCtorByte whenever they are free

constexpr unsigned kSmallObjectSize = 24;
constexpr unsigned kAlignedObjectSize = 700;
constexpr unsigned char kCtorByte = 0xc7;
std::atomic<std::size_t> g_ctor_calls{0};

void construct_small_object(void* object) {
  std::memset(object, kCtorByte, kSmallObjectSize);
  g_ctor_calls.fetch_add(1, std::memory_order_relaxed);
}

// ---- thread-safe recorders

// A report handler that may be called from any thread: counts, keeps the first message.
class ReportCounter {
public:
  static void handle(void* context, const km::ErrorReport& report) {
    static_cast<ReportCounter*>(context)->record(report.kind, report.message);
  }
  static void handle_c(void* arg, const kmalloc_report* report) {
    static_cast<ReportCounter*>(arg)->record(static_cast<km::ErrorKind>(report->kind),
                                             report->message);
  }
  std::size_t count() const { return count_.load(); }
  std::string first() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return first_;
  }

private:
  void record(km::ErrorKind kind, const char* message) {
    if (count_.fetch_add(1) != 0)
      return;
    std::lock_guard<std::mutex> lock(mutex_);
    first_ = std::string(km::error_kind_name(kind)) + ": " + (message != nullptr ? message : "");
  }

  std::atomic<std::size_t> count_{0};
  mutable std::mutex mutex_;
  std::string first_;
};

// Check failures of the worker threads: counted, the first few kept for the test's message.
class Failures {
public:
  void add(std::string message) {
    if (count_.fetch_add(1) >= kKept)
      return;
    std::lock_guard<std::mutex> lock(mutex_);
    messages_.push_back(std::move(message));
  }
  std::size_t count() const { return count_.load(); }
  std::string summary() const {
    std::lock_guard<std::mutex> lock(mutex_);
    std::string out = std::to_string(count_.load()) + " failed checks, the first:\n";
    for (const std::string& m : messages_)
      out += "  " + m + "\n";
    return out;
  }

private:
  static constexpr std::size_t kKept = 8;
  std::atomic<std::size_t> count_{0};
  mutable std::mutex mutex_;
  std::vector<std::string> messages_;
};

// ---- the objects the workers hold

enum class Kind : std::uint8_t { Kmalloc, SmallCache, AlignedCache, Pages };

const char* kind_name(Kind kind) {
  switch (kind) {
  case Kind::Kmalloc: return "kmalloc";
  case Kind::SmallCache: return "stress-24";
  case Kind::AlignedCache: return "stress-700";
  case Kind::Pages: return "pages";
  }
  return "?";
}

struct Object {
  Kind kind;
  unsigned order; // Kind::Pages
  unsigned owner; // the thread that allocated it
  void* ptr;
  std::size_t size; // the bytes that carry the pattern
  std::uint64_t key;
};

// Objects handed from one thread to be freed by another (std::mutex + std::deque).
class CrossThreadQueue {
public:
  // False when full (the caller keeps the object).
  bool push(const Object& object) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (objects_.size() >= kCapacity)
      return false;
    objects_.push_back(object);
    return true;
  }
  // The oldest of the first few objects that `thread` did not push, if any.
  std::optional<Object> pop_foreign(unsigned thread) {
    std::lock_guard<std::mutex> lock(mutex_);
    const std::size_t scan = std::min<std::size_t>(objects_.size(), 16);
    for (std::size_t i = 0; i < scan; ++i) {
      if (objects_[i].owner == thread)
        continue;
      const Object found = objects_[i];
      objects_.erase(objects_.begin() + static_cast<std::ptrdiff_t>(i));
      return found;
    }
    return std::nullopt;
  }
  std::deque<Object> drain() {
    std::lock_guard<std::mutex> lock(mutex_);
    return std::exchange(objects_, {});
  }

private:
  static constexpr std::size_t kCapacity = 4096;
  std::mutex mutex_;
  std::deque<Object> objects_;
};

// ---- the calls a worker makes: on a km::Heap, or through the C API's default heap

struct CppApi {
  km::Heap* heap;
  void* kmalloc(std::size_t size, gfp_t gfp) { return heap->kmalloc(size, gfp); }
  void* kzalloc(std::size_t size, gfp_t gfp) { return heap->kzalloc(size, gfp); }
  void* kcalloc(std::size_t n, std::size_t size, gfp_t gfp) { return heap->kcalloc(n, size, gfp); }
  void* krealloc(const void* p, std::size_t size, gfp_t gfp) {
    return heap->krealloc(p, size, gfp);
  }
  void kfree(const void* p) { heap->kfree(p); }
  void kfree_sensitive(const void* p) { heap->kfree_sensitive(p); }
  std::size_t ksize(const void* p) { return heap->ksize(p); }
  kmem_cache* cache_create(const char* name, unsigned size, slab_flags_t flags,
                           void (*ctor)(void*)) {
    return heap->kmem_cache_create(name, size, 0, flags, ctor);
  }
  void cache_destroy(kmem_cache* cache) { heap->kmem_cache_destroy(cache); }
  void* cache_alloc(kmem_cache* cache) { return heap->kmem_cache_alloc(cache, GFP_KERNEL); }
  void* cache_zalloc(kmem_cache* cache) { return heap->kmem_cache_zalloc(cache, GFP_KERNEL); }
  void cache_free(kmem_cache* cache, void* p) { heap->kmem_cache_free(cache, p); }
  void* alloc_pages(unsigned order) {
    struct page* page = heap->alloc_pages(GFP_KERNEL, order);
    return page != nullptr ? heap->page_address(page) : nullptr;
  }
  void* get_free_pages(unsigned order) {
    return reinterpret_cast<void*>(heap->get_free_pages(GFP_KERNEL, order));
  }
  void free_pages_by_page(void* addr, unsigned order) {
    heap->free_pages(heap->virt_to_page(addr), order);
  }
  void free_pages_by_address(void* addr, unsigned order) {
    heap->free_pages(reinterpret_cast<std::uintptr_t>(addr), order);
  }
};

struct CApi {
  void* kmalloc(std::size_t size, gfp_t gfp) { return ::kmalloc(size, gfp); }
  void* kzalloc(std::size_t size, gfp_t gfp) { return ::kzalloc(size, gfp); }
  void* kcalloc(std::size_t n, std::size_t size, gfp_t gfp) { return ::kcalloc(n, size, gfp); }
  void* krealloc(const void* p, std::size_t size, gfp_t gfp) { return ::krealloc(p, size, gfp); }
  void kfree(const void* p) { ::kfree(p); }
  void kfree_sensitive(const void* p) { ::kfree_sensitive(p); }
  std::size_t ksize(const void* p) { return ::ksize(p); }
  kmem_cache* cache_create(const char* name, unsigned size, slab_flags_t flags,
                           void (*ctor)(void*)) {
    return ::kmem_cache_create(name, size, 0, flags, ctor);
  }
  void cache_destroy(kmem_cache* cache) { ::kmem_cache_destroy(cache); }
  void* cache_alloc(kmem_cache* cache) { return ::kmem_cache_alloc(cache, GFP_KERNEL); }
  void* cache_zalloc(kmem_cache* cache) { return ::kmem_cache_zalloc(cache, GFP_KERNEL); }
  void cache_free(kmem_cache* cache, void* p) { ::kmem_cache_free(cache, p); }
  void* alloc_pages(unsigned order) {
    struct page* page = ::alloc_pages(GFP_KERNEL, order);
    return page != nullptr ? ::page_address(page) : nullptr;
  }
  void* get_free_pages(unsigned order) {
    return reinterpret_cast<void*>(::__get_free_pages(GFP_KERNEL, order));
  }
  void free_pages_by_page(void* addr, unsigned order) {
    ::__free_pages(::virt_to_page(addr), order);
  }
  void free_pages_by_address(void* addr, unsigned order) {
    ::free_pages(reinterpret_cast<unsigned long>(addr), order);
  }
};

// What every worker of one run shares. The caches are created by the main thread before the
// workers start and destroyed after they are joined.
struct Workload {
  kmem_cache* small_cache = nullptr;   // 24 bytes, with construct_small_object
  kmem_cache* aligned_cache = nullptr; // 700 bytes, SLAB_HWCACHE_ALIGN
  std::size_t page_size = 0;
  std::size_t cache_line_size = 0;
  std::size_t ops_per_thread = 0;
  CrossThreadQueue queue;
  Failures failures;
};

struct WorkerTotals {
  std::size_t ops = 0;                // allocation, krealloc and free calls made
  std::size_t cross_thread_frees = 0; // objects this thread freed that another allocated
};

// One thread's random mix. Objects it keeps are in live_; about a third of what it allocates
// goes to the shared queue for another thread to free.
template <class Api> class Worker {
public:
  Worker(Api api, Workload& workload, unsigned thread)
      : api_(api), workload_(workload), thread_(thread), rng_(thread) {}

  WorkerTotals run() {
    for (std::size_t i = 0; i < workload_.ops_per_thread; ++i)
      one_op();
    while (!live_.empty())
      release(take_live(live_.size() - 1));
    return totals_;
  }

  // Checks the object's pattern (and restores a constructed object's bytes), then frees it by
  // one of the routes its kind allows.
  void release(const Object& o) {
    ++totals_.ops;
    if (o.owner != thread_)
      ++totals_.cross_thread_frees;
    check_pattern(o, o.size, "free");
    switch (o.kind) {
    case Kind::Kmalloc:
      if (rng_.percent(20))
        api_.kfree_sensitive(o.ptr);
      else
        api_.kfree(o.ptr);
      break;
    case Kind::SmallCache:
      std::memset(o.ptr, kCtorByte, kSmallObjectSize); // the state the constructor made
      if (rng_.percent(25))
        api_.kfree(o.ptr);
      else
        api_.cache_free(workload_.small_cache, o.ptr);
      break;
    case Kind::AlignedCache:
      if (rng_.percent(25))
        api_.kfree(o.ptr);
      else
        api_.cache_free(workload_.aligned_cache, o.ptr);
      break;
    case Kind::Pages:
      if (rng_.percent(50))
        api_.free_pages_by_page(o.ptr, o.order);
      else
        api_.free_pages_by_address(o.ptr, o.order);
      break;
    }
  }

private:
  static constexpr std::size_t kMaxLiveObjects = 256;

  void one_op() {
    const std::size_t choice = rng_.below(100);
    if (live_.size() >= kMaxLiveObjects || (choice < 30 && !live_.empty()))
      release(take_live(rng_.below(live_.size())));
    else if (choice < 45)
      free_foreign();
    else if (choice < 55)
      reallocate();
    else if (choice < 80)
      allocate_kmalloc();
    else if (choice < 88)
      allocate_small();
    else if (choice < 95)
      allocate_aligned();
    else
      allocate_pages();
  }

  void fail(std::string message) {
    workload_.failures.add("thread " + std::to_string(thread_) + ": " + std::move(message));
  }

  void check_pattern(const Object& o, std::size_t bytes, const char* when) {
    const std::size_t bad = pattern_mismatch(o.ptr, bytes, o.key);
    if (bad != bytes)
      fail(format("%s: %s object %p of %zu bytes from thread %u: byte %zu is 0x%02x, the "
                  "pattern 0x%02x",
                  when, kind_name(o.kind), o.ptr, o.size, o.owner, bad,
                  static_cast<const unsigned char*>(o.ptr)[bad], pattern_byte(o.key, bad)));
  }

  Object take_live(std::size_t index) {
    const Object o = live_[index];
    live_[index] = live_.back();
    live_.pop_back();
    return o;
  }

  // Fills a new object with its pattern; keeps it, or hands it to the queue (about a third).
  void keep(Kind kind, void* ptr, std::size_t size, unsigned order = 0) {
    const Object o{kind, order, thread_, ptr, size, pattern_key(thread_, sequence_++)};
    fill_pattern(o.ptr, 0, o.size, o.key);
    ++totals_.ops;
    if (!rng_.percent(33) || !workload_.queue.push(o))
      live_.push_back(o);
  }

  void free_foreign() {
    if (const std::optional<Object> o = workload_.queue.pop_foreign(thread_))
      release(*o);
    else
      allocate_kmalloc();
  }

  // Log-uniform over 1..16384 (so about one in 15 takes the large path above 8 KiB), and one in
  // 50 between 16 KiB and 64 KiB.
  std::size_t random_kmalloc_size() {
    if (rng_.percent(2))
      return 16 * KiB + 1 + rng_.below(48 * KiB);
    const std::size_t low = std::size_t{1} << rng_.below(15);
    return std::min<std::size_t>(16 * KiB, low + rng_.below(low));
  }

  void allocate_kmalloc() {
    std::size_t size = random_kmalloc_size();
    gfp_t gfp = GFP_KERNEL;
    if (rng_.percent(5))
      gfp |= __GFP_RECLAIMABLE;
    else if (rng_.percent(3))
      gfp |= GFP_DMA;
    const std::size_t how = rng_.below(100);
    void* p = nullptr;
    bool zeroed = true;
    if (how < 15) {
      p = api_.kzalloc(size, gfp);
    } else if (how < 25) {
      const std::size_t n = (size + 7) / 8;
      size = n * 8;
      p = api_.kcalloc(n, 8, gfp);
    } else {
      p = api_.kmalloc(size, gfp);
      zeroed = false;
    }
    if (p == nullptr) {
      fail(format("kmalloc(%zu, %#x) returned NULL", size, gfp));
      return;
    }
    const auto addr = reinterpret_cast<std::uintptr_t>(p);
    if (addr % 8 != 0 || ((size & (size - 1)) == 0 && addr % size != 0))
      fail(format("kmalloc(%zu) returned %p, misaligned", size, p));
    if (const std::size_t usable = api_.ksize(p); usable < size)
      fail(format("ksize(kmalloc(%zu)) is %zu", size, usable));
    if (const std::size_t bad = zeroed ? first_byte_not(p, size, 0) : size; bad != size)
      fail(format("kzalloc/kcalloc(%zu): byte %zu is not zero", size, bad));
    keep(Kind::Kmalloc, p, size);
  }

  // krealloc of one of this thread's kmalloc objects: the whole object is checked first, the
  // preserved prefix after, and the grown part gets the rest of the pattern.
  void reallocate() {
    std::optional<std::size_t> victim;
    for (int tries = 0; tries < 4 && !victim && !live_.empty(); ++tries)
      if (const std::size_t i = rng_.below(live_.size()); live_[i].kind == Kind::Kmalloc)
        victim = i;
    if (!victim) {
      allocate_kmalloc();
      return;
    }
    Object& o = live_[*victim];
    check_pattern(o, o.size, "before krealloc");
    const std::size_t new_size = rng_.percent(50)
                                     ? std::min<std::size_t>(64 * KiB, o.size * 2 + rng_.below(64))
                                     : 1 + rng_.below(o.size);
    void* q = api_.krealloc(o.ptr, new_size, GFP_KERNEL);
    ++totals_.ops;
    if (q == nullptr) {
      fail(format("krealloc(%p, %zu) returned NULL", o.ptr, new_size));
      return; // o is left intact
    }
    if (new_size <= o.size && q != o.ptr)
      fail(format("krealloc shrinking %zu to %zu moved %p to %p", o.size, new_size, o.ptr, q));
    o.ptr = q;
    check_pattern(o, std::min(o.size, new_size), "after krealloc");
    if (new_size > o.size)
      fill_pattern(q, o.size, new_size, o.key);
    o.size = new_size;
  }

  void allocate_small() {
    void* p = api_.cache_alloc(workload_.small_cache);
    if (p == nullptr) {
      fail("kmem_cache_alloc(stress-24) returned NULL");
      return;
    }
    if (const std::size_t bad = first_byte_not(p, kSmallObjectSize, kCtorByte);
        bad != kSmallObjectSize)
      fail(format("stress-24 object %p: byte %zu is not the constructor's", p, bad));
    keep(Kind::SmallCache, p, kSmallObjectSize);
  }

  void allocate_aligned() {
    const bool zeroed = rng_.percent(20);
    void* p = zeroed ? api_.cache_zalloc(workload_.aligned_cache)
                     : api_.cache_alloc(workload_.aligned_cache);
    if (p == nullptr) {
      fail("kmem_cache_alloc(stress-700) returned NULL");
      return;
    }
    if (reinterpret_cast<std::uintptr_t>(p) % workload_.cache_line_size != 0)
      fail(format("stress-700 object %p is not cache-line aligned", p));
    if (const std::size_t bad =
            zeroed ? first_byte_not(p, kAlignedObjectSize, 0) : kAlignedObjectSize;
        bad != kAlignedObjectSize)
      fail(format("kmem_cache_zalloc(stress-700) %p: byte %zu is not zero", p, bad));
    keep(Kind::AlignedCache, p, kAlignedObjectSize);
  }

  void allocate_pages() {
    const auto order = static_cast<unsigned>(rng_.below(3));
    void* p = rng_.percent(50) ? api_.alloc_pages(order) : api_.get_free_pages(order);
    if (p == nullptr) {
      fail(format("alloc_pages(order %u) returned NULL", order));
      return;
    }
    const std::size_t bytes = workload_.page_size << order;
    if (reinterpret_cast<std::uintptr_t>(p) % bytes != 0)
      fail(format("alloc_pages(order %u) returned %p, not naturally aligned", order, p));
    keep(Kind::Pages, p, bytes, order);
  }

  Api api_;
  Workload& workload_;
  unsigned thread_;
  Rng rng_;
  std::uint64_t sequence_ = 0;
  std::vector<Object> live_;
  WorkerTotals totals_;
};

struct RunTotals {
  std::size_t ops = 0;
  std::size_t cross_thread_frees = 0; // by workers, and by the main thread after join
  std::size_t freed_after_join = 0;   // what the main thread drained from the queue
};

// Creates the two caches the workers share, with the main thread, before any worker starts.
template <class Api> void create_caches(Api api, Workload& workload) {
  workload.small_cache = api.cache_create("stress-24", kSmallObjectSize, 0, construct_small_object);
  workload.aligned_cache =
      api.cache_create("stress-700", kAlignedObjectSize, SLAB_HWCACHE_ALIGN, nullptr);
}

// Runs `threads` workers (thread index = seed), started together; after join the main thread
// frees what is left in the queue. Prints the totals on one line.
template <class Api> RunTotals run_workers(Api api, Workload& workload, unsigned threads) {
  std::vector<WorkerTotals> per_thread(threads);
  {
    std::latch start(threads);
    std::vector<std::thread> pool;
    pool.reserve(threads);
    for (unsigned t = 0; t < threads; ++t)
      pool.emplace_back([&, t] {
        Worker<Api> worker(api, workload, t);
        start.arrive_and_wait();
        per_thread[t] = worker.run();
      });
    for (std::thread& thread : pool)
      thread.join();
  }
  RunTotals totals;
  for (const WorkerTotals& t : per_thread) {
    totals.ops += t.ops;
    totals.cross_thread_frees += t.cross_thread_frees;
  }
  Worker<Api> main_thread(api, workload, kMainThread);
  for (const Object& o : workload.queue.drain()) {
    main_thread.release(o);
    ++totals.ops;
    ++totals.cross_thread_frees;
    ++totals.freed_after_join;
  }
  std::printf("[  stress  ] %u threads, %zu ops each: %zu ops, %zu cross-thread frees (%zu by the "
              "main thread after join)\n",
              threads, workload.ops_per_thread, totals.ops, totals.cross_thread_frees,
              totals.freed_after_join);
  std::fflush(stdout);
  return totals;
}

std::vector<kmem_cache*> all_caches(const km::Heap& heap) {
  std::vector<kmem_cache*> out;
  heap.for_each_cache(
      [](void* context, const kmem_cache* cache) {
        // The handles for_each_cache gives are the heap's own caches, so shrinking them is fine.
        static_cast<std::vector<kmem_cache*>*>(context)->push_back(const_cast<kmem_cache*>(cache));
      },
      &out);
  return out;
}

// The heap's state right after init, which the end state must equal.
struct InitialState {
  km::PageCounts counts;
  std::vector<kmtest::Block> free_blocks;
  static InitialState of(const km::Heap& heap) {
    return InitialState{heap.page_counts(), kmtest::free_blocks(heap)};
  }
};

// The end state of the contract, once every worker is joined and every object freed: after
// flush_cpu_slabs no cache has an active object or a cpu slab, kmem_cache_shrink leaves no slab,
// the heap validates, the page counts and free blocks are those right after init, and no report
// arrived.
void expect_clean_end_state(km::Heap& heap, const InitialState& initial,
                            const ReportCounter& reports) {
  heap.flush_cpu_slabs();
  EXPECT_EQ(heap.validate(), 0u) << "after flush_cpu_slabs";
  const std::vector<kmem_cache*> caches = all_caches(heap);
  EXPECT_FALSE(caches.empty());
  for (kmem_cache* cache : caches) {
    const km::CacheInfo info = heap.cache_info(cache);
    EXPECT_EQ(info.active_objects, 0u) << info.name;
    EXPECT_EQ(info.total_objects - info.free_objects, 0u) << info.name << ": objects in use";
    EXPECT_EQ(info.nr_cpu_slabs, 0u) << info.name;
  }
  for (kmem_cache* cache : caches) {
    EXPECT_EQ(heap.kmem_cache_shrink(cache), 0) << heap.cache_info(cache).name;
    EXPECT_EQ(heap.cache_info(cache).nr_slabs, 0u) << heap.cache_info(cache).name;
  }
  EXPECT_EQ(heap.validate(), 0u) << "after kmem_cache_shrink";
  EXPECT_EQ(heap.page_counts(), initial.counts);
  const std::vector<kmtest::Block> blocks = kmtest::free_blocks(heap);
  EXPECT_TRUE(blocks == initial.free_blocks)
      << "the free blocks are not those right after init (AC4): " << blocks.size() << " blocks, "
      << initial.free_blocks.size() << " after init";
  EXPECT_EQ(reports.count(), 0u) << "first report: " << reports.first();
}

km::Config stress_config(unsigned nr_cpus) {
  km::Config cfg;
  cfg.profile = km::Profile::Linux6;
  cfg.arena_size = 64 * MiB;
  cfg.nr_cpus = nr_cpus;
  cfg.random_seed = 0x5eed;
  return cfg;
}

// A km::Heap with the recording handler, and its state right after init.
struct StressHeap {
  km::Heap heap;
  ReportCounter reports;
  InitialState initial;

  explicit StressHeap(unsigned nr_cpus) {
    heap.set_report_handler(ReportCounter::handle, &reports);
    const km::Status st = heap.init(stress_config(nr_cpus));
    EXPECT_TRUE(st.ok) << st.message;
    if (st.ok)
      initial = InitialState::of(heap);
  }
};

// Builds the workload over `heap` (caches created by this, the main thread), runs it on
// `threads` threads, and checks every object, the end state and the caches' destruction.
void stress_heap(unsigned threads, unsigned nr_cpus, std::size_t ops_per_thread) {
  StressHeap h(nr_cpus);
  ASSERT_TRUE(h.heap.initialized());
  ASSERT_EQ(h.heap.config().nr_cpus, nr_cpus);
  CppApi api{&h.heap};
  Workload workload;
  workload.page_size = h.heap.page_size();
  workload.cache_line_size = h.heap.config().cache_line_size;
  workload.ops_per_thread = ops_per_thread;
  create_caches(api, workload);
  ASSERT_NE(workload.small_cache, nullptr);
  ASSERT_NE(workload.aligned_cache, nullptr);
  // The constructor's bytes survive kmem_cache_free only with the free pointer past the object.
  ASSERT_GE(h.heap.cache_info(workload.small_cache).offset, kSmallObjectSize);

  const std::size_t ctor_calls_before = g_ctor_calls.load();
  const RunTotals totals = run_workers(api, workload, threads);
  EXPECT_EQ(workload.failures.count(), 0u) << workload.failures.summary();
  EXPECT_GT(g_ctor_calls.load(), ctor_calls_before) << "stress-24's constructor never ran";
  EXPECT_GE(totals.ops, threads * ops_per_thread);
  if (threads > 1) {
    EXPECT_GT(totals.cross_thread_frees, totals.freed_after_join) << "no worker freed another's";
  }
  expect_clean_end_state(h.heap, h.initial, h.reports);
  api.cache_destroy(workload.small_cache);
  api.cache_destroy(workload.aligned_cache);
  EXPECT_EQ(h.reports.count(), 0u) << "first report: " << h.reports.first();
}

// ---- 1. ThreadStress/<threads>_<nr_cpus>: the random mix on 1..8 threads

struct StressShape {
  unsigned threads;
  unsigned nr_cpus;
};

std::ostream& operator<<(std::ostream& os, const StressShape& shape) {
  return os << shape.threads << " threads, nr_cpus " << shape.nr_cpus;
}

class ThreadStress : public testing::TestWithParam<StressShape> {};

TEST_P(ThreadStress, RandomMixWithCrossThreadFrees) {
  stress_heap(GetParam().threads, GetParam().nr_cpus, stress_ops_per_thread());
}

// nr_cpus 2 with 1 (single-threaded, runnable before the heap is thread-safe), 2 (a slot each),
// 4 and 8 threads (2 and 6 on the shared slot); nr_cpus 1 with 4 threads (3 on the shared slot).
INSTANTIATE_TEST_SUITE_P(Shapes, ThreadStress,
                         testing::Values(StressShape{1, 2}, StressShape{2, 2}, StressShape{4, 2},
                                         StressShape{8, 2}, StressShape{4, 1}),
                         [](const testing::TestParamInfo<StressShape>& info) {
                           return "Threads" + std::to_string(info.param.threads) + "_Cpus" +
                                  std::to_string(info.param.nr_cpus);
                         });

// ---- 2. 64 threads on 2 cpu slots: 62 of them share the overflow slot

TEST(ThreadStressOverflow, SixtyFourThreadsOnTwoSlots) {
  stress_heap(64, 2, std::max<std::size_t>(stress_ops_per_thread() / 8, 1));
}

// ---- 3. the thread-exit hook

// Lets a worker wait, after its heap calls, until the main thread has looked at the heap.
class Handshake {
public:
  void signal_parked() { set(parked_); }
  void wait_parked() { wait(parked_); }
  void allow_exit() { set(may_exit_); }
  void wait_allowed_to_exit() { wait(may_exit_); }

private:
  void set(bool& flag) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      flag = true;
    }
    cv_.notify_all();
  }
  void wait(bool& flag) {
    std::unique_lock<std::mutex> lock(mutex_);
    cv_.wait(lock, [&flag] { return flag; });
  }
  std::mutex mutex_;
  std::condition_variable cv_;
  bool parked_ = false;
  bool may_exit_ = false;
};

// A worker allocates three slabs' worth of a cache the main thread only created, frees them all
// and exits. While it is parked (not running), its cpu slab is visible; after join, with no
// flush, nothing of it is left: no cpu slab, no active object.
TEST(ThreadExit, ExitingThreadReturnsItsCpuSlab) {
  StressHeap h(2);
  ASSERT_TRUE(h.heap.initialized());
  ASSERT_EQ(h.heap.config().nr_cpus, 2u);
  kmem_cache* cache = h.heap.kmem_cache_create("exit-256", 256, 0, 0, nullptr);
  ASSERT_NE(cache, nullptr);
  const unsigned per_slab = h.heap.cache_info(cache).objects_per_slab;
  ASSERT_GT(per_slab, 1u);

  Failures failures;
  Handshake handshake;
  std::thread worker([&] {
    std::vector<void*> objects;
    for (unsigned i = 0; i < 3 * per_slab + 1; ++i) {
      void* p = h.heap.kmem_cache_alloc(cache, GFP_KERNEL);
      if (p == nullptr) {
        failures.add("kmem_cache_alloc returned NULL");
        break;
      }
      fill_pattern(p, 0, 256, pattern_key(1, i));
      objects.push_back(p);
    }
    for (std::size_t i = objects.size(); i-- > 0;) {
      if (pattern_mismatch(objects[i], 256, pattern_key(1, i)) != 256)
        failures.add(format("object %zu lost its pattern", i));
      h.heap.kmem_cache_free(cache, objects[i]);
    }
    handshake.signal_parked();
    handshake.wait_allowed_to_exit();
  });
  handshake.wait_parked();
  // The worker makes no call now (the mutex orders its calls before these reads).
  const km::CacheInfo parked = h.heap.cache_info(cache);
  EXPECT_EQ(parked.nr_cpu_slabs, 1u) << "the worker's cpu slab, before it exits";
  EXPECT_GT(parked.active_objects, 0u) << "the objects of the worker's cpu slab count as active";
  handshake.allow_exit();
  worker.join();

  EXPECT_EQ(failures.count(), 0u) << failures.summary();
  const km::CacheInfo after_exit = h.heap.cache_info(cache); // no flush
  EXPECT_EQ(after_exit.nr_cpu_slabs, 0u) << "a cpu slab stranded by the exited thread";
  EXPECT_EQ(after_exit.active_objects, 0u);
  EXPECT_EQ(after_exit.total_objects - after_exit.free_objects, 0u);
  EXPECT_EQ(h.heap.validate(), 0u);
  expect_clean_end_state(h.heap, h.initial, h.reports);
  h.heap.kmem_cache_destroy(cache);
  EXPECT_EQ(h.reports.count(), 0u) << "first report: " << h.reports.first();
}

// A worker allocates a slab and a half and exits without freeing: after join (no flush) its cpu
// slab is back on the lists with the live objects counted; the main thread checks and frees them.
TEST(ThreadExit, ObjectsOfAnExitedThreadAreFreedByAnother) {
  StressHeap h(2);
  ASSERT_TRUE(h.heap.initialized());
  ASSERT_EQ(h.heap.config().nr_cpus, 2u);
  kmem_cache* cache = h.heap.kmem_cache_create("exit-128", 128, 0, 0, nullptr);
  ASSERT_NE(cache, nullptr);
  const unsigned per_slab = h.heap.cache_info(cache).objects_per_slab;
  ASSERT_GT(per_slab, 1u);
  const std::size_t live = per_slab + per_slab / 2;

  std::vector<void*> objects;
  std::thread worker([&] {
    for (std::size_t i = 0; i < live; ++i) {
      void* p = h.heap.kmem_cache_alloc(cache, GFP_KERNEL);
      if (p == nullptr)
        break;
      fill_pattern(p, 0, 128, pattern_key(2, i));
      objects.push_back(p);
    }
  });
  worker.join();
  ASSERT_EQ(objects.size(), live);

  const km::CacheInfo after_exit = h.heap.cache_info(cache); // no flush
  EXPECT_EQ(after_exit.nr_cpu_slabs, 0u) << "a cpu slab stranded by the exited thread";
  EXPECT_EQ(after_exit.active_objects, live);
  EXPECT_EQ(after_exit.total_objects - after_exit.free_objects, live);
  EXPECT_EQ(h.heap.validate(), 0u);
  for (std::size_t i = 0; i < objects.size(); ++i) {
    EXPECT_EQ(pattern_mismatch(objects[i], 128, pattern_key(2, i)), 128u) << "object " << i;
    h.heap.kmem_cache_free(cache, objects[i]);
  }
  expect_clean_end_state(h.heap, h.initial, h.reports);
  h.heap.kmem_cache_destroy(cache);
  EXPECT_EQ(h.reports.count(), 0u) << "first report: " << h.reports.first();
}

// ---- 4. the C API's default heap from 4 threads

// Resets the default heap and the C report handler when the test ends, however it ends.
struct DefaultHeapReset {
  DefaultHeapReset() { km::reset_c_api_heap(); }
  ~DefaultHeapReset() {
    km::reset_c_api_heap();
    kmalloc_set_report_handler(nullptr, nullptr);
  }
};

void stress_c_api(unsigned threads, std::size_t ops_per_thread) {
  ReportCounter reports; // outlives `reset`, which restores the default handler
  const DefaultHeapReset reset;
  kmalloc_set_report_handler(ReportCounter::handle_c, &reports);
  ASSERT_EQ(kmalloc_init("arena=64M,nr_cpus=2"), 0);
  km::Heap& heap = km::c_api_heap();
  ASSERT_EQ(heap.config().nr_cpus, 2u);
  ASSERT_EQ(heap.config().profile, km::Profile::Linux6);
  const InitialState initial = InitialState::of(heap);

  CApi api;
  Workload workload;
  workload.page_size = heap.page_size();
  workload.cache_line_size = heap.config().cache_line_size;
  workload.ops_per_thread = ops_per_thread;
  create_caches(api, workload);
  ASSERT_NE(workload.small_cache, nullptr);
  ASSERT_NE(workload.aligned_cache, nullptr);
  ASSERT_GE(heap.cache_info(workload.small_cache).offset, kSmallObjectSize);

  const std::size_t ctor_calls_before = g_ctor_calls.load();
  const RunTotals totals = run_workers(api, workload, threads);
  EXPECT_EQ(workload.failures.count(), 0u) << workload.failures.summary();
  EXPECT_GT(g_ctor_calls.load(), ctor_calls_before) << "stress-24's constructor never ran";
  EXPECT_GE(totals.ops, threads * ops_per_thread);
  expect_clean_end_state(heap, initial, reports);
  EXPECT_EQ(kmalloc_validate(), 0);
  api.cache_destroy(workload.small_cache);
  api.cache_destroy(workload.aligned_cache);
  EXPECT_EQ(reports.count(), 0u) << "first report: " << reports.first();
}

TEST(ThreadStressCApi, CApiFromThreads) {
  stress_c_api(4, std::max<std::size_t>(stress_ops_per_thread() / 4, 1));
}

} // namespace

// The debug counter of the fast paths (Heap::slot_path_stats): on a thread's own cpu slab an
// alloc and a free take no lock; so does a free from another thread (a remote free) to a cpu
// slab or to a partial slab that keeps objects, and the refill that takes those frees back. A
// remote free that moves a slab off the full list takes list_lock.
TEST(SlotPaths, OwnCpuSlabAndRemoteFreesTakeNoLockListChangesDo) {
  StressHeap h(2);
  ASSERT_TRUE(h.heap.initialized());
  kmem_cache* cache = h.heap.kmem_cache_create("paths-64", 64, 0, 0, nullptr);
  ASSERT_NE(cache, nullptr);
  void* first = h.heap.kmem_cache_alloc(cache, GFP_KERNEL); // a new slab: the locked path
  ASSERT_NE(first, nullptr);
  const km::SlotPathStats before = h.heap.slot_path_stats();
  for (int i = 0; i < 10; ++i) {
    void* p = h.heap.kmem_cache_alloc(cache, GFP_KERNEL);
    ASSERT_NE(p, nullptr);
    h.heap.kmem_cache_free(cache, p);
  }
  const km::SlotPathStats pairs = h.heap.slot_path_stats();
  EXPECT_EQ(pairs.fast_allocs - before.fast_allocs, 10u);
  EXPECT_EQ(pairs.fast_frees - before.fast_frees, 10u);
  EXPECT_EQ(pairs.locked_allocs - before.locked_allocs, 0u);
  EXPECT_EQ(pairs.locked_frees - before.locked_frees, 0u);
  std::thread other([&] { h.heap.kmem_cache_free(cache, first); }); // main's cpu slab
  other.join();
  const km::SlotPathStats remote = h.heap.slot_path_stats();
  EXPECT_EQ(remote.remote_frees - pairs.remote_frees, 1u);
  EXPECT_EQ(remote.locked_frees - pairs.locked_frees, 0u);
  EXPECT_EQ(remote.fast_frees - pairs.fast_frees, 0u);
  // Every object of the first slab: its cpu freelist, then the remote free taken back without
  // a lock; one more deactivates it (full list) and freezes a new slab (locked).
  const unsigned n = h.heap.cache_info(cache).objects_per_slab;
  std::vector<void*> objs;
  for (unsigned i = 0; i <= n; ++i)
    objs.push_back(h.heap.kmem_cache_alloc(cache, GFP_KERNEL));
  const km::SlotPathStats filled = h.heap.slot_path_stats();
  EXPECT_EQ(filled.fast_allocs - remote.fast_allocs, n);
  EXPECT_EQ(filled.locked_allocs - remote.locked_allocs, 1u);
  EXPECT_EQ(h.heap.cache_info(cache).nr_full, 1u);
  std::thread frees([&] {
    h.heap.kmem_cache_free(cache, objs[0]); // full -> partial: list_lock
    h.heap.kmem_cache_free(cache, objs[1]); // stays partial: lock-free
  });
  frees.join();
  const km::SlotPathStats moved = h.heap.slot_path_stats();
  EXPECT_EQ(moved.locked_frees - filled.locked_frees, 1u);
  EXPECT_EQ(moved.remote_frees - filled.remote_frees, 1u);
  EXPECT_EQ(h.heap.cache_info(cache).nr_full, 0u);
  for (unsigned i = 2; i <= n; ++i)
    h.heap.kmem_cache_free(cache, objs[i]);
  h.heap.flush_cpu_slabs();
  h.heap.kmem_cache_destroy(cache);
  EXPECT_EQ(h.reports.count(), 0u) << "first report: " << h.reports.first();
}
