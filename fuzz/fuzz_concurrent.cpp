// fuzz/fuzz_concurrent.cpp - the concurrent oracle: a thin driver over model/heap_checker.h. One
// input is split into op lists (the whole-heap vocabulary, model/heap_op.h) for 2-4 threads of a
// persistent pool (std::threads made once per process) and a baton schedule, run against one
// heap in its own thread-slot mode (CheckerOptions::threads, never set_cpu).
//
// Input: a 4-byte header, then at most 512 records of 6 bytes (fuzz_concurrent.options).
//   [0]     bits 0-1 threads (2 + v % 3), bits 2-3 nr_cpus - 1, bit 4 linux-4-slab (else
//           linux-6), bit 5 freelist hardening off, bits 6-7 unused (were free-run)
//   [1] [2] object size of the caches c0 (8 + 2v) and c1 (16 + 16v), which thread 0 creates
//   [3]     their flags, c0 bits 0-3, c1 4-7: HWCACHE_ALIGN, CACHE_DMA, RECLAIM_ACCOUNT,
//           CONSISTENCY_CHECKS
//   record  [thread (bits 0-1) | code (bits 2-7, kCodes)] [x] [arg u16] [victim u16]; x is the
//           gfp of kmalloc and krealloc (bit 3 GFP_ATOMIC, 4 __GFP_DMA, 5 __GFP_RECLAIMABLE, 6
//           __GFP_ZERO), for alloc_pages bit 0 GFP_DMA, 1 __get_free_pages, 2 __GFP_ZERO, for
//           cache_alloc bit 0 the cache, 1 zalloc, for shrink bit 0 the cache; x & 7 == 7 frees
//           by kfree_sensitive or by address. arg is the size (size_of) or the order (arg % 4).
// Victims are handles (#n: the n-th allocating op), chosen when decoding: the first handle
// numbered >= victim % handles so far, wrapping, that no earlier op freed (free_foreign prefers
// another thread's; krealloc takes kmalloc ones); a free with no such handle is dropped. ksize
// is verify + ksize (verify alone for pages).
// Consecutive records of one thread are one baton step: only that thread runs, then it hands the
// baton to the next step's thread, so every checker call happens-before the next and an input
// replays exactly, yet every op runs on its own OS thread: each thread has its own cpu slot (or
// shares the overflow slot when nr_cpus is smaller; thread t's slot is min(t, nr_cpus), as every
// thread first flushes in thread order) and an object freed by another thread is a real remote
// free. (The former free-run mode, real races for stretches, is dropped: the TSan stress test
// covers free races.)
//
// HeapChecker checks each op (heap_checker.h). After the ops every thread flushes and the last
// runs the full walk; then thread t frees the live handles numbered t mod threads (most of them
// remote) and flushes, and the last runs finish(): destroys c0/c1, shrinks, AC4.
//   KMALLOC_FUZZ_TRACE=1  the decoded input, then each op as it runs
//   KMALLOC_FUZZ_STATS=1  "fuzz_stats: inputs=N ops=M ..." at exit (ci/fuzz.sh); ops: checked
// A failure prints the checker's message, the op lists with thread ids and history numbers, the
// baton schedule, how far each thread got and the commands that replay it, then aborts.
#include <unistd.h>

#include <algorithm>
#include <array>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "fuzz/fuzz_support.h"
#include "model/heap_checker.h"
#include "model/text.h"

