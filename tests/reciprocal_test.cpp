// reciprocal_test.cpp - support/reciprocal.h: the multiply-and-shift quotient equals the
// quotient of a real division (the oracle here is the `/` operator), for every divisor a slab
// stride can be and beyond, at the edges of each multiple and at random dividends.
#include "support/reciprocal.h"

#include <gtest/gtest.h>

#include <cstdint>

namespace {

std::uint64_t next(std::uint64_t& state) { // xorshift64
  state ^= state << 13;
  state ^= state >> 7;
  state ^= state << 17;
  return state;
}

void expect_quotients(std::uint32_t d, std::uint64_t& rng) {
  const km::Reciprocal r = km::reciprocal_value(d);
  auto check = [&](std::uint64_t a64) {
    const auto a = static_cast<std::uint32_t>(a64);
    ASSERT_EQ(km::reciprocal_divide(a, r), a / d) << a << " / " << d;
  };
  for (std::uint64_t k : {0ull, 1ull, 2ull, 3ull, 1000ull, (1ull << 26) / d, 0xffffffffull / d}) {
    const std::uint64_t at = k * d;
    if (at > 0)
      check(at - 1);
    if (at <= 0xffffffffull)
      check(at);
    if (at + 1 <= 0xffffffffull)
      check(at + 1);
  }
  check(0xffffffffull);
  for (int i = 0; i < 8; ++i)
    check(next(rng));
}

// Every stride from 1 byte to past 64 KiB (the largest slab object is KMALLOC_MAX_CACHE_SIZE,
// 2 * PAGE_SIZE on 64 KiB pages = 128 KiB) ...
TEST(Reciprocal, EqualsDivisionForEverySlabStride) {
  std::uint64_t rng = 88172645463325252ull;
  for (std::uint32_t d = 1; d <= (1u << 17) + 64; ++d) {
    expect_quotients(d, rng);
    if (testing::Test::HasFatalFailure())
      return;
  }
}

// ... and for random 32-bit divisors, powers of two and their neighbours.
TEST(Reciprocal, EqualsDivisionForAny32BitDivisor) {
  std::uint64_t rng = 2463534242ull;
  for (unsigned shift = 0; shift < 32; ++shift)
    for (std::int64_t delta : {-1, 0, 1}) {
      const std::int64_t d = (std::int64_t{1} << shift) + delta;
      if (d >= 1 && d <= 0xffffffffll)
        expect_quotients(static_cast<std::uint32_t>(d), rng);
    }
  for (int i = 0; i < 20000; ++i) {
    const auto d = static_cast<std::uint32_t>(next(rng));
    if (d != 0)
      expect_quotients(d, rng);
  }
}

static_assert(km::reciprocal_divide(96 * 41 + 95, km::reciprocal_value(96)) == 41);
static_assert(km::reciprocal_divide(192 * 20, km::reciprocal_value(192)) == 20);

} // namespace
