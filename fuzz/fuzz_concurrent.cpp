// fuzz/fuzz_concurrent.cpp - the concurrent oracle. One input is split into op lists
// for 2-4 threads of a persistent pool (std::threads made once per process) and a baton
// schedule, run against one heap.
//
// Input: a 4-byte header, then at most 512 records of 6 bytes (fuzz_concurrent.options).
//   [0]     bits 0-1 threads (2 + v % 3), bits 2-3 nr_cpus - 1, bit 4 linux-4-slab (else
//           linux-6), bit 5 freelist hardening off, bits 6-7 both set: free-run allowed
//   [1] [2] object size of the harness's caches conc-a (8 + 2v) and conc-b (16 + 16v)
//   [3]     their flags, conc-a bits 0-3, conc-b 4-7: HWCACHE_ALIGN, CACHE_DMA, RECLAIM_ACCOUNT,
//           CONSISTENCY_CHECKS
//   record  [thread (bits 0-1) | op (bits 2-7, kWeights)] [x] [arg u16] [victim u16]; x is the
//           gfp of kmalloc and krealloc (bit 3 GFP_ATOMIC, 4 __GFP_DMA, 5 __GFP_RECLAIMABLE, 6
//           __GFP_ZERO), for alloc_pages bit 0 GFP_DMA, 1 by address, 2 __GFP_ZERO, for
//           cache_alloc bit 0 the cache, 1 zalloc; x & 7 == 7 frees by kfree_sensitive or by
//           address. arg is the size (size_of) or the order (arg % 4).
// Consecutive records of one thread are one baton step: only that thread runs, then it hands the
// baton to the next step's thread. So an input replays exactly, yet every op runs on its own OS
// thread: each thread has its own cpu slot (or shares the overflow slot when nr_cpus is smaller)
// and an object freed by another thread is a real remote free. Victims are named by allocation
// number: the first live object numbered >= victim % allocations so far, wrapping (free_foreign
// prefers another thread's). Free-run: a `par` record makes its step and the next run at once,
// real races for a bounded stretch. Such inputs do NOT replay exactly, and inside those stretches
// the introspection checks (placement, the justification of a NULL) are off.
//
// Each op is checked: ZERO_SIZE_PTR, alignment, the cache or block model/size_class_model.h
// names, zeroing, krealloc in place iff the new size fits the model's ksize, ksize, the pattern
// of what is freed, moved or looked at, no report ever, and NULL only if no eligible zone has a
// block of order >= 3 (the most any request here needs; live bytes are kept under a budget).
// After the ops every thread flushes and the checker verifies: live objects pairwise disjoint,
// each in an object of its cache or at its block, every pattern, validate() == 0, per cache
// active_objects and total - free objects equal to the live count and no cpu slab, the pages of
// alloc_pages and large kmalloc. Then thread t frees the objects numbered t mod threads (most of
// them remote), every thread flushes, the last shrinks every cache and destroys conc-a/b, and the
// page counts and free blocks must be as right after init (AC4).
//   KMALLOC_FUZZ_TRACE=1  the decoded input, then each op as it runs
//   KMALLOC_FUZZ_STATS=1  "fuzz_stats: inputs=N ops=M ..." at exit (ci/fuzz.sh); ops: checked
// A failure prints the op lists with thread ids, the baton schedule, how far each thread got and
// the commands that replay it, then aborts.
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "fuzz/fuzz_support.h"
#include "kmalloc/heap.h"
#include "kmalloc/kmalloc.h"
#include "model/size_class_model.h"
#include "model/text.h"

#define EXPECT(cond, ...)                                                                          \
  do {                                                                                             \
    if (!(cond))                                                                                   \
      throw std::runtime_error(km::oracle::cat(__VA_ARGS__));                                      \
  } while (0)

