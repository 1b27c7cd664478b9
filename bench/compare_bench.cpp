// bench/compare_bench.cpp - the same allocation workloads against one allocator per process, for
// bench/compare.sh, which runs this program once per allocator and repetition and prints the
// table of medians (bench/compare_table.py).
//
// Which allocator is measured is decided outside the program, so that every one is called out of
// line, through the PLT, with no inlining advantage:
//   --api=malloc   (default) malloc/free/malloc_usable_size: glibc's, or whichever allocator
//                  LD_PRELOAD puts first (jemalloc, mimalloc, tcmalloc_minimal, our shim
//                  libkmalloc-malloc.so). The program reports where malloc resolved
//                  ("malloc_from") so that compare.sh can check the preload took.
//   --api=kmalloc  kmalloc/kfree/ksize of libkmalloc.so (the shared library, not the static
//                  archive), default heap built by kmalloc_init(--kmalloc-options, default
//                  "profile=linux-6,arena=256M,dma=0": room for 4 threads of mixed).
// Modes:
//   (no mode)          Google Benchmark over the workloads below; flags after ours go to it.
//   --rss=mixed|mixed_prefill
//                      one run of that mixed program, no Google Benchmark, prints key=value lines:
//                      VmHWM (reset by /proc/self/clear_refs after setup when the kernel allows),
//                      the RSS before and after, the live objects' usable size at the peak of live
//                      requested bytes, and for --api=kmalloc kmalloc_stats()'s metadata.
//   --kernel=PROFILE   the kernel-style calls of the C API on kmalloc_init("profile=PROFILE"):
//                      kmem_cache_alloc/free of a 64-byte cache, alloc_pages/__free_pages at
//                      orders 0 and 3, and a kmalloc/kfree pair at every kmalloc-* cache's size
//                      (read from kmalloc_slabinfo()).
// Workloads (each object's first byte is written once after it is allocated):
//   pair/S             malloc(S) + free, S = 8 .. 8192, and large/S for 16 KiB, 64 KiB, 1 MiB
//   batch/S/order      100,000 objects of S bytes allocated, then freed in allocation order
//                      (in_order) or in a fixed random order (random)
//   mixed              1,000,000 ops: alloc (log-uniform 8..8192 B) or free of a random live
//                      object with probability 1/2 each, at most 10,000 live (fixed seed);
//                      mixed_prefill starts from 5,000 live objects (allocated untimed)
//   threads/T/mixed    the mixed program on each of T threads (its own seed), aggregate ops/s
//   threads/T/cross    the same, but each thread hands the objects it allocates to the next thread
//                      through a single-producer ring and frees what the previous one handed it
//                      (a local live object when its ring is empty); the "remote_frees"
//                      counter says how many were remote (most, when the threads run at once)
// The "ops" counter is the number of operations per iteration: a pair or a batch object is one op
// (one alloc + one free), a mixed op is one alloc or one free; "cpu_s" is the timed region's
// thread CPU time per iteration of the manual-time workloads. compare_table.py divides the CPU
// time (or the wall time: thread rows, --time real) by "ops". Assumes Linux (/proc/self/status,
// clear_refs, mmap) and glibc's malloc_usable_size.
#include <benchmark/benchmark.h>
#include <dlfcn.h>
#include <malloc.h>
#include <sys/mman.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "kmalloc/kmalloc.h"

namespace {

using Clock = std::chrono::steady_clock;

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "compare_bench: %s\n", what);
  std::exit(1);
}

// ---- the allocators, each called out of line (PLT calls into a shared library)

struct MallocApi {
  static void* alloc(std::size_t n) { return malloc(n); }
  static void release(void* p) { free(p); }
  static std::size_t usable(void* p) { return malloc_usable_size(p); }
};

struct KmallocApi {
  static void* alloc(std::size_t n) { return kmalloc(n, GFP_KERNEL); }
  static void release(void* p) { kfree(p); }
  static std::size_t usable(void* p) { return ksize(p); }
};

template <class Api> inline void* alloc_touched(std::size_t n) {
  void* p = Api::alloc(n);
  if (p == nullptr)
    die("allocation failed");
  *static_cast<volatile unsigned char*>(p) = 1;
  return p;
}

// ---- memory for the benchmark's own arrays: mmap, so that no allocator under test holds them
// (and they weigh the same in every process's RSS).

