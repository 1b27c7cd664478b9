// fuzz/fuzz_buddy.cpp - libFuzzer target: a byte string -> a buddy config and op stream, run
// through BuddyChecker (heap vs model). The encoding is documented in corpus/README.md.
//
// Every input gets a fresh Heap over one region mapped once per process (aligned to 64 MiB,
// so pfns and natural alignment do not depend on where mmap put it). A mismatch prints the
// error with the op list and aborts. KMALLOC_FUZZ_TRACE=1 prints each decoded op as it runs;
// KMALLOC_FUZZ_TRACE=cpp prints the op list as C++ for a regression test; KMALLOC_FUZZ_STATS=1
// prints "fuzz_stats: inputs=N ops=M ..." at exit (ci/fuzz.sh reads it).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <vector>

#include "fuzz/fuzz_support.h"
#include "kmalloc/config.h"
#include "kmalloc/gfp.h"
#include "model/checker.h"
#include "model/op.h"

namespace {

using namespace km::fuzz;
using namespace km::model;

constexpr std::size_t kMinPages = 16;
constexpr std::size_t kMaxOps = 4096;
constexpr unsigned kMaxCaches = 16;

// Header: page_shift, max_order, arena size exponent and extra pages, dma fraction.
km::Config decode_config(ByteReader& in) {
  static constexpr unsigned kShifts[] = {12, 14, 16};
  km::Config cfg;
  cfg.page_shift = kShifts[in.u8() % 3];
  cfg.max_order = in.u8() % 13;
  // Log-uniform sizes: base 16 << (e % 7), plus extra * base / 256 more pages (16 .. 2040).
  const std::size_t base = kMinPages << (in.u8() % 7);
  std::size_t pages = base + in.u8() * base / 256;
  if (pages > (kRegionBytes >> cfg.page_shift))
    pages = kRegionBytes >> cfg.page_shift;
  cfg.arena_size = pages << cfg.page_shift;
  const unsigned dma = in.u8();
  cfg.dma_zone_size = (pages * dma / 256) << cfg.page_shift;
  // Few kmem_cache slots keep the metadata small (4 KiB pages: 4 pages, 64 KiB: 1), so small
  // arenas still have free pages; the buddy allocator does not use caches.
  cfg.max_caches = kMaxCaches;
  return cfg;
}

gfp_t decode_gfp(std::uint8_t b) {
  static constexpr gfp_t kBase[] = {GFP_KERNEL, GFP_KERNEL | __GFP_DMA, GFP_KERNEL | __GFP_DMA32,
                                    GFP_ATOMIC | __GFP_HIGHMEM};
  gfp_t gfp = kBase[b & 3];
  if (b & 0x04)
    gfp |= __GFP_ZERO;
  if (b & 0x08)
    gfp |= __GFP_NOWARN;
  if (b & 0x10)
    gfp |= __GFP_NOFAIL;
  switch ((b >> 5) & 3) {
  case 0: break;
  case 1: gfp |= __GFP_COMP; break;
  case 2: gfp |= __GFP_MOVABLE; break;
  case 3: gfp |= (b & 0x80) ? 0x800000u : 0x200u; break; // bits outside __GFP_BITS_MASK
  }
  if ((b & 0x80) && ((b >> 5) & 3) != 3)
    gfp |= __GFP_ACCOUNT;
  return gfp;
}

// One op from the stream, with victims picked from the model's handle lists. Returns false
// when the op has no possible victim (it is skipped).
bool decode_op(ByteReader& in, const BuddyModel& m, Op& out) {
  const unsigned max_order = m.config().max_order;
  const unsigned code = in.u8() & 15;
  auto pick = [](const std::vector<Handle>& from, std::uint8_t sel, Handle& h) {
    if (from.empty())
      return false;
    h = from[sel % from.size()];
    return true;
  };
  Handle h = 0;
  switch (code) {
  case 0:
  case 1:
  case 2:
  case 3: {
    const std::uint8_t ob = in.u8();
    const std::uint8_t gb = in.u8();
    const unsigned order =
        (ob & 0x80) ? max_order + 1 + (ob & 0x0f) : (ob & 0x7f) % (max_order + 1);
    out = AllocPages{order, decode_gfp(gb)};
    return true;
  }
  case 4:
  case 5:
  case 6: {
    // Live handles, then NULL handles (freeing one is free_pages(0)).
    const std::uint8_t sel = in.u8();
    const auto& live = m.live_handles();
    const auto& null = m.null_handles();
    const std::size_t n = live.size() + null.size();
    if (n == 0)
      return false;
    const std::size_t i = (sel & 0x7f) % n;
    out = FreePages{i < live.size() ? live[i] : null[i - live.size()], (sel & 0x80) != 0};
    return true;
  }
  case 7:
    if (!pick(m.live_handles(), in.u8(), h))
      return false;
    out = Fill{h};
    return true;
  case 8:
    if (!pick(m.live_handles(), in.u8(), h))
      return false;
    out = Verify{h};
    return true;
  case 9: out = InjectFailures{in.u8() % 4u}; return true;
  case 10:
    if (!pick(m.freed_handles(), in.u8(), h))
      return false;
    out = DoubleFree{h};
    return true;
  case 11: {
    const bool ok = pick(m.live_handles(), in.u8(), h);
    const std::uint8_t d = in.u8();
    if (!ok)
      return false;
    const unsigned order = m.handle(h).order;
    const unsigned given = (order + 1 + d % (max_order + 1)) % (max_order + 2);
    out = FreeWrongOrder{h, static_cast<int>(given) - static_cast<int>(order)};
    return true;
  }
  case 12: {
    const bool ok = pick(m.live_handles(), in.u8(), h);
    const std::uint8_t b = in.u8();
    if (!ok)
      return false;
    const std::uint64_t page_size = m.page_size();
    const std::uint64_t pages = std::uint64_t{1} << m.handle(h).order;
    const std::uint64_t offset =
        (b & 0x80) ? 1 + (b & 0x7f) * (page_size / 128) : (1 + (b & 0x7f) % pages) * page_size;
    out = FreeInterior{h, offset};
    return true;
  }
  case 13: {
    const std::uint16_t page = in.u16();
    const std::uint8_t ob = in.u8();
    out = FreeRaw{page % m.npages(), ob % (max_order + 1)};
    return true;
  }
  case 14: out = FreeOutside{static_cast<Outside>(in.u8() % kOutsideKinds)}; return true;
  default: out = ValidateAll{}; return true;
  }
}

void print_cpp(const km::Config& cfg, const BuddyChecker& checker) {
  std::printf("  km::Config cfg;\n  cfg.page_shift = %u;\n  cfg.max_order = %u;\n"
              "  cfg.arena_size = %zu;\n  cfg.dma_zone_size = %zu;\n  cfg.max_caches = %u;\n"
              "  const Op ops[] = {\n",
              cfg.page_shift, cfg.max_order, cfg.arena_size, cfg.dma_zone_size, cfg.max_caches);
  print_cpp_ops(checker);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Stats& stats = begin_input();
  ByteReader in(data, size);
  km::Config cfg = decode_config(in);
  const Trace trace = trace_mode();
  return run_checked([&] {
    BuddyChecker checker;
    const km::Status st = init_checker(checker, cfg);
    if (!st.ok) { // the metadata does not fit: nothing to test
      ++stats.skipped_inputs;
      if (trace != Trace::Off)
        std::printf("skipped: heap init failed: %s\n", st.message);
      return;
    }
    start_trace(checker, trace);
    std::size_t count = 0;
    while (!in.done() && count < kMaxOps) {
      Op op;
      if (!decode_op(in, checker.model(), op)) {
        ++stats.skipped_ops;
        continue;
      }
      checker.apply(op);
      ++count;
    }
    stats.ops += count;
    if (trace == Trace::Cpp)
      print_cpp(cfg, checker);
    checker.finish();
    stats.misuse += checker.misuse_count();
  });
}