namespace {

using namespace km::fuzz;
using km::oracle::cat;
using km::oracle::hex;
namespace front = km::model::front;

constexpr unsigned kMaxThreads = 4, kNeedOrder = 3; // slub_max_order: no request needs more
constexpr std::size_t kHeader = 4, kRecord = 6, kMaxRecords = 512, kArena = 8u << 20;
constexpr std::size_t kBudget[2] = {2u << 20, 512u << 10}; // live bytes: ZONE_NORMAL, ZONE_DMA
const char* const kCacheNames[2] = {"conc-a", "conc-b"};

// Drain and Teardown are the harness's end of input, never decoded.
// clang-format off
enum Code : std::uint8_t { Kmalloc, Kzalloc, Free, FreeForeign, Krealloc, Ksize, CacheAlloc,
                           AllocPages, Flush, Shrink, Par, Drain, Teardown };
// clang-format on
const char* const kNames[] = {"kmalloc", "kzalloc",     "free",        "free_foreign", "krealloc",
                              "ksize",   "cache_alloc", "alloc_pages", "flush",        "shrink",
                              "par",     "drain",       "teardown"};
constexpr unsigned kWeights[] = {16, 4, 12, 8, 5, 5, 6, 4, 1, 1, 2}; // Kmalloc..Par, of 64

struct Op {
  Code code;
  std::uint8_t x;
  std::uint16_t arg, victim;
};
struct Step {
  unsigned thread, count;
  bool together; // free-run: runs at once with the next step
};
struct Input {
  unsigned threads = 2, cache_size[2] = {};
  bool free_run = false;
  km::Config cfg;
  slab_flags_t cache_flags[2] = {};
  std::vector<Op> ops[kMaxThreads];
  std::vector<Step> steps;
};

Input decode(const std::uint8_t* data, std::size_t size) {
  static const auto table = [] {
    std::array<Code, 64> t{};
    for (unsigned c = 0, i = 0; c < std::size(kWeights); ++c)
      for (unsigned w = 0; w < kWeights[c]; ++w)
        t[i++] = static_cast<Code>(c);
    return t;
  }();
  ByteReader r(data, size);
  Input in;
  const unsigned h = r.u8();
  in.threads = 2 + (h & 3) % 3;
  in.cfg.nr_cpus = 1 + (h >> 2 & 3);
  in.cfg.profile = (h & 0x10) != 0 ? km::Profile::Linux4Slab : km::Profile::Linux6;
  in.cfg.freelist_hardened = (h & 0x20) == 0;
  in.cfg.random_seed = 0x5eed; // fixed freelist keys: every run of an input is the same
  in.cfg.arena_size = kArena;
  in.free_run = (h & 0xc0) == 0xc0;
  in.cache_size[0] = 8 + 2u * r.u8();
  in.cache_size[1] = 16 + 16u * r.u8();
  const unsigned f = r.u8();
  for (unsigned c = 0, b = f; c < 2; ++c, b = f >> 4)
    in.cache_flags[c] = ((b & 1) ? SLAB_HWCACHE_ALIGN : 0) | ((b & 2) ? SLAB_CACHE_DMA : 0) |
                        ((b & 4) ? SLAB_RECLAIM_ACCOUNT : 0) |
                        ((b & 8) ? SLAB_CONSISTENCY_CHECKS : 0);
  const std::size_t records =
      size > kHeader ? std::min((size - kHeader) / kRecord, kMaxRecords) : 0;
  for (std::size_t i = 0; i < records; ++i) {
    const unsigned b = r.u8();
    const Op op{table[b >> 2], r.u8(), r.u16(), r.u16()};
    const unsigned t = (b & 3) % in.threads;
    if (op.code == Par && !in.free_run)
      continue;
    if (in.steps.empty() || in.steps.back().thread != t)
      in.steps.push_back({t, 0, false});
    if (op.code == Par)
      in.steps.back().together = true;
    else
      in.ops[t].push_back(op), ++in.steps.back().count;
  }
  return in;
}

// Sizes by arg's low 2 bits: up to 64, 512, 4096 bytes, or even sizes up to 32766.
std::size_t size_of(std::uint16_t arg) {
  static constexpr std::size_t kLimit[3] = {64, 512, 4096};
  return (arg & 3) == 3 ? std::size_t{arg} >> 2 << 1 : (arg >> 2) % (kLimit[arg & 3] + 1);
}
gfp_t gfp_of(std::uint8_t x) {
  return ((x & 8) ? GFP_ATOMIC : GFP_KERNEL) | ((x & 16) ? __GFP_DMA : 0) |
         ((x & 32) ? __GFP_RECLAIMABLE : 0) | ((x & 64) ? __GFP_ZERO : 0);
}
gfp_t pages_gfp(std::uint8_t x) {
  return ((x & 1) ? GFP_DMA : GFP_KERNEL) | ((x & 4) ? __GFP_ZERO : 0);
}
bool alt_free(std::uint8_t x) { // kfree_sensitive, or free_pages by address
  return (x & 7) == 7;
}

std::string describe(const Op& op) {
  const auto gfp = [](gfp_t g) { return km::oracle::gfp_to_string(g); };
  switch (op.code) {
  case Kmalloc:
  case Kzalloc: return cat(kNames[op.code], "(", size_of(op.arg), ", ", gfp(gfp_of(op.x)), ")");
  case Krealloc:
    return cat("krealloc(#~", op.victim, ", ", size_of(op.arg), ", ", gfp(gfp_of(op.x)), ")");
  case Free:
  case FreeForeign:
    return cat(kNames[op.code], "(#~", op.victim, alt_free(op.x) ? ", sensitive/by address)" : ")");
  case Ksize: return cat("ksize(#~", op.victim, ")");
  case CacheAlloc:
    return cat("cache_alloc(", kCacheNames[op.x & 1], (op.x & 2) ? ", __GFP_ZERO)" : ")");
  case AllocPages:
    return cat((op.x & 2) ? "get_free_pages(" : "alloc_pages(", gfp(pages_gfp(op.x)), ", ",
               op.arg % (kNeedOrder + 1), ")");
  case Shrink: return cat("shrink(", kCacheNames[op.x & 1], ")");
  default: return kNames[op.code];
  }
}

std::uintptr_t addr(const void* p) {
  return reinterpret_cast<std::uintptr_t>(p);
}

// The fill pattern of allocation #id: byte i is byte i % 8 (little-endian) of the word
// splitmix64(id) + (i / 8) * golden ratio; whole words are written and compared at once.
std::uint64_t word_of(std::uint64_t key, std::size_t i) {
  return key + i / 8 * 0x9e3779b97f4a7c15ull;
}
unsigned char byte_of(std::uint64_t key, std::size_t i) {
  return static_cast<unsigned char>(word_of(key, i) >> (i % 8 * 8));
}
void fill(void* p, std::size_t n, std::uint32_t id) {
  auto* b = static_cast<unsigned char*>(p);
  const std::uint64_t key = km::oracle::splitmix64(id);
  std::size_t i = 0;
  for (std::uint64_t w; i + 8 <= n; i += 8)
    std::memcpy(b + i, &(w = word_of(key, i)), 8);
  for (; i < n; ++i)
    b[i] = byte_of(key, i);
}
// The first byte in [from, n) that is not the pattern of `key` (zero: that is not 0), or n.
std::size_t mismatch(const void* p, std::size_t from, std::size_t n, bool zero, std::uint64_t key) {
  const auto* b = static_cast<const unsigned char*>(p);
  std::size_t i = from;
  for (std::uint64_t w; from % 8 == 0 && i + 8 <= n; i += 8)
    if (std::memcpy(&w, b + i, 8); w != (zero ? 0 : word_of(key, i)))
      break;
  for (; i < n; ++i)
    if (b[i] != (zero ? 0 : byte_of(key, i)))
      return i;
  return n;
}
std::size_t nonzero(const void* p, std::size_t from, std::size_t to) {
  return mismatch(p, from, to, true, 0);
}

enum class Kind : std::uint8_t { Slab, Large, Cache, Pages };
const char* const kKindNames[] = {"kmalloc", "large kmalloc", "cache object", "pages"};
struct Obj {
  void* p = nullptr;
  struct page* pg = nullptr;        // Pages
  std::size_t size = 0, extent = 0; // bytes asked for; the model's ksize or block bytes
  std::size_t align = 8;            // the minimum alignment the model predicts
  Kind kind = Kind::Slab;
  front::CacheType type = front::CacheType::Normal;
  unsigned order = 0, owner = 0, cache = 0; // Large/Pages; the allocating thread; Cache: 0 or 1
  bool dma = false;                         // must come from ZONE_DMA
  std::size_t filled() const { return kind == Kind::Pages ? extent : size; }
  std::string what(std::uint32_t id) const {
    return cat("#", id, " (", kKindNames[static_cast<int>(kind)], " of ", size, " bytes at ",
               hex(addr(p)), ", allocated by thread ", owner, ")");
  }
};

using Blocks = std::vector<std::tuple<unsigned, std::uintptr_t, unsigned>>;

std::string counts(const km::PageCounts& c) {
  return cat("total ", c.total, " free ", c.free, " metadata ", c.metadata, " page_alloc ",
             c.page_alloc, " slab ", c.slab, " large_kmalloc ", c.large_kmalloc);
}

class Harness {
public:
  Harness() {
    heap_.set_report_handler(&Harness::on_report, this); // survives destroy(): every input's
    for (unsigned t = 0; t < kMaxThreads; ++t)
      std::thread([this, t] { worker(t); }).detach(); // the pool lives as long as the process
  }