template <class T> class MappedArray {
public:
  MappedArray() = default;
  explicit MappedArray(std::size_t n) : n_(n), bytes_(std::max<std::size_t>(n * sizeof(T), 1)) {
    void* p = mmap(nullptr, bytes_, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (p == MAP_FAILED)
      die("mmap failed");
    data_ = static_cast<T*>(p);
  }
  MappedArray(const MappedArray&) = delete;
  MappedArray& operator=(const MappedArray&) = delete;
  MappedArray(MappedArray&& o) noexcept { *this = std::move(o); }
  MappedArray& operator=(MappedArray&& o) noexcept {
    std::swap(data_, o.data_);
    std::swap(n_, o.n_);
    std::swap(bytes_, o.bytes_);
    return *this;
  }
  ~MappedArray() {
    if (data_ != nullptr)
      munmap(data_, bytes_);
  }
  T* data() const { return data_; }
  std::size_t size() const { return n_; }
  T& operator[](std::size_t i) const { return data_[i]; }

private:
  T* data_ = nullptr;
  std::size_t n_ = 0;
  std::size_t bytes_ = 0;
};

// ---- the programs: generated before timing, so the timed loops only call the allocator

struct Rng {
  std::uint64_t s;
  std::uint64_t next() { // splitmix64
    std::uint64_t z = (s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  double unit() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  std::uint32_t log_uniform_size() { // 8 .. 8192, uniform in log2
    const auto s = static_cast<std::uint32_t>(std::exp2(3.0 + 10.0 * unit()));
    return std::clamp<std::uint32_t>(s, 8, 8192);
  }
};

constexpr std::size_t kMixedOps = 1'000'000;
constexpr std::size_t kMaxLive = 10'000;
constexpr std::size_t kPrefill = 5'000;
constexpr std::uint32_t kFreeBit = 1u << 31; // op: free live[op & ~kFreeBit]; else alloc op bytes

struct Program {
  MappedArray<std::uint32_t> prefill; // sizes allocated untimed first
  MappedArray<std::uint32_t> ops;
  std::size_t peak_op = 0;       // ops done when the live requested bytes peak
  std::size_t peak_live = 0;     // live objects then
  std::size_t peak_bytes = 0;    // live requested bytes then
  std::size_t max_live_seen = 0; // the most live objects at any point
};

Program make_mixed(std::uint64_t seed, std::size_t prefill) {
  Program p;
  Rng rng{seed};
  p.prefill = MappedArray<std::uint32_t>(prefill);
  p.ops = MappedArray<std::uint32_t>(kMixedOps);
  std::vector<std::uint32_t> live; // the sizes of the live objects, as the run will hold them
  live.reserve(kMaxLive);
  std::size_t bytes = 0;
  for (std::size_t i = 0; i < prefill; ++i) {
    p.prefill[i] = rng.log_uniform_size();
    live.push_back(p.prefill[i]);
    bytes += p.prefill[i];
  }
  p.peak_bytes = bytes;
  p.peak_live = live.size();
  for (std::size_t i = 0; i < kMixedOps; ++i) {
    const bool alloc = live.empty() || (live.size() < kMaxLive && (rng.next() & 1) != 0);
    if (alloc) {
      const std::uint32_t s = rng.log_uniform_size();
      p.ops[i] = s;
      live.push_back(s);
      bytes += s;
    } else {
      const auto idx = static_cast<std::uint32_t>(rng.next() % live.size());
      p.ops[i] = kFreeBit | idx;
      bytes -= live[idx];
      live[idx] = live.back();
      live.pop_back();
    }
    p.max_live_seen = std::max(p.max_live_seen, live.size());
    if (bytes > p.peak_bytes) {
      p.peak_bytes = bytes;
      p.peak_op = i + 1;
      p.peak_live = live.size();
    }
  }
  return p;
}

// One program per (stream, prefill), made once per process.
const Program& mixed_program(unsigned stream, bool prefilled) {
  static std::unique_ptr<Program> cache[2][8];
  std::unique_ptr<Program>& slot = cache[prefilled ? 1 : 0][stream];
  if (!slot)
    slot = std::make_unique<Program>(
        make_mixed(0x6b6d616c6c6f63ull + stream, prefilled ? kPrefill : 0));
  return *slot;
}

template <class Api>
void run_ops(const std::uint32_t* ops, std::size_t n, void** live, std::size_t& nlive) {
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint32_t v = ops[i];
    if ((v & kFreeBit) != 0) {
      const std::uint32_t idx = v & ~kFreeBit;
      void* p = live[idx];
      live[idx] = live[--nlive];
      Api::release(p);
    } else {
      live[nlive++] = alloc_touched<Api>(v);
    }
  }
}

template <class Api> void prefill(const Program& prog, void** live, std::size_t& nlive) {
  for (std::size_t i = 0; i < prog.prefill.size(); ++i)
    live[nlive++] = alloc_touched<Api>(prog.prefill[i]);
}

template <class Api> void free_all(void** live, std::size_t& nlive) {
  while (nlive > 0)
    Api::release(live[--nlive]);
}

double seconds_since(Clock::time_point t0, Clock::time_point t1) {
  return std::chrono::duration<double>(t1 - t0).count();
}

// The calling thread's CPU time (user + system), in seconds: what the single-threaded rows of the
// table use, since the machine may be shared.
double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

// ---- workloads

template <class Api> void BM_Pair(benchmark::State& state, std::size_t size) {
  for (auto _ : state) {
    void* p = alloc_touched<Api>(size);
    benchmark::DoNotOptimize(p);
    Api::release(p);
  }
  state.counters["ops"] = 1;
}

constexpr std::size_t kBatch = 100'000;

template <class Api> void BM_Batch(benchmark::State& state, std::size_t size, bool random) {
  MappedArray<void*> objs(kBatch);
  MappedArray<std::uint32_t> order(kBatch);
  for (std::size_t i = 0; i < kBatch; ++i)
    order[i] = static_cast<std::uint32_t>(i);
  if (random) {
    Rng rng{0x626174636800ull + size};
    for (std::size_t i = kBatch - 1; i > 0; --i)
      std::swap(order[i], order[rng.next() % (i + 1)]);
  }
  double cpu = 0;
  for (auto _ : state) {
    const double c0 = thread_cpu_seconds();
    const Clock::time_point t0 = Clock::now();
    for (std::size_t i = 0; i < kBatch; ++i)
      objs[i] = alloc_touched<Api>(size);
    for (std::size_t i = 0; i < kBatch; ++i)
      Api::release(objs[order[i]]);
    state.SetIterationTime(seconds_since(t0, Clock::now()));
    cpu += thread_cpu_seconds() - c0;
  }
  state.counters["ops"] = kBatch;
  state.counters["cpu_s"] = benchmark::Counter(cpu, benchmark::Counter::kAvgIterations);
}

template <class Api> void BM_Mixed(benchmark::State& state, bool prefilled) {
  const Program& prog = mixed_program(0, prefilled);
  MappedArray<void*> live(kMaxLive);
  double cpu = 0;
  for (auto _ : state) {
    std::size_t nlive = 0;
    prefill<Api>(prog, live.data(), nlive);
    const double c0 = thread_cpu_seconds();
    const Clock::time_point t0 = Clock::now();
    run_ops<Api>(prog.ops.data(), prog.ops.size(), live.data(), nlive);
    state.SetIterationTime(seconds_since(t0, Clock::now()));
    cpu += thread_cpu_seconds() - c0;
    free_all<Api>(live.data(), nlive);
  }
  state.counters["ops"] = static_cast<double>(kMixedOps);
  state.counters["cpu_s"] = benchmark::Counter(cpu, benchmark::Counter::kAvgIterations);
}

// A single-producer single-consumer ring: thread t allocates into ring t, frees from ring t-1.
constexpr std::size_t kRing = 1024;
struct alignas(64) Ring {
  std::atomic<std::uint64_t> head{0};             // written by the producer
  alignas(64) std::atomic<std::uint64_t> tail{0}; // written by the consumer
  alignas(64) void* slots[kRing];
};

struct CrossCounts {
  std::size_t ops = 0;
  std::size_t remote_frees = 0;
};

template <class Api>
CrossCounts run_cross(const std::uint32_t* ops, std::size_t n, void** live, std::size_t& nlive,
                      Ring& out, Ring& in) {
  CrossCounts c;
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint32_t v = ops[i];
    if ((v & kFreeBit) == 0) {
      void* p = alloc_touched<Api>(v);
      ++c.ops;
      const std::uint64_t h = out.head.load(std::memory_order_relaxed);
      if (h - out.tail.load(std::memory_order_acquire) < kRing) {
        out.slots[h % kRing] = p;
        out.head.store(h + 1, std::memory_order_release);
        continue;
      }
      if (nlive == kMaxLive) { // keep the local set bounded: free one first
        Api::release(live[--nlive]);
        ++c.ops;
      }
      live[nlive++] = p;
      continue;
    }
    const std::uint64_t t = in.tail.load(std::memory_order_relaxed);
    if (t != in.head.load(std::memory_order_acquire)) {
      void* p = in.slots[t % kRing];
      in.tail.store(t + 1, std::memory_order_release);
      Api::release(p);
      ++c.ops;
      ++c.remote_frees;
    } else if (nlive > 0) {
      std::uint32_t idx = v & ~kFreeBit;
      if (idx >= nlive)
        idx %= static_cast<std::uint32_t>(nlive);
      void* p = live[idx];
      live[idx] = live[--nlive];
      Api::release(p);
      ++c.ops;
    }
  }
  return c;
}

template <class Api> void BM_Threads(benchmark::State& state, unsigned nthreads, bool cross) {
  std::vector<const Program*> progs;
  std::vector<MappedArray<void*>> lives;
  for (unsigned t = 0; t < nthreads; ++t) {
    progs.push_back(&mixed_program(1 + t, false));
    lives.emplace_back(kMaxLive);
  }
  std::unique_ptr<Ring[]> rings(new Ring[nthreads]);
  double total_ops = 0;
  double remote = 0;
  for (auto _ : state) {
    std::atomic<bool> go{false};
    std::atomic<unsigned> ready{0};
    std::vector<Clock::time_point> end(nthreads);
    std::vector<CrossCounts> counts(nthreads);
    std::vector<std::thread> threads;
    for (unsigned t = 0; t < nthreads; ++t) {
      threads.emplace_back([&, t] {
        const Program& prog = *progs[t];
        void** live = lives[t].data();
        std::size_t nlive = 0;
        ready.fetch_add(1);
        while (!go.load(std::memory_order_acquire))
          std::this_thread::yield();
        if (cross) {
          counts[t] = run_cross<Api>(prog.ops.data(), prog.ops.size(), live, nlive, rings[t],
                                     rings[(t + nthreads - 1) % nthreads]);
        } else {
          run_ops<Api>(prog.ops.data(), prog.ops.size(), live, nlive);
          counts[t].ops = prog.ops.size();
        }
        end[t] = Clock::now();
        free_all<Api>(live, nlive); // untimed
      });
    }
    while (ready.load() < nthreads)
      std::this_thread::yield();
    const Clock::time_point t0 = Clock::now();
    go.store(true, std::memory_order_release);
    for (std::thread& th : threads)
      th.join();
    state.SetIterationTime(seconds_since(t0, *std::max_element(end.begin(), end.end())));
    for (unsigned t = 0; t < nthreads; ++t) { // what is left in the rings, untimed
      Ring& r = rings[t];
      for (std::uint64_t i = r.tail.load(); i != r.head.load(); ++i)
        Api::release(r.slots[i % kRing]);
      r.head.store(0);
      r.tail.store(0);
      total_ops += static_cast<double>(counts[t].ops);
      remote += static_cast<double>(counts[t].remote_frees);
    }
  }
  state.counters["ops"] = benchmark::Counter(total_ops, benchmark::Counter::kAvgIterations);
  if (cross)
    state.counters["remote_frees"] = benchmark::Counter(remote, benchmark::Counter::kAvgIterations);
}

template <class Api> void register_workloads() {
  for (std::size_t s : {8, 32, 96, 192, 1024, 4096, 8192})
    benchmark::RegisterBenchmark(("pair/" + std::to_string(s)).c_str(), BM_Pair<Api>, s);
  for (std::size_t s : {16384, 65536, 1048576})
    benchmark::RegisterBenchmark(("large/" + std::to_string(s)).c_str(), BM_Pair<Api>, s);
  for (std::size_t s : {32, 256}) {
    for (bool random : {false, true}) {
      const std::string name = "batch/" + std::to_string(s) + (random ? "/random" : "/in_order");
      benchmark::RegisterBenchmark(name.c_str(), BM_Batch<Api>, s, random)->UseManualTime();
    }
  }
  benchmark::RegisterBenchmark("mixed", BM_Mixed<Api>, false)->UseManualTime();
  benchmark::RegisterBenchmark("mixed_prefill", BM_Mixed<Api>, true)->UseManualTime();
  for (unsigned t : {2u, 4u}) {
    for (bool cross : {false, true}) {
      const std::string name = "threads/" + std::to_string(t) + (cross ? "/cross" : "/mixed");
      benchmark::RegisterBenchmark(name.c_str(), BM_Threads<Api>, t, cross)->UseManualTime();
    }
  }
}

// ---- the kernel-style table

void BM_KmemCachePair(benchmark::State& state) {
  static struct kmem_cache* cache = kmem_cache_create("bench-64", 64, 0, 0, nullptr);
  if (cache == nullptr)
    die("kmem_cache_create failed");
  for (auto _ : state) {
    void* p = kmem_cache_alloc(cache, GFP_KERNEL);
    if (p == nullptr)
      die("kmem_cache_alloc failed");
    benchmark::DoNotOptimize(p);
    kmem_cache_free(cache, p);
  }
  state.counters["ops"] = 1;
}

void BM_AllocPages(benchmark::State& state, unsigned order) {
  for (auto _ : state) {
    struct page* pg = alloc_pages(GFP_KERNEL, order);
    if (pg == nullptr)
      die("alloc_pages failed");
    benchmark::DoNotOptimize(pg);
    __free_pages(pg, order);
  }
  state.counters["ops"] = 1;
}

// The object sizes of the kmalloc-* caches (not dma-, not rcl-), from kmalloc_slabinfo().
std::vector<std::size_t> kmalloc_class_sizes() {
  std::vector<char> buf(1 << 16);
  const std::size_t n = kmalloc_slabinfo(buf.data(), buf.size());
  if (n >= buf.size())
    die("slabinfo too long");
  std::vector<std::size_t> sizes;
  for (char* line = std::strtok(buf.data(), "\n"); line != nullptr;
       line = std::strtok(nullptr, "\n")) {
    char name[128];
    unsigned long active = 0, total = 0, objsize = 0;
    if (std::sscanf(line, "%127s %lu %lu %lu", name, &active, &total, &objsize) != 4)
      continue;
    if (std::strncmp(name, "kmalloc-", 8) != 0 || std::strncmp(name, "kmalloc-rcl-", 12) == 0)
      continue;
    sizes.push_back(objsize);
  }
  std::sort(sizes.begin(), sizes.end());
  sizes.erase(std::unique(sizes.begin(), sizes.end()), sizes.end());
  return sizes;
}

void register_kernel() {
  benchmark::RegisterBenchmark("kmem_cache/64", BM_KmemCachePair);
  for (unsigned order : {0u, 3u})
    benchmark::RegisterBenchmark(("alloc_pages/" + std::to_string(order)).c_str(), BM_AllocPages,
                                 order);
  const std::vector<std::size_t> sizes = kmalloc_class_sizes();
  if (sizes.empty())
    die("no kmalloc-* cache in slabinfo");
  for (std::size_t s : sizes)
    benchmark::RegisterBenchmark(("kmalloc/" + std::to_string(s)).c_str(), BM_Pair<KmallocApi>, s);
}

// ---- peak RSS

long status_kib(const char* key) { // a "Key:   N kB" line of /proc/self/status
  FILE* f = std::fopen("/proc/self/status", "r");
  if (f == nullptr)
    return -1;
  char line[256];
  long v = -1;
  const std::size_t klen = std::strlen(key);
  while (std::fgets(line, sizeof line, f) != nullptr) {
    if (std::strncmp(line, key, klen) == 0 && line[klen] == ':') {
      v = std::strtol(line + klen + 1, nullptr, 10);
      break;
    }
  }
  std::fclose(f);
  return v;
}

bool reset_hwm() { // "5" resets VmHWM to the current RSS (Linux 4.0+)
  FILE* f = std::fopen("/proc/self/clear_refs", "w");
  if (f == nullptr)
    return false;
  const bool ok = std::fputs("5", f) >= 0;
  return std::fclose(f) == 0 && ok;
}

template <class Api> int run_rss(bool prefilled, const char* kmalloc_options, bool kmalloc_api) {
  const Program& prog = mixed_program(0, prefilled);
  MappedArray<void*> live(kMaxLive);
  const bool hwm_reset = reset_hwm();
  const long baseline = status_kib("VmRSS");
  if (kmalloc_api && kmalloc_init(kmalloc_options) != 0)
    die("kmalloc_init failed");
  std::size_t nlive = 0;
  prefill<Api>(prog, live.data(), nlive);
  run_ops<Api>(prog.ops.data(), prog.peak_op, live.data(), nlive);
  std::size_t usable = 0;
  for (std::size_t i = 0; i < nlive; ++i)
    usable += Api::usable(live[i]);
  const long rss_at_peak = status_kib("VmRSS");
  struct kmalloc_stats st = {};
  if (kmalloc_api) {
    st.size = sizeof st;
    kmalloc_stats(&st);
  }
  run_ops<Api>(prog.ops.data() + prog.peak_op, prog.ops.size() - prog.peak_op, live.data(), nlive);
  const long hwm = status_kib("VmHWM");
  free_all<Api>(live.data(), nlive);
  const long after = status_kib("VmRSS");
  std::printf(
      "hwm_reset=%d\nbaseline_kib=%ld\nhwm_kib=%ld\nrss_at_peak_kib=%ld\nafter_free_kib=%ld\n"
      "peak_live=%zu\npeak_requested_kib=%.1f\npeak_usable_kib=%.1f\nmax_live=%zu\n",
      hwm_reset ? 1 : 0, baseline, hwm, rss_at_peak, after, prog.peak_live,
      static_cast<double>(prog.peak_bytes) / 1024, static_cast<double>(usable) / 1024,
      prog.max_live_seen);
  if (kmalloc_api) {
    std::printf("arena_kib=%.1f\nmetadata_reserved_kib=%.1f\nmetadata_committed_kib=%.1f\n",
                static_cast<double>(st.pages_total * st.page_size) / 1024,
                static_cast<double>(st.metadata_bytes_reserved) / 1024,
                static_cast<double>(st.metadata_bytes_committed) / 1024);
  }
  return 0;
}

// Where malloc resolved: the preloaded allocator's file, or libc's.
std::string malloc_from() {
  void* sym = dlsym(RTLD_DEFAULT, "malloc");
  Dl_info info{};
  if (sym == nullptr || dladdr(sym, &info) == 0 || info.dli_fname == nullptr)
    return "?";
  return info.dli_fname;
}

// Takes --NAME=VALUE out of argv; returns VALUE or nullptr.
const char* take_flag(int& argc, char** argv, const char* name) {
  const std::size_t len = std::strlen(name);
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], name, len) == 0 && argv[i][len] == '=') {
      const char* v = argv[i] + len + 1;
      for (int j = i; j + 1 < argc; ++j)
        argv[j] = argv[j + 1];
      --argc;
      return v;
    }
  }
  return nullptr;
}

} // namespace

