// bench/thread_bench.cpp - how the heap scales with threads: Google Benchmark over one shared
// km::Heap (64 MiB arena, linux-6, nr_cpus 2), each workload on 1, 2 and 4 threads (4
// oversubscribes a 2-core machine). A benchmark, not a test: it asserts nothing about time.
//
//   BM_Pair/S       kmalloc(S) + kfree on every thread: the fast path, both ways
//   BM_Mixed        per thread up to 1,024 live objects, log-uniform 8..8192 bytes, alloc or
//                   free of a random live one (fixed seed per thread)
//   BM_CrossFree    each thread frees the objects its neighbour allocated (a lock-free
//                   single-producer ring per thread pair): every free is a remote free
// items_per_second is the aggregate over the threads (real time): calls, with a pair counted
// as one item in BM_Pair and each kmalloc or kfree as one elsewhere. At exit the program prints
// Heap::slot_path_stats(): how many slab calls took no lock.
// Run: build/<preset>/bench/kmalloc_thread_bench [--benchmark_repetitions=5]
#include <benchmark/benchmark.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <vector>

#include "kmalloc/heap.h"

namespace {

km::Heap g_heap;

std::uint64_t next_random(std::uint64_t& state) {
  state ^= state << 13;
  state ^= state >> 7;
  state ^= state << 17;
  return state;
}

void BM_Pair(benchmark::State& state) {
  const auto size = static_cast<std::size_t>(state.range(0));
  for (auto _ : state) {
    void* p = g_heap.kmalloc(size, GFP_KERNEL);
    benchmark::DoNotOptimize(p);
    g_heap.kfree(p);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Pair)->Arg(32)->Arg(256)->Arg(4096)->Threads(1)->Threads(2)->Threads(4)->UseRealTime();

void BM_Mixed(benchmark::State& state) {
  std::uint64_t rng = 0x9e3779b97f4a7c15ull * static_cast<std::uint64_t>(state.thread_index() + 1);
  std::vector<void*> live;
  live.reserve(1024);
  for (auto _ : state) {
    if (live.size() < 1024 && (live.empty() || next_random(rng) % 2 == 0)) {
      const unsigned shift = 3 + static_cast<unsigned>(next_random(rng) % 11); // 8 .. 8192
      const std::size_t size =
          (std::size_t{1} << shift) + next_random(rng) % (std::size_t{1} << shift);
      live.push_back(g_heap.kmalloc(size > 8192 ? 8192 : size, GFP_KERNEL));
    } else {
      const std::size_t i = next_random(rng) % live.size();
      g_heap.kfree(live[i]);
      live[i] = live.back();
      live.pop_back();
    }
  }
  for (void* p : live)
    g_heap.kfree(p);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Mixed)->Threads(1)->Threads(2)->Threads(4)->UseRealTime();

// One ring per thread: thread t allocates into ring t and frees from ring t - 1.
constexpr std::size_t kRing = 256;
struct alignas(64) Ring {
  std::atomic<std::uint64_t> head{0};             // written by the producer
  alignas(64) std::atomic<std::uint64_t> tail{0}; // written by the consumer
  void* slots[kRing];
};
Ring g_rings[4];

void BM_CrossFree(benchmark::State& state) {
  const auto threads = static_cast<unsigned>(state.threads());
  const auto me = static_cast<unsigned>(state.thread_index());
  Ring& out = g_rings[me];
  Ring& in = g_rings[(me + threads - 1) % threads];
  std::int64_t calls = 0; // kmalloc and kfree calls made (an iteration may find nothing to do)
  for (auto _ : state) {
    // Produce one object if the ring has room, then consume one if there is any.
    const std::uint64_t h = out.head.load(std::memory_order_relaxed);
    if (h - out.tail.load(std::memory_order_acquire) < kRing) {
      out.slots[h % kRing] = g_heap.kmalloc(64, GFP_KERNEL);
      out.head.store(h + 1, std::memory_order_release);
      ++calls;
    }
    const std::uint64_t t = in.tail.load(std::memory_order_relaxed);
    if (t != in.head.load(std::memory_order_acquire)) {
      g_heap.kfree(in.slots[t % kRing]);
      in.tail.store(t + 1, std::memory_order_release);
      ++calls;
    }
  }
  state.SetItemsProcessed(calls);
}
BENCHMARK(BM_CrossFree)->Threads(2)->Threads(4)->UseRealTime();

} // namespace

int main(int argc, char** argv) {
  km::Config cfg;
  cfg.arena_size = std::size_t{64} << 20;
  cfg.profile = km::Profile::Linux6;
  cfg.nr_cpus = 2;
  if (!g_heap.init(cfg).ok)
    return 1;
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  // What is left in the rings goes back before the counts are read.
  for (Ring& r : g_rings)
    for (std::uint64_t t = r.tail; t != r.head; ++t)
      g_heap.kfree(r.slots[t % kRing]);
#ifndef KMALLOC_BENCH_BEFORE_THREADS
  const km::SlotPathStats p = g_heap.slot_path_stats();
  const double all = static_cast<double>(p.fast_allocs + p.locked_allocs + p.fast_frees +
                                         p.remote_frees + p.locked_frees);
  std::printf("slot paths: %llu fast / %llu locked allocs, %llu fast / %llu lock-free remote / "
              "%llu locked frees (%.2f%% of slab calls took a lock)\n",
              p.fast_allocs, p.locked_allocs, p.fast_frees, p.remote_frees, p.locked_frees,
              all > 0 ? 100.0 * static_cast<double>(p.locked_allocs + p.locked_frees) / all : 0.0);
#endif
  return 0;
}
