// fuzz/fuzz_heap.cpp - libFuzzer target over the whole heap: a byte string -> a config and an
// op list (fuzz/heap_decode.h) run through the one oracle (model/heap_checker.h): kmalloc,
// kmem_cache and the page allocator mixed, misuse included, through the C++ Heap or (1 input
// in 16) through the C API's default heap built by kmalloc_init_region from an option string,
// which is first checked against the option grammar (model/option_spec.h).
//
// Every input gets a fresh heap over one region mapped once per process (fuzz_support.h), and
// one checker is reused (reset() keeps its storage, so inputs do not regrow its tables). A
// mismatch prints the error, the config and the op list, and aborts.
//   KMALLOC_FUZZ_TRACE=1    prints the config and each op with its outcome as it runs
//   KMALLOC_FUZZ_TRACE=cpp  the input as a GoogleTest body (tests/heap_regression_test.cpp)
//   KMALLOC_FUZZ_STATS=1    "fuzz_stats: inputs=N ops=M ..." at exit (ci/fuzz.sh)
//   KMALLOC_FUZZ_WALK=N     the full walk every N ops (default 1000: an input has at most
//                           1,024 ops, and finish() walks again)
// KMALLOC_FUZZ_RECORDS=1 turns on a record mutator (LLVMFuzzerCustomMutator): half of the time
// one edit of whole 8-byte op records (insert, drop, copy, swap), else libFuzzer's bytes. It is
// off by default: in 60 s runs from 40 random seeds (2 seeds each, one core each) it reached
// 936/924 allocator edges and 5,066/4,929 features against 926/935 and 5,153/5,289 for the
// byte-level mutator alone, so it does not earn its place yet.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "fuzz/fuzz_support.h"
#include "fuzz/heap_decode.h"
#include "kmalloc/heap.h"
#include "kmalloc/kmalloc.h"
#include "model/heap_checker.h"
#include "model/option_spec.h"
#include "model/text.h"