int main(int argc, char** argv) {
  const char* api = take_flag(argc, argv, "--api");
  const char* rss = take_flag(argc, argv, "--rss");
  const char* kernel = take_flag(argc, argv, "--kernel");
  const char* options = take_flag(argc, argv, "--kmalloc-options");
  if (options == nullptr)
    options = "profile=linux-6,arena=256M,dma=0";
  const bool use_kmalloc = api != nullptr && std::strcmp(api, "kmalloc") == 0;
  if (api != nullptr && !use_kmalloc && std::strcmp(api, "malloc") != 0)
    die("--api must be malloc or kmalloc");

  if (rss != nullptr) {
    const bool prefilled = std::strcmp(rss, "mixed_prefill") == 0;
    if (!prefilled && std::strcmp(rss, "mixed") != 0)
      die("--rss must be mixed or mixed_prefill");
    std::printf("malloc_from=%s\napi=%s\n", malloc_from().c_str(),
                use_kmalloc ? "kmalloc" : "malloc");
    return use_kmalloc ? run_rss<KmallocApi>(prefilled, options, true)
                       : run_rss<MallocApi>(prefilled, options, false);
  }

  if (kernel != nullptr) {
    const std::string opts = std::string("profile=") + kernel;
    if (kmalloc_init(opts.c_str()) != 0)
      die("kmalloc_init failed for --kernel");
    benchmark::AddCustomContext("kmalloc_options", opts);
    register_kernel();
  } else if (use_kmalloc) {
    if (kmalloc_init(options) != 0)
      die("kmalloc_init failed");
    benchmark::AddCustomContext("kmalloc_options", options);
    register_workloads<KmallocApi>();
  } else {
    register_workloads<MallocApi>();
  }
  benchmark::AddCustomContext("api", kernel != nullptr ? "kernel"
                                     : use_kmalloc     ? "kmalloc"
                                                       : "malloc");
  benchmark::AddCustomContext("malloc_from", malloc_from());
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv))
    return 2;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