  void run(const Input& in, const std::uint8_t* data, std::size_t size, Stats& stats) {
    in_ = &in, data_ = data, size_ = size;
    trace_ = trace_mode() != Trace::Off;
    const char* phase = "setup: ";
    try {
      model_.init(in.cfg);
      has_dma_ = km::effective_dma_zone_size(in.cfg, kArena) != 0;
      const km::Status st = heap_.init(in.cfg, region(), kArena);
      EXPECT(st.ok, "heap init failed: ", st.message);
      initial_counts_ = heap_.page_counts();
      initial_blocks_ = free_blocks();
      by_name_.clear();
      for (const kmem_cache* c : caches())
        by_name_[heap_.cache_info(c).name] = c;
      for (unsigned c = 0; c < 2; ++c) {
        caches_[c] = heap_.kmem_cache_create(kCacheNames[c], in.cache_size[c], 0, in.cache_flags[c],
                                             nullptr);
        EXPECT(caches_[c] != nullptr, "kmem_cache_create(", kCacheNames[c], ") failed");
        by_name_[kCacheNames[c]] = caches_[c];
      }
      live_.clear(), next_id_ = 0, used_[0] = used_[1] = 0;
      std::vector<Step> steps = in.steps, drain; // the ops, then every thread flushes
      for (unsigned t = 0; t < kMaxThreads; ++t) {
        lists_[t] = in.ops[t], cur_[t] = 0, skipped_[t] = remote_[t] = 0;
        if (t < in.threads) {
          lists_[t].insert(lists_[t].end(), {{Flush, 0, 0, 0}, {Drain, 0, 0, 0}, {Flush, 0, 0, 0}});
          steps.push_back({t, 1, false});
          drain.push_back({t, 2, false}); // frees its share and flushes
        }
      }
      lists_[in.threads - 1].push_back({Teardown, 0, 0, 0}); // by the last thread to drain
      ++drain.back().count;
      if (trace_)
        std::printf("%s", describe_input().c_str());
      run_steps(steps);
      phase = "the check after the ops, every thread flushed: ";
      check_live();
      phase = "the check at the end, everything freed, shrunk and destroyed: ";
      run_steps(drain);
      EXPECT(live_.empty(), live_.size(), " objects still live after the drain");
      EXPECT(counts(heap_.page_counts()) == counts(initial_counts_), "page counts ",
             counts(heap_.page_counts()), ", after init ", counts(initial_counts_));
      EXPECT(free_blocks() == initial_blocks_, "the free blocks are not those after init");
    } catch (const std::exception& e) {
      die(cat(phase, e.what()));
    }
    heap_.destroy();
    for (unsigned t = 0; t < in.threads; ++t) {
      stats.ops += in.ops[t].size() - skipped_[t];
      stats.skipped_ops += skipped_[t];
      if (trace_)
        std::printf("thread %u: %zu ops, %llu skipped, %llu remote frees\n", t, in.ops[t].size(),
                    skipped_[t], remote_[t]);
    }
  }

private:
  // ---- the baton: only the threads of the current step run; the last to finish starts the next
  void worker(unsigned t) {
    std::unique_lock<std::mutex> lk(m_);
    for (;;) {
      cv_[t].wait(lk, [&] { return go_[t]; });
      go_[t] = false;
      lk.unlock();
      run_ops(t, grant_[t]);
      lk.lock();
      if (--running_ == 0)
        dispatch();
    }
  }
  void start(const Step& s, bool alone) { // m_ held
    grant_[s.thread] = s.count, alone_[s.thread] = alone, go_[s.thread] = true, ++running_;
    cv_[s.thread].notify_one();
  }
  void dispatch() { // m_ held
    if (step_ == steps_->size()) {
      done_ = true;
      return cv_[kMaxThreads].notify_one();
    }
    const Step& s = (*steps_)[step_++];
    const bool pair = s.together && step_ < steps_->size() && (*steps_)[step_].thread != s.thread;
    start(s, !pair);
    if (pair)
      start((*steps_)[step_++], false);
  }
  void run_steps(const std::vector<Step>& steps) {
    std::unique_lock<std::mutex> lk(m_);
    steps_ = &steps, step_ = 0, done_ = false;
    dispatch();
    cv_[kMaxThreads].wait(lk, [&] { return done_; });
  }
  void run_ops(unsigned t, unsigned n) {
    try {
      for (unsigned i = 0; i < n; ++i) {
        const unsigned at = cur_[t].load(std::memory_order_relaxed);
        if (trace_)
          std::printf("t%u [%u] %s\n", t, at, describe(lists_[t][at]).c_str());
        exec(t, lists_[t][at]);
        cur_[t].store(at + 1, std::memory_order_relaxed);
        if (reports_.load() != 0) {
          std::lock_guard<std::mutex> lk(report_m_);
          throw std::runtime_error("the heap reported (no op here is misuse): " + first_report_);
        }
      }
    } catch (const std::exception& e) {
      die(cat("thread ", t, ": ", e.what()));
    }
  }