namespace {

using namespace km::fuzz;
using km::oracle::cat;
using km::oracle::FreeRoute;
using km::oracle::Handle;
using km::oracle::Op;
using km::oracle::OpKind;

constexpr unsigned kMaxThreads = 4;
constexpr std::size_t kHeader = 4, kRecord = 6, kMaxRecords = 512, kArena = 8u << 20;

// clang-format off
enum Code : std::uint8_t { Kmalloc, Kzalloc, Free, FreeForeign, Krealloc, Ksize, CacheAlloc,
                           AllocPages, Flush, Shrink };
// clang-format on
// How many of the 64 code values each code has, in order (the last two were the free-run `par`).
constexpr std::pair<Code, unsigned> kCodes[] = {
    {Kmalloc, 16},   {Kzalloc, 4},    {Free, 12}, {FreeForeign, 8}, {Krealloc, 5},   {Ksize, 5},
    {CacheAlloc, 6}, {AllocPages, 4}, {Flush, 1}, {Shrink, 1},      {FreeForeign, 2}};

// One baton step: `count` ops of the thread's list, or the harness's end of input.
enum class Act : std::uint8_t { Ops, Drain, Finish };
struct Step {
  unsigned thread, count;
  Act act;
};
struct Input {
  unsigned threads = 2;
  km::Config cfg;
  std::vector<Op> ops[kMaxThreads];
  std::vector<Step> steps;
  std::vector<OpKind> made;                    // per handle: the op that made it
  std::vector<std::uint8_t> owner;             // per handle: the thread that allocated it last
  unsigned long long remote[kMaxThreads] = {}; // frees of another thread's handle
};

// Sizes by arg's low 2 bits: up to 64, 512, 4096 bytes, or even sizes up to 32766.
std::size_t size_of(std::uint16_t arg) {
  static constexpr std::size_t kLimit[3] = {64, 512, 4096};
  return (arg & 3) == 3 ? std::size_t{arg} >> 2 << 1 : (arg >> 2) % (kLimit[arg & 3] + 1);
}
gfp_t gfp_of(std::uint8_t x) {
  return ((x & 8) ? GFP_ATOMIC : GFP_KERNEL) | ((x & 16) ? __GFP_DMA : 0) |
         ((x & 32) ? __GFP_RECLAIMABLE : 0) | ((x & 64) ? __GFP_ZERO : 0);
}
Op free_of(const Input& in, Handle h, bool alt) { // alt: kfree_sensitive, or free_pages
  const OpKind m = in.made[h];
  return Op{.kind = OpKind::Free,
            .handle = h,
            .route = m == OpKind::AllocPages ? (alt ? FreeRoute::FreePages : FreeRoute::PageFree)
                     : m == OpKind::CacheAlloc || m == OpKind::CacheZalloc ? FreeRoute::CacheFree
                     : alt ? FreeRoute::KfreeSensitive
                           : FreeRoute::Kfree};
}

Input decode(const std::uint8_t* data, std::size_t size) {
  static const auto table = [] {
    std::array<Code, 64> t{};
    unsigned i = 0;
    for (const auto& [code, n] : kCodes)
      for (unsigned w = 0; w < n; ++w)
        t[i++] = code;
    return t;
  }();
  Input in;
  std::vector<Handle> live; // sorted: the handles no op freed yet
  auto emit = [&](unsigned t, const Op& op) {
    if (in.steps.empty() || in.steps.back().thread != t || in.steps.back().act != Act::Ops)
      in.steps.push_back({t, 0, Act::Ops});
    ++in.steps.back().count;
    in.ops[t].push_back(op);
    if (km::oracle::creates_handle(op.kind)) {
      live.push_back(static_cast<Handle>(in.made.size()));
      in.made.push_back(op.kind);
      in.owner.push_back(static_cast<std::uint8_t>(t));
    }
  };
  // The first handle in `live` numbered >= victim % handles, wrapping: another thread's if
  // foreign and there is one; a kmalloc one if kmalloc_only. Taken out of `live` if `drop`.
  auto pick = [&](unsigned t, std::uint16_t victim, bool foreign, bool kmalloc_only) {
    if (live.empty())
      return live.end();
    const auto from = std::lower_bound(live.begin(), live.end(), victim % in.made.size());
    for (int pass = foreign ? 0 : 1; pass < 2; ++pass)
      for (std::size_t i = 0; i < live.size(); ++i) {
        const auto it = live.begin() + (from - live.begin() + i) % live.size();
        const OpKind m = in.made[*it];
        if ((pass == 1 || in.owner[*it] != t) &&
            (!kmalloc_only || m == OpKind::Kmalloc || m == OpKind::Kzalloc))
          return it;
      }
    return live.end();
  };
  ByteReader r(data, size);
  const unsigned h = r.u8();
  in.threads = 2 + (h & 3) % 3;
  in.cfg.nr_cpus = 1 + (h >> 2 & 3);
  in.cfg.profile = (h & 0x10) != 0 ? km::Profile::Linux4Slab : km::Profile::Linux6;
  in.cfg.freelist_hardened = (h & 0x20) == 0;
  in.cfg.random_seed = 0x5eed; // fixed freelist keys: every run of an input is the same
  in.cfg.arena_size = kArena;
  const unsigned size0 = r.u8(), size1 = r.u8(), f = r.u8();
  for (unsigned c = 0, b = f; c < 2; ++c, b = f >> 4)
    emit(0, Op{.kind = OpKind::CacheCreate,
               .size = c == 0 ? 8 + 2u * size0 : 16 + 16u * size1,
               .flags = ((b & 1) ? SLAB_HWCACHE_ALIGN : 0) | ((b & 2) ? SLAB_CACHE_DMA : 0) |
                        ((b & 4) ? SLAB_RECLAIM_ACCOUNT : 0) |
                        ((b & 8) ? SLAB_CONSISTENCY_CHECKS : 0)});
  for (unsigned t = 0; t < in.threads; ++t) // claims the cpu slots in thread order
    emit(t, Op{.kind = OpKind::Flush});
  const std::size_t records =
      size > kHeader ? std::min((size - kHeader) / kRecord, kMaxRecords) : 0;
  for (std::size_t i = 0; i < records; ++i) {
    const unsigned b = r.u8(), t = (b & 3) % in.threads;
    const std::uint8_t x = r.u8();
    const std::uint16_t arg = r.u16(), victim = r.u16();
    const Code code = table[b >> 2];
    const auto it = pick(t, victim, code == FreeForeign, code == Krealloc);
    const Handle v = it != live.end() ? *it : km::oracle::kNone;
    switch (code) {
    case Kmalloc:
    case Kzalloc:
      emit(t, Op{.kind = code == Kmalloc ? OpKind::Kmalloc : OpKind::Kzalloc,
                 .size = size_of(arg),
                 .gfp = gfp_of(x)});
      break;
    case Free:
    case FreeForeign:
    case Krealloc:
      if (v == km::oracle::kNone)
        break;
      in.remote[t] += in.owner[v] != t;
      if (code != Krealloc || size_of(arg) == 0)
        live.erase(it);
      in.owner[v] = static_cast<std::uint8_t>(t);
      emit(t,
           code != Krealloc
               ? free_of(in, v, (x & 7) == 7)
               : Op{.kind = OpKind::Krealloc, .size = size_of(arg), .gfp = gfp_of(x), .handle = v});
      break;
    case Ksize:
      if (v != km::oracle::kNone)
        emit(t, Op{.kind = OpKind::Verify, .handle = v});
      if (v != km::oracle::kNone && in.made[v] != OpKind::AllocPages)
        emit(t, Op{.kind = OpKind::Ksize, .handle = v});
      break;
    case CacheAlloc:
      emit(t, Op{.kind = (x & 2) != 0 ? OpKind::CacheZalloc : OpKind::CacheAlloc, .cache = x & 1u});
      break;
    case AllocPages:
      emit(t, Op{.kind = OpKind::AllocPages,
                 .n = (x & 2u) >> 1,
                 .gfp = ((x & 1) ? GFP_DMA : GFP_KERNEL) | ((x & 4) ? __GFP_ZERO : 0),
                 .arg = arg % 4u});
      break;
    case Flush: emit(t, Op{.kind = OpKind::Flush}); break;
    case Shrink: emit(t, Op{.kind = OpKind::CacheShrink, .cache = x & 1u}); break;
    }
  }
  for (unsigned t = 0; t < in.threads; ++t)
    emit(t, Op{.kind = OpKind::Flush});
  emit(in.threads - 1, Op{.kind = OpKind::Validate});
  for (unsigned t = 0; t < in.threads; ++t) {
    in.steps.push_back({t, 0, Act::Drain});
    emit(t, Op{.kind = OpKind::Flush});
  }
  in.steps.push_back({in.threads - 1, 0, Act::Finish});
  return in;
}

class Harness {
public:
  Harness() {
    for (unsigned t = 0; t < kMaxThreads; ++t)
      std::thread([this, t] { worker(t); }).detach(); // the pool lives as long as the process
  }

