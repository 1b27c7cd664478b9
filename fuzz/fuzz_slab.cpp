// fuzz/fuzz_slab.cpp - libFuzzer target: a byte string -> a slab config and op stream, run
// through SlabChecker (heap vs the slab model). The encoding is documented in corpus/README.md
// ("fuzz_slab") and in decode_config / decode_op below.
//
// Every input gets a fresh Heap over one region mapped once per process (aligned to 64 MiB,
// so pfns and natural alignment do not depend on where mmap put it). A mismatch prints the
// error with the op list and aborts. KMALLOC_FUZZ_TRACE=1 prints each decoded op as it runs,
// KMALLOC_FUZZ_TRACE=cpp the op list as C++ for a regression test; KMALLOC_FUZZ_STATS=1 prints
// "fuzz_stats: inputs=N ops=M ..." at exit.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <vector>

#include "fuzz/fuzz_support.h"
#include "kmalloc/config.h"
#include "kmalloc/gfp.h"
#include "kmalloc/slab.h"
#include "model/slab_checker.h"
#include "model/slab_op.h"

namespace {

using namespace km::fuzz;
using namespace km::model::slab;

constexpr std::size_t kMinPages = 16;
constexpr std::size_t kMaxPages = 2048;
constexpr std::size_t kSmallPages = 256; // most arenas: the checker walks every page per op
constexpr std::size_t kMaxOps = 2048;

// Header, 8 bytes:
//   [0] page_shift {12,14,16}[b % 3]; bit 2: freelist_hardened off; bits 3-4: max_caches
//       {16, 16, 4, 128}
//   [1] nr_cpus: bit 7 ? 1 + (b & 63) : 1 + (b & 3)
//   [2] max_order = 10 - b % 11
//   [3,4] arena pages: u16 v, bit 15 ? 16 + v % 2033 : 16 + v % 241 (at most 64 << max_order,
//         clamped to the region)
//   [5] DMA zone: pages * b / 256
//   [6] bit 0: slub_min_objects = 1 + [7]; bit 1: slub_max_order = (b >> 2) & 7;
//       bit 5: cache_line_size 32, bit 6: cache_line_size 128
//   [7] see [6]
km::Config decode_config(ByteReader& in) {
  static constexpr unsigned kShifts[] = {12, 14, 16};
  static constexpr unsigned kCaches[] = {16, 16, 4, 128};
  km::Config cfg;
  const std::uint8_t b0 = in.u8();
  cfg.page_shift = kShifts[b0 % 3];
  cfg.freelist_hardened = (b0 & 0x04) == 0;
  cfg.max_caches = kCaches[(b0 >> 3) & 3];
  const std::uint8_t b1 = in.u8();
  cfg.nr_cpus = (b1 & 0x80) ? 1 + (b1 & 63u) : 1 + (b1 & 3u);
  cfg.max_order = 10 - in.u8() % 11;
  const std::uint16_t pv = in.u16();
  std::size_t pages = (pv & 0x8000) ? kMinPages + pv % (kMaxPages - kMinPages + 1)
                                    : kMinPages + pv % (kSmallPages - kMinPages + 1);
  // At most 64 blocks of the largest order: the checker compares every free block per op.
  pages = std::min(pages, std::max(kMinPages, std::size_t{64} << cfg.max_order));
  if (pages > (kRegionBytes >> cfg.page_shift))
    pages = kRegionBytes >> cfg.page_shift;
  cfg.arena_size = pages << cfg.page_shift;
  cfg.dma_zone_size = (pages * in.u8() / 256) << cfg.page_shift;
  const std::uint8_t b6 = in.u8();
  const std::uint8_t b7 = in.u8();
  if (b6 & 0x01)
    cfg.slub_min_objects = 1 + b7;
  if (b6 & 0x02)
    cfg.slub_max_order = (b6 >> 2) & 7;
  if (b6 & 0x20)
    cfg.cache_line_size = 32;
  else if (b6 & 0x40)
    cfg.cache_line_size = 128;
  cfg.random_seed = 0x5eed;
  return cfg;
}

gfp_t decode_gfp(std::uint8_t b) {
  gfp_t gfp = (b & 1) ? GFP_ATOMIC : GFP_KERNEL;
  if (b & 0x02)
    gfp |= __GFP_ZERO;
  if (b & 0x04)
    gfp |= __GFP_NOWARN;
  if (b & 0x08)
    gfp |= __GFP_NOFAIL;
  if ((b & 0xf0) == 0xf0)
    gfp |= 0x800000u; // outside __GFP_BITS_MASK
  return gfp;
}

// Object sizes: [15:14] 0: 1..256, 1: 1..4096, 2: a kmalloc size, 3: 0..16383.
unsigned decode_size(std::uint16_t v) {
  static constexpr unsigned kKmalloc[] = {8,   16,  32,   64,   96,   128,  192,
                                          256, 512, 1024, 2048, 4096, 8192, 24};
  switch (v >> 14) {
  case 0: return 1 + (v & 0xff);
  case 1: return 1 + (v & 0xfff);
  case 2: return kKmalloc[(v & 0x3fff) % 14];
  default: return v & 0x3fff;
  }
}

// Flags: bit 0 HWCACHE_ALIGN, 1 CACHE_DMA, 2 CONSISTENCY_CHECKS, 3 ctor, 4 RECLAIM_ACCOUNT,
// 5 PANIC, 6 ACCOUNT|NO_MERGE|KMALLOC, 7 an unsupported flag (chosen by the align byte).
CacheCreate decode_create(std::uint16_t size, std::uint8_t ab, std::uint8_t fb) {
  static constexpr slab_flags_t kUnsupported[] = {
      SLAB_RED_ZONE,        SLAB_POISON,      SLAB_STORE_USER, SLAB_TRACE,
      SLAB_TYPESAFE_BY_RCU, SLAB_CACHE_DMA32, 0x80000000u,     SLAB_RED_ZONE};
  CacheCreate c;
  c.size = decode_size(size);
  c.align = (ab & 0x80) ? ((ab & 0x40) ? 24u : 1u << (ab & 7)) : 0u;
  if (fb & 0x01)
    c.flags |= SLAB_HWCACHE_ALIGN;
  if (fb & 0x02)
    c.flags |= SLAB_CACHE_DMA;
  if (fb & 0x04)
    c.flags |= SLAB_CONSISTENCY_CHECKS;
  c.ctor = (fb & 0x08) != 0;
  if (fb & 0x10)
    c.flags |= SLAB_RECLAIM_ACCOUNT;
  if (fb & 0x20)
    c.flags |= SLAB_PANIC;
  if (fb & 0x40)
    c.flags |= SLAB_ACCOUNT | SLAB_NO_MERGE | SLAB_KMALLOC;
  if (fb & 0x80)
    c.flags |= kUnsupported[(ab >> 3) & 7];
  return c;
}

// Victim pickers: start at sel % n and take the first candidate from there (wrapping).
template <class Pred> bool pick(std::size_t n, unsigned sel, Pred pred, std::uint32_t& out) {
  if (n == 0)
    return false;
  for (std::size_t k = 0; k < n; ++k) {
    const std::size_t i = (sel + k) % n;
    if (pred(i)) {
      out = static_cast<std::uint32_t>(i);
      return true;
    }
  }
  return false;
}

// One op: a code byte (& 31), then its arguments. Returns false when the op has no possible
// victim (it is skipped).
bool decode_op(ByteReader& in, const SlabModel& m, Op& out) {
  const unsigned code = in.u8() & 31;
  const std::size_t nc = m.cache_count();
  const std::size_t no = m.object_count();
  auto live_cache = [&](std::size_t i) { return m.cache(static_cast<CacheId>(i)).live; };
  auto any_cache = [&](std::size_t) { return true; };
  auto live_object = [&](std::size_t i) {
    return m.object(static_cast<ObjectId>(i)).state == ObjState::Live;
  };
  auto any_object = [&](std::size_t i) {
    return m.object(static_cast<ObjectId>(i)).state != ObjState::Freed;
  };
  auto freed_debug = [&](std::size_t i) {
    const ModelObject& o = m.object(static_cast<ObjectId>(i));
    return o.state == ObjState::Freed && m.cache(o.cache).debug();
  };
  std::uint32_t a = 0, b = 0;
  switch (code) {
  case 0:
  case 1:
  case 2:
  case 3:
  case 4:
  case 5:
  case 6: {
    const std::uint8_t sel = in.u8();
    const std::uint8_t g = in.u8();
    if (!pick(nc, sel, live_cache, a))
      return false;
    out = CacheAlloc{a, decode_gfp(g)};
    return true;
  }
  case 7:
  case 8:
  case 9:
  case 10:
  case 11:
  case 29:
  case 30:
    if (!pick(no, in.u16(), any_object, a))
      return false;
    out = CacheFree{a};
    return true;
  case 12: {
    const std::uint16_t size = in.u16();
    const std::uint8_t ab = in.u8();
    const std::uint8_t fb = in.u8();
    out = decode_create(size, ab, fb);
    return true;
  }
  case 13: out = SetCpu{in.u8()}; return true;
  case 14:
    if (!pick(nc, in.u8(), live_cache, a))
      return false;
    out = Flush{a};
    return true;
  case 15: out = FlushAll{}; return true;
  case 16:
    if (!pick(nc, in.u8(), live_cache, a))
      return false;
    out = Shrink{a};
    return true;
  case 17:
    if (!pick(nc, in.u8(), any_cache, a))
      return false;
    out = Destroy{a};
    return true;
  case 18:
    if (!pick(no, in.u16(), live_object, a))
      return false;
    out = Fill{a};
    return true;
  case 19:
    if (!pick(no, in.u16(), live_object, a))
      return false;
    out = Verify{a};
    return true;
  case 20: out = InjectPageFailures{in.u8() % 4u}; return true;
  case 21: {
    const std::uint8_t ob = in.u8();
    out = AllocPages{(ob & 0x7f) % (m.config().max_order + 1), (ob & 0x80) != 0};
    return true;
  }
  case 22:
    if (!pick(
            m.pages_count(), in.u8(), [&](std::size_t i) { return m.pages(i).live; }, a))
      return false;
    out = FreePages{a};
    return true;
  case 23: {
    const std::uint16_t os = in.u16();
    const std::uint8_t cs = in.u8();
    if (!pick(no, os, live_object, a) || !pick(nc, cs, live_cache, b))
      return false;
    out = WrongCacheFree{a, b};
    return true;
  }
  case 24: {
    const std::uint16_t os = in.u16();
    const std::uint16_t off = in.u16();
    if (!pick(no, os, live_object, a))
      return false;
    out = InteriorFree{a, 1u + off};
    return true;
  }
  case 25:
    if (!pick(no, in.u16(), freed_debug, a))
      return false;
    out = DoubleFree{a};
    return true;
  case 26: {
    const std::uint8_t kind = in.u8();
    const std::uint8_t cs = in.u8();
    const std::uint8_t ps = in.u8();
    const std::uint16_t off = in.u16();
    if (!pick(nc, cs, live_cache, a))
      return false;
    out = FreeForeign{a, static_cast<Foreign>(kind % kForeignKinds), ps % 256u, off};
    if (m.pages_count() != 0)
      std::get<FreeForeign>(out).pages = ps % static_cast<unsigned>(m.pages_count());
    return true;
  }
  case 27: {
    const std::uint8_t kind = in.u8();
    const std::uint8_t cs = in.u8();
    const std::uint16_t os = in.u16();
    InvalidCache ic;
    ic.kind = static_cast<BadCache>(kind % kBadCacheKinds);
    ic.destroy = (kind & 0x80) != 0;
    if (nc != 0)
      ic.cache = cs % static_cast<unsigned>(nc);
    if (!ic.destroy && !pick(no, os, live_object, ic.object))
      return false;
    out = ic;
    return true;
  }
  default: out = ValidateAll{}; return true;
  }
}

void print_cpp(const km::Config& cfg, const SlabChecker& checker) {
  std::printf("  km::Config cfg;\n  cfg.page_shift = %u;\n  cfg.max_order = %u;\n"
              "  cfg.arena_size = %zu;\n  cfg.dma_zone_size = %zu;\n  cfg.nr_cpus = %u;\n"
              "  cfg.slub_max_order = %u;\n  cfg.slub_min_objects = %u;\n"
              "  cfg.cache_line_size = %u;\n  cfg.max_caches = %u;\n"
              "  cfg.freelist_hardened = %s;\n  cfg.random_seed = %llu;\n  const Op ops[] = {\n",
              cfg.page_shift, cfg.max_order, cfg.arena_size, cfg.dma_zone_size, cfg.nr_cpus,
              cfg.slub_max_order, cfg.slub_min_objects, cfg.cache_line_size, cfg.max_caches,
              cfg.freelist_hardened ? "true" : "false",
              static_cast<unsigned long long>(cfg.random_seed));
  print_cpp_ops(checker);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Stats& stats = begin_input();
  ByteReader in(data, size);
  km::Config cfg = decode_config(in);
  const Trace trace = trace_mode();
  return run_checked([&] {
    SlabChecker checker;
    km::Status st = init_checker(checker, cfg);
    if (!st.ok && cfg.max_caches > 4) {
      cfg.max_caches = 4; // the metadata does not fit a small arena
      st = checker.init(cfg, region(), cfg.arena_size);
    }
    if (!st.ok) {
      ++stats.skipped_inputs;
      if (trace != Trace::Off)
        std::printf("heap init refused the config (%s): %s\n", st.field, st.message);
      return;
    }
    start_trace(checker, trace);
    std::size_t count = 0;
    while (!in.done() && count < kMaxOps) {
      Op op;
      if (!decode_op(in, checker.model(), op))
        continue;
      checker.apply(op);
      ++count;
    }
    if (trace == Trace::Cpp)
      print_cpp(cfg, checker);
    stats.ops += count;
    stats.skipped_ops += checker.skipped_count();
    stats.misuse += checker.misuse_count();
    checker.finish();
  });
}