  // ---- the ops
  void exec(unsigned t, const Op& op) {
    std::uint32_t id = 0;
    Obj o;
    switch (op.code) {
    case Kmalloc:
    case Kzalloc: {
      const gfp_t gfp = gfp_of(op.x) | (op.code == Kzalloc ? __GFP_ZERO : 0);
      const std::size_t size = size_of(op.arg);
      const front::Prediction pr = model_.predict(size, gfp);
      if (pr.path == front::Path::Zero) {
        void* p = heap_.kmalloc(0, gfp);
        EXPECT(p == ZERO_SIZE_PTR, "kmalloc(0) returned ", hex(addr(p)), ", not ZERO_SIZE_PTR");
        return heap_.kfree(p);
      }
      o = kmalloc_obj(pr, size);
      if (pr.path != front::Path::Slab && pr.path != front::Path::Large) // none is out of contract
        return skip(t);
      if (!reserve(o))
        return skip(t);
      o.p = heap_.kmalloc(size, gfp);
      return o.p == nullptr ? on_null(t, o) : place(t, o, (gfp & __GFP_ZERO) != 0);
    }
    case Free:
    case FreeForeign:
      if (!take(t, op, id, o))
        return skip(t);
      verify(id, o, o.filled());
      remote_[t] += o.owner != t;
      return free_obj(o, alt_free(op.x));
    case Krealloc: return krealloc(t, op);
    case Ksize:
      if (!take(t, op, id, o))
        return skip(t);
      verify(id, o, o.filled());
      if (o.kind != Kind::Pages) {
        const std::size_t k = heap_.ksize(o.p);
        EXPECT(o.kind == Kind::Cache ? k >= o.size : k == o.extent, "ksize of ", o.what(id), " is ",
               k, ", the model says ", o.kind == Kind::Cache ? ">= " : "",
               o.kind == Kind::Cache ? o.size : o.extent);
      }
      return put(id, o);
    case CacheAlloc: {
      o.kind = Kind::Cache, o.cache = op.x & 1;
      o.size = o.extent = in_->cache_size[o.cache];
      o.dma = (in_->cache_flags[o.cache] & SLAB_CACHE_DMA) != 0 && has_dma_;
      if (!reserve(o))
        return skip(t);
      const bool zero = (op.x & 2) != 0;
      o.p = zero ? heap_.kmem_cache_zalloc(caches_[o.cache], GFP_KERNEL)
                 : heap_.kmem_cache_alloc(caches_[o.cache], GFP_KERNEL);
      return o.p == nullptr ? on_null(t, o) : place(t, o, zero);
    }
    case AllocPages: {
      const gfp_t gfp = pages_gfp(op.x);
      o.kind = Kind::Pages, o.order = op.arg % (kNeedOrder + 1);
      o.size = o.extent = o.align = model_.page_size() << o.order;
      o.dma = (gfp & __GFP_DMA) != 0 && has_dma_;
      if (!reserve(o))
        return skip(t);
      if ((op.x & 2) != 0) {
        o.p = reinterpret_cast<void*>(heap_.get_free_pages(gfp, o.order));
        o.pg = o.p != nullptr ? heap_.virt_to_page(o.p) : nullptr;
      } else {
        o.pg = heap_.alloc_pages(gfp, o.order);
        o.p = o.pg != nullptr ? heap_.page_address(o.pg) : nullptr;
      }
      return o.p == nullptr ? on_null(t, o) : place(t, o, (gfp & __GFP_ZERO) != 0);
    }
    case Flush: return heap_.flush_cpu_slabs();
    case Shrink: heap_.kmem_cache_shrink(caches_[op.x & 1]); return;
    case Par: return;
    case Drain: { // this thread's share of the live objects: those numbered t mod threads
      std::vector<std::pair<std::uint32_t, Obj>> mine;
      {
        std::lock_guard<std::mutex> lk(pool_m_);
        for (auto it = live_.begin(); it != live_.end();)
          if (it->first % in_->threads == t)
            mine.emplace_back(*it), it = live_.erase(it);
          else
            ++it;
      }
      for (const auto& [n, obj] : mine) {
        verify(n, obj, obj.filled());
        remote_[t] += obj.owner != t;
        free_obj(obj, n % 16 == 2);
      }
      return;
    }
    case Teardown:
      for (const kmem_cache* c : caches())
        EXPECT(heap_.kmem_cache_shrink(const_cast<kmem_cache*>(c)) == 0, heap_.cache_info(c).name,
               " keeps a slab after everything was freed and kmem_cache_shrink");
      for (kmem_cache*& c : caches_)
        heap_.kmem_cache_destroy(c), c = nullptr;
      return;
    }
  }