  void run(const Input& in, const std::uint8_t* data, std::size_t size, Stats& stats) {
    in_ = &in, data_ = data, size_ = size;
    for (unsigned t = 0; t < kMaxThreads; ++t)
      cur_[t] = 0, drained_remote_[t] = 0, ran_at_[t].assign(in.ops[t].size(), 0);
    const bool trace = trace_mode() != Trace::Off;
    try {
      const km::Status st = checker_.init(in.cfg, region(), kArena, {.threads = true});
      if (!st.ok)
        throw std::runtime_error(cat("heap init failed: ", st.message));
    } catch (const std::exception& e) {
      die(e.what());
    }
    if (trace) {
      std::printf("%s", describe_input().c_str());
      checker_.set_trace(stdout);
    }
    {
      std::unique_lock<std::mutex> lk(m_);
      step_ = 0, done_ = false;
      dispatch();
      cv_[kMaxThreads].wait(lk, [&] { return done_; });
    }
    stats.ops += checker_.ops_checked();
    stats.skipped_ops += checker_.skipped_count();
    stats.misuse += checker_.misuse_count();
    for (unsigned t = 0; trace && t < in.threads; ++t)
      std::printf("thread %u: %zu ops, %llu remote frees, %llu more in the drain\n", t,
                  in.ops[t].size(), in.remote[t], drained_remote_[t]);
  }

private:
  // ---- the baton: only the current step's thread runs; when it is done it starts the next
  void worker(unsigned t) {
    std::unique_lock<std::mutex> lk(m_);
    for (;;) {
      cv_[t].wait(lk, [&] { return go_[t]; });
      go_[t] = false;
      const Step s = in_->steps[step_];
      lk.unlock();
      run_step(t, s);
      lk.lock();
      ++step_;
      dispatch();
    }
  }
  void dispatch() { // m_ held
    if (step_ == in_->steps.size()) {
      done_ = true;
      return cv_[kMaxThreads].notify_one();
    }
    const unsigned t = in_->steps[step_].thread;
    go_[t] = true;
    cv_[t].notify_one();
  }
  void run_step(unsigned t, const Step& s) {
    const Input& in = *in_;
    try {
      checker_.set_slot(std::min(t, in.cfg.nr_cpus));
      if (s.act == Act::Finish)
        return checker_.finish();
      if (s.act == Act::Drain) { // this thread's share: the live handles numbered t mod threads
        for (Handle h = t; h < checker_.handle_count(); h += in.threads)
          if (checker_.allocation(h).live) {
            drained_remote_[t] += in.owner[h] != t;
            checker_.apply(free_of(in, h, h % 16 == 2));
          }
        return;
      }
      for (unsigned i = 0; i < s.count; ++i, ++cur_[t]) {
        if (trace_mode() != Trace::Off)
          std::printf("t%u [%u] ", t, cur_[t]);
        ran_at_[t][cur_[t]] = checker_.ops_checked();
        checker_.apply(in.ops[t][cur_[t]]);
      }
    } catch (const std::exception& e) {
      die(cat("thread ", t, ": ", e.what()));
    }
  }

