// fuzz/fuzz_kmalloc.cpp - libFuzzer target: a byte string -> a kmalloc profile/config and an op
// stream, run through KmallocChecker (heap vs the size-class model; model/kmalloc_checker.h).
//
// Every input gets a fresh Heap over one region mapped once per process (32 MiB, aligned to
// 64 MiB). A mismatch prints the error with the op list (and the ops as C++) and aborts.
// KMALLOC_FUZZ_TRACE=1 prints each decoded op as it runs, KMALLOC_FUZZ_TRACE=cpp the op list as
// C++ for a regression test; KMALLOC_FUZZ_STATS=1 prints "fuzz_stats: inputs=N ops=M ..." at exit.
//
// Encoding. Header, 4 bytes:
//   [0] bit 0: profile linux-4-slab (else linux-6); bits 1-2: page_shift {12, 14, 16, 12};
//       bits 3-4: KMALLOC_MIN_SIZE {default, default, 64, 128}; bit 5: no ZONE_DMA;
//       bit 6: nr_cpus 4 (else 1)
//   [1] max_order: linux-6 1 + b % 10, linux-4-slab b % 11
//   [2] arena: bit 7: the whole region (32 MiB), else 32 + (b & 0x7f) * 8 pages (at most 32 MiB)
//   [3] ZONE_DMA: pages * b / 256
// Then ops: a code byte (& 31) and its arguments; a size is 3 bytes (see decode_size), a gfp one
// byte (decode_gfp), a handle one byte (the first suitable handle from b % count, wrapping).
//   0-5 kmalloc(size, gfp)          6 kzalloc(size, gfp)
//   7   kcalloc / kmalloc_array: flags byte (bit 0 kmalloc_array, bit 1 overflowing n), n byte,
//       size, gfp                    8-9 krealloc(handle, size, gfp, fail: byte % 4 if bit 7)
//   10-13 kfree(live handle)        14 kfree_sensitive(live handle)   15 ksize(handle)
//   16-17 fill(live handle)         18 verify(live handle)            19 fail_next(byte % 4)
//   20  kfree(live handle + u16)    21 kfree(freed handle) again
//   22  kfree(foreign: byte % 5, u16 offset)                        23 check_size(size, gfp)
//   24-31 verify (as 18)
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <vector>

#include "fuzz/fuzz_support.h"
#include "kmalloc/config.h"
#include "kmalloc/gfp.h"
#include "model/kmalloc_checker.h"
#include "model/kmalloc_op.h"