  void krealloc(unsigned t, const Op& op) {
    std::uint32_t id = 0;
    Obj o;
    if (!take(t, op, id, o))
      return skip(t);
    verify(id, o, o.size);
    const std::size_t size = size_of(op.arg);
    const gfp_t gfp = gfp_of(op.x);
    if (size == 0) {
      void* q = heap_.krealloc(o.p, 0, gfp);
      EXPECT(q == ZERO_SIZE_PTR, "krealloc(", o.what(id), ", 0) returned ", hex(addr(q)));
      return release(o);
    }
    if (size <= o.extent) { // it fits: stays in place (so shrinking never moves)
      void* q = heap_.krealloc(o.p, size, gfp);
      EXPECT(q == o.p, "krealloc(", o.what(id), ", ", size, ") moved it to ", hex(addr(q)),
             ", although the model's ksize is ", o.extent);
      verify(id, o, std::min(o.size, size));
      o.size = size;
      fill(o.p, size, id);
      return put(id, o);
    }
    Obj n = kmalloc_obj(model_.predict(size, gfp), size);
    n.owner = t;
    if (!reserve(n)) {
      skip(t);
      return put(id, o);
    }
    n.p = heap_.krealloc(o.p, size, gfp);
    if (n.p == nullptr) {
      on_null(t, n);
      verify(id, o, o.size); // left intact
      return put(id, o);
    }
    EXPECT(n.p != o.p, "krealloc(", o.what(id), ", ", size, ") stayed beyond the model's ksize ",
           o.extent);
    verify(id, n, o.size); // the copy
    EXPECT((gfp & __GFP_ZERO) == 0 || nonzero(n.p, o.extent, size) == size, "krealloc(", o.what(id),
           ", ", size, ", __GFP_ZERO) left byte ", nonzero(n.p, o.extent, size), " nonzero");
    remote_[t] += o.owner != t;
    release(o);
    if (alone_[t])
      check_place(id, n);
    fill(n.p, size, id);
    put(id, n);
  }