  std::string describe_input() const {
    const Input& in = *in_;
    std::string s = cat("config: ", in.threads, " threads, nr_cpus ", in.cfg.nr_cpus, ", ",
                        km::profile_name(in.cfg.profile),
                        in.cfg.freelist_hardened ? "" : ", not hardened", "\nbaton:");
    for (const Step& st : in.steps)
      s += st.act == Act::Ops ? cat(" t", st.thread, "x", st.count)
                              : cat(" t", st.thread, st.act == Act::Drain ? ":drain" : ":finish");
    for (unsigned t = 0; t < in.threads; ++t) {
      s += cat("\nthread ", t, ": ", in.ops[t].size(), " ops (", in.remote[t],
               " remote frees); [i] op, and the number of those that ran in the history:");
      for (std::size_t i = 0; i < in.ops[t].size(); ++i)
        s += cat("\n  t", t, " [", i, "] ", km::oracle::to_string(in.ops[t][i]),
                 i < cur_[t]    ? cat("  @", ran_at_[t][i])
                 : i == cur_[t] ? "   <- next"
                                : "");
      s += cat("\n  t", t, " then drain: frees its live #h with h % ", in.threads, " == ", t,
               t + 1 == in.threads ? ", flushes, finish()" : ", flushes");
    }
    return s + "\n";
  }
  [[noreturn]] void die(const std::string& what) const {
    char exe[512] = "fuzz_concurrent";
    if (const ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1); n > 0)
      exe[n] = '\0';
    std::string bytes;
    for (std::size_t i = 0; i < size_; ++i)
      bytes += cat("\\x", km::oracle::hex(data_[i] | 0x100u).substr(3));
    fail(std::runtime_error(cat("fuzz_concurrent: ", what, "\n", describe_input(), "replay: ", exe,
                                " FILE  (the crash-* file libFuzzer wrote; or recreate it:)\n",
                                "  printf '", bytes, "' > concurrent-input && ", exe,
                                " concurrent-input\n  KMALLOC_FUZZ_TRACE=1 ", exe,
                                " FILE  prints every op as it runs")));
  }

  // the baton, under m_
  std::mutex m_;
  std::condition_variable cv_[kMaxThreads + 1]; // [kMaxThreads]: the main thread
  bool go_[kMaxThreads] = {}, done_ = false;
  std::size_t step_ = 0;
  // the input and the checker: set up by the main thread, then used by one thread at a time
  const Input* in_ = nullptr;
  const std::uint8_t* data_ = nullptr;
  std::size_t size_ = 0;
  unsigned cur_[kMaxThreads] = {};               // the next op of each thread's list
  std::vector<std::size_t> ran_at_[kMaxThreads]; // each op's number in the checker's history
  unsigned long long drained_remote_[kMaxThreads] = {};
  km::oracle::HeapChecker checker_;
};

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Stats& stats = begin_input();
  const Input in = decode(data, size);
  static Harness* const harness = new Harness; // with its threads, until the process ends
  harness->run(in, data, size, stats);
  return 0;
}