namespace {

using namespace km::fuzz;
using namespace km::model::front;

constexpr std::size_t kMaxOps = 512;

km::Config decode_config(ByteReader& in) {
  static constexpr unsigned kShifts[] = {12, 14, 16, 12};
  static constexpr unsigned kMinSizes[] = {0, 0, 64, 128};
  km::Config cfg;
  const std::uint8_t b0 = in.u8();
  cfg.profile = (b0 & 1) ? km::Profile::Linux4Slab : km::Profile::Linux6;
  cfg.page_shift = kShifts[(b0 >> 1) & 3];
  cfg.kmalloc_min_size = kMinSizes[(b0 >> 3) & 3];
  cfg.nr_cpus = (b0 & 0x40) ? 4 : 1;
  const std::uint8_t b1 = in.u8();
  cfg.max_order = cfg.profile == km::Profile::Linux6 ? 1 + b1 % 10 : b1 % 11;
  // Small arenas keep validate() (after every op) cheap; bit 7 asks for the whole region.
  const std::uint8_t b2 = in.u8();
  std::size_t bytes =
      (b2 & 0x80) ? kRegionBytes : (std::size_t{32} + (b2 & 0x7fu) * 8) << cfg.page_shift;
  bytes = std::min(bytes, kRegionBytes);
  cfg.arena_size = bytes;
  const std::size_t pages = bytes >> cfg.page_shift;
  const std::uint8_t b3 = in.u8();
  cfg.dma_zone_size = (b0 & 0x20) ? 0 : (pages * b3 / 256) << cfg.page_shift;
  cfg.random_seed = 0x5eed;
  return cfg;
}

// bit 0 __GFP_DMA, 1 __GFP_RECLAIMABLE, 2 __GFP_ZERO, 3 __GFP_NOWARN, 4 GFP_ATOMIC (else
// GFP_KERNEL); bits 5-7 all set: an unknown bit (0x800000).
gfp_t decode_gfp(std::uint8_t b) {
  gfp_t gfp = (b & 0x10) ? GFP_ATOMIC : GFP_KERNEL;
  if (b & 0x01)
    gfp |= __GFP_DMA;
  if (b & 0x02)
    gfp |= __GFP_RECLAIMABLE;
  if (b & 0x04)
    gfp |= __GFP_ZERO;
  if (b & 0x08)
    gfp |= __GFP_NOWARN;
  if ((b & 0xe0) == 0xe0)
    gfp |= 0x800000u;
  return gfp;
}

// A size: mode byte m and a u16 v. m & 7: 0,1: 1 + (v & 0xff); 2: 1 + (v & 0xfff); 3: a kmalloc
// class (v % count) + delta; 4: 2^(v % 28) + delta; 5: ((v & 0x3ff) + 1) pages + delta; 6: 0;
// 7: v << ((m >> 3) & 15). delta = (m >> 3) % 5 - 2.
std::uint64_t decode_size(ByteReader& in, const SizeClassModel& m) {
  const std::uint8_t mode = in.u8();
  const std::uint16_t v = in.u16();
  const long delta = static_cast<long>((mode >> 3) % 5) - 2;
  auto plus = [&](std::uint64_t base) {
    const long r = static_cast<long>(base) + delta;
    return static_cast<std::uint64_t>(r < 0 ? 0 : r);
  };
  switch (mode & 7) {
  case 0:
  case 1: return 1 + (v & 0xffu);
  case 2: return 1 + (v & 0xfffu);
  case 3: {
    const auto& c = m.cache_sizes();
    return c.empty() ? v : plus(c[v % c.size()]);
  }
  case 4: return plus(std::uint64_t{1} << (v % 28));
  case 5: return plus(((v & 0x3ffu) + 1) * m.page_size());
  case 6: return 0;
  default: return static_cast<std::uint64_t>(v) << ((mode >> 3) & 15);
  }
}

template <class Pred> bool pick(std::size_t n, unsigned sel, Pred pred, Handle& out) {
  for (std::size_t k = 0; k < n; ++k) {
    const std::size_t i = (sel + k) % n;
    if (pred(i)) {
      out = static_cast<Handle>(i);
      return true;
    }
  }
  return false;
}

bool decode_op(ByteReader& in, const KmallocChecker& c, Op& out) {
  const unsigned code = in.u8() & 31;
  const SizeClassModel& m = c.model();
  const std::size_t n = c.handle_count();
  auto state = [&](std::size_t i) { return c.allocation(static_cast<Handle>(i)).state; };
  auto live = [&](std::size_t i) { return state(i) == HandleState::Live; };
  auto not_freed = [&](std::size_t i) { return state(i) != HandleState::Freed; };
  auto freed = [&](std::size_t i) { return state(i) == HandleState::Freed; };
  auto any = [&](std::size_t) { return true; };
  Handle h = 0;
  switch (code) {
  case 0:
  case 1:
  case 2:
  case 3:
  case 4:
  case 5: {
    const std::uint64_t size = decode_size(in, m);
    out = Kmalloc{size, decode_gfp(in.u8())};
    return true;
  }
  case 6: {
    const std::uint64_t size = decode_size(in, m);
    out = Kzalloc{size, decode_gfp(in.u8())};
    return true;
  }
  case 7: {
    const std::uint8_t flags = in.u8();
    const std::uint8_t nb = in.u8();
    std::uint64_t size = decode_size(in, m);
    const gfp_t gfp = decode_gfp(in.u8());
    std::uint64_t count = nb % 16;
    if (flags & 0x02) { // n * size overflows
      count = (std::uint64_t{1} << 63) + nb;
      size = size < 2 ? 2 : size;
    }
    out = Kcalloc{count, size, gfp, (flags & 1) == 0};
    return true;
  }
  case 8:
  case 9: {
    const std::uint8_t sel = in.u8();
    const std::uint64_t size = decode_size(in, m);
    const gfp_t gfp = decode_gfp(in.u8());
    const std::uint8_t fb = in.u8();
    if (!pick(n, sel, not_freed, h))
      return false;
    out = Krealloc{h, size, gfp, (fb & 0x80) ? fb % 4u : 0u};
    return true;
  }
  case 10:
  case 11:
  case 12:
  case 13:
    if (!pick(n, in.u8(), live, h))
      return false;
    out = Kfree{h};
    return true;
  case 14:
    if (!pick(n, in.u8(), live, h))
      return false;
    out = KfreeSensitive{h};
    return true;
  case 15:
    if (!pick(n, in.u8(), any, h))
      return false;
    out = Ksize{h};
    return true;
  case 16:
  case 17:
    if (!pick(n, in.u8(), live, h))
      return false;
    out = Fill{h};
    return true;
  case 19: out = FailNext{in.u8() % 4u}; return true;
  case 20: {
    const std::uint8_t sel = in.u8();
    const std::uint16_t off = in.u16();
    if (!pick(n, sel, live, h))
      return false;
    out = KfreeInterior{h, off};
    return true;
  }
  case 21:
    if (!pick(n, in.u8(), freed, h))
      return false;
    out = KfreeTwice{h};
    return true;
  case 22: {
    const std::uint8_t kind = in.u8();
    const std::uint16_t off = in.u16();
    out = KfreeForeign{static_cast<Foreign>(kind % kForeignKinds), off};
    return true;
  }
  case 23: {
    const std::uint64_t size = decode_size(in, m);
    out = CheckSize{size, decode_gfp(in.u8())};
    return true;
  }
  default:
    if (!pick(n, in.u8(), live, h))
      return false;
    out = Verify{h};
    return true;
  }
}

void print_cpp(const km::Config& cfg, const KmallocChecker& checker) {
  std::printf("  km::Config cfg;\n  cfg.profile = km::Profile::%s;\n  cfg.page_shift = %u;\n"
              "  cfg.max_order = %u;\n  cfg.kmalloc_min_size = %u;\n  cfg.arena_size = %zu;\n"
              "  cfg.dma_zone_size = %zu;\n  cfg.nr_cpus = %u;\n  cfg.random_seed = %llu;\n"
              "  const Op ops[] = {\n",
              cfg.profile == km::Profile::Linux4Slab ? "Linux4Slab" : "Linux6", cfg.page_shift,
              cfg.max_order, cfg.kmalloc_min_size, cfg.arena_size, cfg.dma_zone_size, cfg.nr_cpus,
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
    KmallocChecker checker;
    const km::Status st = init_checker(checker, cfg);
    if (!st.ok) {
      ++stats.skipped_inputs;
      if (trace != Trace::Off)
        std::printf("heap init refused the config (%s): %s\n", st.field, st.message);
      return;
    }
    // validate() walks the whole arena: every op on small arenas, every 8th on the region.
    checker.set_validate_interval(cfg.arena_size >= (std::size_t{8} << 20) ? 8 : 1);
    start_trace(checker, trace);
    std::size_t count = 0;
    while (!in.done() && count < kMaxOps) {
      Op op;
      if (!decode_op(in, checker, op))
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