  Obj kmalloc_obj(const front::Prediction& pr, std::size_t size) const {
    Obj o;
    o.kind = pr.path == front::Path::Large ? Kind::Large : Kind::Slab;
    o.size = size, o.extent = pr.ksize, o.align = pr.align, o.type = pr.type, o.order = pr.order;
    o.dma = pr.dma && has_dma_;
    return o;
  }
  bool reserve(const Obj& o) {
    std::lock_guard<std::mutex> lk(pool_m_);
    if (used_[o.dma] + o.extent > kBudget[o.dma])
      return false;
    used_[o.dma] += o.extent;
    return true;
  }
  void release(const Obj& o) {
    std::lock_guard<std::mutex> lk(pool_m_);
    used_[o.dma] -= o.extent;
  }
  void skip(unsigned t) { ++skipped_[t]; }
  // A new object: zeroed if asked, where the model says, then filled and live.
  void place(unsigned t, Obj o, bool zeroed) {
    const std::size_t n = o.filled();
    EXPECT(!zeroed || nonzero(o.p, 0, n) == n, "zeroed ", kKindNames[static_cast<int>(o.kind)],
           " at ", hex(addr(o.p)), " has byte ", nonzero(o.p, 0, n), " nonzero");
    std::uint32_t id;
    {
      std::lock_guard<std::mutex> lk(pool_m_);
      id = next_id_++;
    }
    o.owner = t;
    if (alone_[t])
      check_place(id, o);
    fill(o.p, n, id);
    if (trace_)
      std::printf("    = #%u %s\n", id, hex(addr(o.p)).c_str());
    put(id, o);
  }
  // Takes the victim out of the live set: the first live object numbered >= victim %
  // allocations (wrapping) the op can act on; free_foreign prefers another thread's.
  bool take(unsigned t, const Op& op, std::uint32_t& id, Obj& o) {
    std::lock_guard<std::mutex> lk(pool_m_);
    if (live_.empty())
      return false;
    const auto from = live_.lower_bound(op.victim % next_id_);
    for (int pass = op.code == FreeForeign ? 0 : 1; pass < 2; ++pass) {
      auto it = from;
      for (std::size_t i = 0; i < live_.size(); ++i, ++it) {
        if (it == live_.end())
          it = live_.begin();
        const Kind k = it->second.kind;
        if (op.code == Krealloc ? k == Kind::Slab || k == Kind::Large
                                : pass == 1 || it->second.owner != t) {
          id = it->first, o = it->second;
          live_.erase(it);
          return true;
        }
      }
    }
    return false;
  }
  void put(std::uint32_t id, const Obj& o) {
    std::lock_guard<std::mutex> lk(pool_m_);
    live_.emplace(id, o);
  }
  void free_obj(const Obj& o, bool alt) {
    if (o.kind == Kind::Cache)
      heap_.kmem_cache_free(caches_[o.cache], o.p);
    else if (o.kind == Kind::Pages)
      alt ? heap_.free_pages(addr(o.p), o.order) : heap_.free_pages(o.pg, o.order);
    else
      alt ? heap_.kfree_sensitive(o.p) : heap_.kfree(o.p);
    release(o);
  }
  // NULL is out of memory only if no eligible zone has a block a request here could need.
  void on_null(unsigned t, const Obj& o) {
    for (unsigned z = 0; alone_[t] && z < heap_.nr_zones(); ++z) {
      const km::ZoneInfo zi = heap_.zone_info(z);
      for (unsigned k = kNeedOrder; k <= in_->cfg.max_order; ++k)
        EXPECT((o.dma && std::strcmp(zi.name, "DMA") != 0) || zi.nr_free[k] == 0, "NULL for a ",
               kKindNames[static_cast<int>(o.kind)], " of ", o.size, " bytes while zone ", zi.name,
               " has a free block of order ", k);
    }
    release(o);
    skip(t);
  }
  void verify(std::uint32_t id, const Obj& o, std::size_t n) const {
    const std::size_t at = mismatch(o.p, 0, n, false, km::oracle::splitmix64(id));
    EXPECT(at == n, "the fill pattern of ", o.what(id), " is broken at byte ", at);
  }

