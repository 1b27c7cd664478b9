// fuzz/kmalloc_decode.h - the input encoding fuzz_kmalloc and fuzz_size_class share: the
// config header, gfp bytes and size entries (formats in fuzz_kmalloc.cpp's header comment), and
// the C++ printer of a decoded case for tests/regression_test.cpp.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>

#include "fuzz/fuzz_support.h"
#include "kmalloc/config.h"
#include "kmalloc/gfp.h"
#include "model/kmalloc_checker.h"
#include "model/size_class_model.h"

namespace km::fuzz {

using km::model::front::KmallocChecker;
using km::model::front::SizeClassModel;

inline km::Config decode_config(ByteReader& in) {
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
inline gfp_t decode_gfp(std::uint8_t b) {
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
inline std::uint64_t decode_size(ByteReader& in, const SizeClassModel& m) {
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

inline void print_cpp(const km::Config& cfg, const KmallocChecker& checker) {
  std::printf("  km::Config cfg;\n  cfg.profile = km::Profile::%s;\n  cfg.page_shift = %u;\n"
              "  cfg.max_order = %u;\n  cfg.kmalloc_min_size = %u;\n  cfg.arena_size = %zu;\n"
              "  cfg.dma_zone_size = %zu;\n  cfg.nr_cpus = %u;\n  cfg.random_seed = %llu;\n"
              "  const Op ops[] = {\n",
              cfg.profile == km::Profile::Linux4Slab ? "Linux4Slab" : "Linux6", cfg.page_shift,
              cfg.max_order, cfg.kmalloc_min_size, cfg.arena_size, cfg.dma_zone_size, cfg.nr_cpus,
              static_cast<unsigned long long>(cfg.random_seed));
  print_cpp_ops(checker);
}

} // namespace km::fuzz
