// bench/checker_bench.cpp - how fast the suite checks: Google Benchmark over the one oracle
// (model/heap_checker.h) and the whole-heap fuzz target (fuzz/fuzz_heap.cpp). A suite benchmark,
// not a test: it asserts nothing about time.
//
//   BM_FuzzMix       fuzz_heap's LLVMFuzzerTestOneInput on 64 inputs of 1,023 random op records
//                    each (fixed seed): the fuzz mix, every op kind at its decoder's rate, every
//                    config the header can say. The full walk runs every KMALLOC_FUZZ_WALK ops
//                    (fuzz_heap's default 1000) and in finish(), and is counted in the rate.
//                    Counter checked_ops: ops applied to heap and model and compared, per second.
//   BM_FuzzCorpus    the same over corpus/heap: short inputs, where setup and finish() weigh more.
//   BM_PerOp/L       one kmalloc and one kfree (of a random live object) through
//                    HeapChecker::apply with L objects live and the periodic walk off: the per-op
//                    checker cost at L = 100 and 100,000. Time is per op.
//   BM_HeapOnly/L    the same pairs on the Heap alone: BM_PerOp minus this is the checker's cost.
//   BM_Walk/L        one full walk (validate(), free blocks, counters, every live pattern) with
//                    L objects live.
// Run: build/<preset>/bench/kmalloc_checker_bench [--benchmark_repetitions=5]
#include <benchmark/benchmark.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <vector>

#include "fuzz/fuzz_support.h"
#include "fuzz/heap_decode.h"
#include "kmalloc/config.h"
#include "kmalloc/gfp.h"
#include "kmalloc/heap.h"
#include "model/heap_checker.h"
#include "model/text.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace {

using km::oracle::Handle;
using km::oracle::HeapChecker;
using km::oracle::Op;
using km::oracle::OpKind;

using Input = std::vector<std::uint8_t>;

std::vector<Input> random_inputs(std::size_t count, std::size_t records) {
  std::vector<Input> out(count);
  std::uint64_t state = 2026;
  for (Input& in : out) {
    in.resize(km::fuzz::kHeaderBytes + records * km::fuzz::kRecordBytes);
    for (auto& b : in) {
      state = km::oracle::splitmix64(state);
      b = static_cast<std::uint8_t>(state >> 56);
    }
  }
  return out;
}

std::vector<Input> corpus_inputs() {
  std::vector<Input> out;
  for (const auto& e : std::filesystem::directory_iterator(KMALLOC_SOURCE_DIR "/corpus/heap")) {
    std::ifstream f(e.path(), std::ios::binary);
    out.emplace_back(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
  }
  return out;
}

// Runs the inputs through fuzz_heap as libFuzzer would; checked_ops counts the ops it applied.
void run_inputs(benchmark::State& state, const std::vector<Input>& inputs) {
  km::fuzz::Stats& stats = km::fuzz::begin_input(); // the target's counters
  const unsigned long long before = stats.ops;
  for (auto _ : state)
    for (const Input& in : inputs)
      LLVMFuzzerTestOneInput(in.data(), in.size());
  state.counters["checked_ops"] =
      benchmark::Counter(static_cast<double>(stats.ops - before), benchmark::Counter::kIsRate);
  state.counters["inputs"] = benchmark::Counter(
      static_cast<double>(state.iterations() * inputs.size()), benchmark::Counter::kIsRate);
}

void BM_FuzzMix(benchmark::State& state) {
  static const std::vector<Input> inputs = random_inputs(64, km::fuzz::kMaxHeapOps - 1);
  run_inputs(state, inputs);
}
BENCHMARK(BM_FuzzMix)->Unit(benchmark::kMillisecond);

void BM_FuzzCorpus(benchmark::State& state) {
  static const std::vector<Input> inputs = corpus_inputs();
  run_inputs(state, inputs);
}
BENCHMARK(BM_FuzzCorpus)->Unit(benchmark::kMillisecond);

// A checker over a 64 MiB arena with `live` kmalloc objects of 8..128 bytes live.
struct LiveHeap {
  HeapChecker checker;
  std::vector<Handle> live;
  std::uint64_t rng = 7;

  explicit LiveHeap(std::size_t objects) {
    km::Config cfg;
    cfg.arena_size = std::size_t{64} << 20;
    cfg.profile = km::Profile::Linux6;
    km::oracle::CheckerOptions opts;
    opts.walk_interval = 0; // the walk only when asked
    checker.init(cfg, nullptr, cfg.arena_size, opts);
    while (live.size() < objects)
      alloc();
  }
  std::uint64_t next() { return rng = km::oracle::splitmix64(rng); }
  void alloc() {
    Op op;
    op.kind = OpKind::Kmalloc;
    op.size = 8 + next() % 121;
    const auto h = static_cast<Handle>(checker.handle_count());
    checker.apply(op);
    live.push_back(h);
  }
  void free_one() {
    const std::size_t i = next() % live.size();
    Op op;
    op.kind = OpKind::Free;
    op.handle = live[i];
    checker.apply(op);
    live[i] = live.back();
    live.pop_back();
  }
};

void BM_PerOp(benchmark::State& state) {
  LiveHeap heap(static_cast<std::size_t>(state.range(0)));
  for (auto _ : state) {
    heap.alloc();
    heap.free_one();
  }
  state.SetItemsProcessed(2 * state.iterations());
  state.counters["live"] = static_cast<double>(heap.checker.live_count());
  state.counters["ns_per_op"] =
      benchmark::Counter(2.0 * static_cast<double>(state.iterations()),
                         benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_PerOp)->Arg(100)->Arg(100000)->MinTime(0.5);

// The same op pairs on the Heap alone, with no checker: what BM_PerOp pays the allocator.
void BM_HeapOnly(benchmark::State& state) {
  km::Config cfg;
  cfg.arena_size = std::size_t{64} << 20;
  cfg.profile = km::Profile::Linux6;
  km::Heap heap;
  if (!heap.init(cfg).ok) {
    state.SkipWithError("heap init failed");
    return;
  }
  std::vector<void*> live;
  std::uint64_t rng = 7;
  auto next = [&] { return rng = km::oracle::splitmix64(rng); };
  while (live.size() < static_cast<std::size_t>(state.range(0)))
    live.push_back(heap.kmalloc(8 + next() % 121, GFP_KERNEL));
  for (auto _ : state) {
    live.push_back(heap.kmalloc(8 + next() % 121, GFP_KERNEL));
    const std::size_t i = next() % live.size();
    heap.kfree(live[i]);
    live[i] = live.back();
    live.pop_back();
  }
  state.counters["ns_per_op"] =
      benchmark::Counter(2.0 * static_cast<double>(state.iterations()),
                         benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_HeapOnly)->Arg(100)->Arg(100000)->MinTime(0.5);

void BM_Walk(benchmark::State& state) {
  LiveHeap heap(static_cast<std::size_t>(state.range(0)));
  for (auto _ : state)
    heap.checker.walk();
  state.counters["live"] = static_cast<double>(heap.checker.live_count());
}
BENCHMARK(BM_Walk)->Arg(100)->Arg(100000)->Unit(benchmark::kMicrosecond);

} // namespace

BENCHMARK_MAIN();