namespace {

using namespace km::fuzz;
using km::oracle::HeapChecker;

unsigned walk_interval() {
  static const unsigned n = [] {
    const char* v = std::getenv("KMALLOC_FUZZ_WALK");
    return v != nullptr && *v != '\0' ? static_cast<unsigned>(std::strtoul(v, nullptr, 10)) : 1000u;
  }();
  return n;
}

void print_cpp(const HeapInput& in) {
  std::printf("  // config: %s%s\n", options_of(in.cfg).c_str(), in.via_c ? " (C API)" : "");
  std::printf("  const std::vector<Op> ops = {\n");
  for (const auto& op : in.ops)
    std::printf("      %s,\n", km::oracle::to_cpp(op).c_str());
  std::printf("  };\n");
}

// The C API route: the option grammar predicts what kmalloc_init_region does with the bad
// string and with the good one. Returns false when the config is refused (input skipped).
bool init_via_c(HeapChecker& checker, HeapInput& in, km::oracle::CheckerOptions opts) {
  if (!in.bad_options.empty()) { // kmalloc_init_region must refuse it and build nothing
    const km::model::OptionPrediction bad = km::model::predict_options(in.bad_options);
    km::reset_c_api_heap();
    const int rc = kmalloc_init_region(region(), in.cfg.arena_size, in.bad_options.c_str());
    // A string the grammar refuses must be refused; one it accepts may still name a config the
    // heap cannot build (a ZONE_DMA that leaves no ZONE_NORMAL): then -EINVAL too.
    if ((rc == 0 && !bad.ok) || (rc != 0 && rc != -22))
      throw km::oracle::CheckError("kmalloc_init_region(\"" + in.bad_options + "\") returned " +
                                   std::to_string(rc) + ", the option grammar says " +
                                   (bad.ok ? "valid" : "invalid (" + bad.key + ")"));
  }
  const km::model::OptionPrediction good = km::model::predict_options(in.options);
  if (!good.ok) { // the decoder's config breaks a rule (a 7-page arena, slub_min_order 4)
    km::reset_c_api_heap();
    const int rc = kmalloc_init_region(region(), in.cfg.arena_size, in.options.c_str());
    if (rc != -22)
      throw km::oracle::CheckError("kmalloc_init_region(\"" + in.options + "\") returned " +
                                   std::to_string(rc) + ", the option grammar says invalid (" +
                                   good.key + ")");
    return false;
  }
  km::Config cfg = good.cfg;
  cfg.arena_size = in.cfg.arena_size; // arena= is the region's size
  const int rc = checker.init_c(cfg, in.options.c_str(), region(), in.cfg.arena_size, opts);
  return rc == 0;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Stats& stats = begin_input();
  HeapInput in = decode_heap_input(data, size, kRegionBytes);
  const Trace trace = trace_mode();
  if (trace == Trace::Cpp) {
    print_cpp(in);
    return 0;
  }
  return run_checked([&] {
    static HeapChecker checker; // reused: init() resets it and keeps its storage
    km::oracle::CheckerOptions opts;
    opts.walk_interval = walk_interval();
    bool ok = false;
    if (in.via_c) {
      ok = init_via_c(checker, in, opts);
    } else {
      // A config the option grammar refuses must be refused, naming the same key (heap.h: a
      // region of fewer than 8 pages is named "region", not "arena").
      km::model::OptionPrediction want = km::model::predict_options(
          options_of(in.cfg) + ",arena=" + std::to_string(in.cfg.arena_size));
      if (want.key == "arena")
        want.key = "region";
      const km::Status st = checker.init(in.cfg, region(), in.cfg.arena_size, opts);
      ok = st.ok;
      if (!want.ok && (ok || st.option == nullptr || want.key != st.option))
        throw km::oracle::CheckError(
            "heap init failed: Heap::init(" + options_of(in.cfg) + ") " +
            (ok ? "accepted it" : std::string("named ") + (st.option ? st.option : "no key")) +
            ", the option grammar says invalid (" + want.key + ")");
      if (!ok && in.cfg.dma_zone_size != 0) {
        in.cfg.dma_zone_size = 0; // the DMA zone would leave no room: none
        ok = checker.init(in.cfg, region(), in.cfg.arena_size, opts).ok;
      }
    }
    if (!ok) {
      ++stats.skipped_inputs;
      if (trace != Trace::Off)
        std::printf("the heap refused the config %s\n", options_of(in.cfg).c_str());
      return;
    }
    if (trace == Trace::Ops) {
      std::printf("config: %s\n", checker.describe_config().c_str());
      checker.set_trace(stdout);
    }
    for (const auto& op : in.ops)
      checker.apply(op);
    stats.ops += in.ops.size();
    stats.skipped_ops += checker.skipped_count();
    stats.misuse += checker.misuse_count();
    checker.finish();
  });
}

#ifdef KMALLOC_FUZZ_CUSTOM_MUTATOR
extern "C" std::size_t LLVMFuzzerMutate(std::uint8_t* data, std::size_t size, std::size_t max);

// Half of the time one edit of whole op records; otherwise libFuzzer's byte mutations.
extern "C" std::size_t LLVMFuzzerCustomMutator(std::uint8_t* data, std::size_t size,
                                               std::size_t max_size, unsigned seed) {
  static const bool bytes_only = std::getenv("KMALLOC_FUZZ_RECORDS") == nullptr;
  std::uint64_t rng = km::oracle::splitmix64(seed);
  auto next = [&](std::size_t n) {
    rng = km::oracle::splitmix64(rng);
    return n == 0 ? 0 : static_cast<std::size_t>(rng % n);
  };
  if (bytes_only || size < kHeaderBytes || next(2) == 0)
    return LLVMFuzzerMutate(data, size, max_size);
  const std::size_t records = (size - kHeaderBytes) / kRecordBytes;
  size = kHeaderBytes + records * kRecordBytes; // drop a partial record
  std::uint8_t* body = data + kHeaderBytes;
  switch (next(4)) {
  case 0: // insert a copy of a record (or a fresh one) at a record boundary
    if (size + kRecordBytes <= max_size) {
      const std::size_t at = next(records + 1);
      std::memmove(body + (at + 1) * kRecordBytes, body + at * kRecordBytes,
                   (records - at) * kRecordBytes);
      if (records != 0 && next(2) == 0) {
        const std::size_t from = next(records + 1);
        std::memcpy(body + at * kRecordBytes, body + from * kRecordBytes, kRecordBytes);
      } else {
        for (std::size_t i = 0; i < kRecordBytes; ++i)
          body[at * kRecordBytes + i] = static_cast<std::uint8_t>(next(256));
      }
      return size + kRecordBytes;
    }
    [[fallthrough]];
  case 1: // drop a record
    if (records > 1) {
      const std::size_t at = next(records);
      std::memmove(body + at * kRecordBytes, body + (at + 1) * kRecordBytes,
                   (records - at - 1) * kRecordBytes);
      return size - kRecordBytes;
    }
    return LLVMFuzzerMutate(data, size, max_size);
  case 2: // swap two records
    if (records > 1) {
      std::uint8_t tmp[kRecordBytes];
      const std::size_t a = next(records), b = next(records);
      std::memcpy(tmp, body + a * kRecordBytes, kRecordBytes);
      std::memcpy(body + a * kRecordBytes, body + b * kRecordBytes, kRecordBytes);
      std::memcpy(body + b * kRecordBytes, tmp, kRecordBytes);
      return size;
    }
    return LLVMFuzzerMutate(data, size, max_size);
  default: // byte mutations inside one record only
    if (records != 0) {
      const std::size_t at = next(records);
      const std::size_t n = LLVMFuzzerMutate(body + at * kRecordBytes, kRecordBytes, kRecordBytes);
      if (n < kRecordBytes)
        std::memset(body + at * kRecordBytes + n, 0, kRecordBytes - n);
      return size;
    }
    return LLVMFuzzerMutate(data, size, max_size);
  }
}
#endif