  // ---- the checks
  // The object lies where the model says: in an object of its cache, or at the head of its block.
  void check_place(std::uint32_t id, const Obj& o) const {
    EXPECT(addr(o.p) % o.align == 0, o.what(id), " is not aligned to ", o.align);
    const km::PageInfo pi = heap_.page_info(o.p);
    EXPECT(pi.in_arena, o.what(id), " is outside the arena");
    EXPECT(!o.dma || std::strcmp(heap_.zone_info(pi.zone).name, "DMA") == 0, o.what(id),
           " must come from ZONE_DMA, not ", heap_.zone_info(pi.zone).name);
    if (o.kind == Kind::Slab || o.kind == Kind::Cache) {
      const km::SlabObject so = heap_.slab_object(o.p);
      const std::string name =
          o.kind == Kind::Cache ? kCacheNames[o.cache] : model_.cache_name(o.type, o.extent);
      const auto it = by_name_.find(name);
      EXPECT(so.cache != nullptr && so.object == addr(o.p), o.what(id), " is not an object start (",
             page_owner_name(pi.owner), " page)");
      EXPECT(it != by_name_.end() && so.cache == it->second, o.what(id), " is in ",
             heap_.cache_info(so.cache).name, ", the model says ", name);
    } else {
      const km::PageOwner want =
          o.kind == Kind::Large ? km::PageOwner::LargeKmalloc : km::PageOwner::PageAlloc;
      EXPECT(pi.owner == want && pi.block == addr(o.p) && pi.order == o.order, o.what(id),
             " is in a ", page_owner_name(pi.owner), " block at ", hex(pi.block), " of order ",
             pi.order, ", the model says ", page_owner_name(want), " of order ", o.order);
    }
  }
  // After every thread flushed: the live set against the heap.
  void check_live() {
    const std::size_t broken = heap_.validate();
    EXPECT(broken == 0, "validate() found ", broken, " broken invariants: ", first_report_);
    std::vector<std::pair<std::uintptr_t, std::uint32_t>> by_addr;
    std::map<std::string, std::size_t> per_cache;
    std::size_t pages[2] = {}; // alloc_pages, large kmalloc
    for (const auto& [id, o] : live_) {
      by_addr.emplace_back(addr(o.p), id);
      verify(id, o, o.filled());
      check_place(id, o);
      if (o.kind == Kind::Slab || o.kind == Kind::Cache)
        ++per_cache[o.kind == Kind::Cache ? kCacheNames[o.cache]
                                          : model_.cache_name(o.type, o.extent)];
      else
        pages[o.kind == Kind::Large] += o.extent / model_.page_size();
    }
    std::sort(by_addr.begin(), by_addr.end());
    for (std::size_t i = 1; i < by_addr.size(); ++i) {
      const Obj& a = live_[by_addr[i - 1].second];
      EXPECT(by_addr[i - 1].first + a.extent <= by_addr[i].first, a.what(by_addr[i - 1].second),
             " (", a.extent, " bytes) overlaps ", live_[by_addr[i].second].what(by_addr[i].second));
    }
    for (const kmem_cache* c : caches()) {
      const km::CacheInfo ci = heap_.cache_info(c);
      const std::size_t want = per_cache[ci.name];
      per_cache.erase(ci.name);
      EXPECT(ci.active_objects == want && ci.total_objects - ci.free_objects == want &&
                 ci.nr_cpu_slabs == 0,
             ci.name, ": active_objects ", ci.active_objects, ", total - free ",
             ci.total_objects - ci.free_objects, ", cpu slabs ", ci.nr_cpu_slabs,
             "; the live set has ", want, " objects");
    }
    EXPECT(per_cache.empty(), "no cache named ", per_cache.empty() ? "" : per_cache.begin()->first);
    const km::PageCounts pc = heap_.page_counts();
    EXPECT(pc.page_alloc == pages[0] && pc.large_kmalloc == pages[1], "page counts ", counts(pc),
           "; the live set has ", pages[0], " alloc_pages and ", pages[1], " large kmalloc pages");
  }
  std::vector<const kmem_cache*> caches() const {
    std::vector<const kmem_cache*> out;
    heap_.for_each_cache(
        [](void* ctx, const kmem_cache* c) {
          static_cast<std::vector<const kmem_cache*>*>(ctx)->push_back(c);
        },
        &out);
    return out;
  }
  Blocks free_blocks() const {
    Blocks out;
    heap_.for_each_free_block(
        [](void* ctx, const km::FreeBlock& b) {
          static_cast<Blocks*>(ctx)->emplace_back(b.zone, b.pfn, b.order);
        },
        &out);
    std::sort(out.begin(), out.end());
    return out;
  }
  static void on_report(void* context, const km::ErrorReport& report) {
    auto* self = static_cast<Harness*>(context);
    std::lock_guard<std::mutex> lk(self->report_m_);
    if (self->reports_.fetch_add(1) == 0)
      self->first_report_ = report.message;
  }

