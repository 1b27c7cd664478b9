// support/reciprocal.h - division by a run-time constant as a multiply and two shifts (the
// kernel's lib/reciprocal_div.c, which mm/slub.c uses for obj_to_index: s->reciprocal_size).
// Pure functions, no state.
//
// For a divisor d >= 1 and l = ceil(log2(d)), m = floor(2^32 * (2^l - d) / d) + 1; then for every
// 32-bit a, with t = (a * m) >> 32: a / d == (t + ((a - t) >> min(l, 1))) >> max(l - 1, 0)
// (Granlund and Montgomery, "Division by invariant integers using multiplication", 1994, fig. 4.1).
// Assumes: the dividends (byte offsets inside one slab) are below 2^32; slabs are at most
// 64 KiB << MAX_ORDER 10 = 64 MiB.
#pragma once

#include <cstdint>

#include "support/bits.h"

namespace km {

struct Reciprocal {
  std::uint32_t m;
  std::uint8_t sh1, sh2;
};

constexpr Reciprocal reciprocal_value(std::uint32_t d) {
  const unsigned l = d <= 1 ? 0u : fls64(d - 1u);
  const std::uint64_t m = ((std::uint64_t{1} << 32) * ((std::uint64_t{1} << l) - d)) / d + 1;
  return Reciprocal{static_cast<std::uint32_t>(m), static_cast<std::uint8_t>(l > 1 ? 1 : l),
                    static_cast<std::uint8_t>(l > 1 ? l - 1 : 0)};
}

constexpr std::uint32_t reciprocal_divide(std::uint32_t a, Reciprocal r) {
  const auto t = static_cast<std::uint32_t>((std::uint64_t{a} * r.m) >> 32);
  return (t + ((a - t) >> r.sh1)) >> r.sh2;
}

} // namespace km