  std::string describe_input() const {
    const Input& in = *in_;
    std::string s =
        cat("config: ", in.threads, " threads, nr_cpus ", in.cfg.nr_cpus, ", ",
            km::profile_name(in.cfg.profile), in.cfg.freelist_hardened ? "" : ", not hardened",
            in.free_run ? ", free-run: the par stretches do NOT replay exactly"
                        : ", baton only: replays exactly",
            "\ncaches:");
    for (unsigned c = 0; c < 2; ++c)
      s += cat(" ", kCacheNames[c], " size ", in.cache_size[c], " flags ",
               km::oracle::slab_flags_to_string(in.cache_flags[c]));
    s += "\nbaton:";
    for (std::size_t i = 0; i < in.steps.size(); ++i)
      s += cat(in.steps[i].together ? " (" : " ", "t", in.steps[i].thread, "x", in.steps[i].count,
               in.steps[i].together ? " ||" : "", i > 0 && in.steps[i - 1].together ? ")" : "");
    for (unsigned t = 0; t < in.threads; ++t) {
      const unsigned at = cur_[t].load(std::memory_order_relaxed);
      s += cat("\nthread ", t, ": ", in.ops[t].size(), " ops, then the end of input:");
      for (std::size_t i = 0; i < lists_[t].size(); ++i)
        s += cat("\n  t", t, " [", i, "] ", describe(lists_[t][i]), i == at ? "   <- next" : "");
    }
    return s + "\n";
  }
  [[noreturn]] void die(const std::string& what) const {
    static std::mutex once;
    once.lock(); // the first failure prints and aborts; a second one's thread waits here
    char exe[512] = "fuzz_concurrent";
    if (const ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1); n > 0)
      exe[n] = '\0';
    std::string bytes;
    for (std::size_t i = 0; i < size_; ++i)
      bytes += cat("\\x", hex(data_[i] | 0x100u).substr(3));
    fail(std::runtime_error(cat("fuzz_concurrent: ", what, "\n", describe_input(), "replay: ", exe,
                                " FILE  (the crash-* file libFuzzer wrote; or recreate it:)\n",
                                "  printf '", bytes, "' > concurrent-input && ", exe,
                                " concurrent-input\n  KMALLOC_FUZZ_TRACE=1 ", exe,
                                " FILE  prints every op as it runs")));
  }

  // the baton, under m_
  std::mutex m_;
  std::condition_variable cv_[kMaxThreads + 1]; // [kMaxThreads]: the main thread
  bool go_[kMaxThreads] = {}, alone_[kMaxThreads] = {}, done_ = false;
  unsigned grant_[kMaxThreads] = {}, running_ = 0;
  const std::vector<Step>* steps_ = nullptr;
  std::size_t step_ = 0;
  // the input and the heap, set up by the main thread between runs
  const Input* in_ = nullptr;
  const std::uint8_t* data_ = nullptr;
  std::size_t size_ = 0;
  std::vector<Op> lists_[kMaxThreads]; // the decoded ops, then the harness's end of input
  std::atomic<unsigned> cur_[kMaxThreads] = {};
  unsigned long long skipped_[kMaxThreads] = {}, remote_[kMaxThreads] = {};
  km::Heap heap_;
  front::SizeClassModel model_;
  bool has_dma_ = false, trace_ = false;
  kmem_cache* caches_[2] = {};
  km::PageCounts initial_counts_;
  Blocks initial_blocks_;
  std::map<std::string, const kmem_cache*> by_name_; // every cache
  // the live objects by allocation number, under pool_m_
  std::mutex pool_m_;
  std::map<std::uint32_t, Obj> live_;
  std::uint32_t next_id_ = 0;
  std::size_t used_[2] = {};
  // reports, under report_m_
  std::mutex report_m_;
  std::atomic<unsigned> reports_{0};
  std::string first_report_;
};

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Stats& stats = begin_input();
  const Input in = decode(data, size);
  static Harness* const harness = new Harness; // with its threads, until the process ends
  harness->run(in, data, size, stats);
  return 0;
}
