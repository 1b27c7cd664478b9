// bits_test.cpp - support/bits.h: fls64, ilog2, is_pow2, align_up/down, get_order.
#include "support/bits.h"

#include <gtest/gtest.h>

namespace {

using km::align_down;
using km::align_up;
using km::fls64;
using km::get_order;
using km::ilog2;
using km::is_pow2;

TEST(Bits, Fls64) {
  EXPECT_EQ(fls64(0), 0u);
  EXPECT_EQ(fls64(1), 1u);
  EXPECT_EQ(fls64(2), 2u);
  EXPECT_EQ(fls64(3), 2u);
  EXPECT_EQ(fls64(96), 7u);
  EXPECT_EQ(fls64(4095), 12u);
  EXPECT_EQ(fls64(4096), 13u);
  EXPECT_EQ(fls64(std::uint64_t{1} << 63), 64u);
  EXPECT_EQ(fls64(~std::uint64_t{0}), 64u);
  for (unsigned b = 0; b < 64; ++b) {
    EXPECT_EQ(fls64(std::uint64_t{1} << b), b + 1) << "bit " << b;
    EXPECT_EQ(fls64((std::uint64_t{1} << b) | 1), b + 1) << "bit " << b;
  }
}

TEST(Bits, Ilog2) {
  EXPECT_EQ(ilog2(1), 0u);
  EXPECT_EQ(ilog2(2), 1u);
  EXPECT_EQ(ilog2(3), 1u);
  EXPECT_EQ(ilog2(96), 6u);
  EXPECT_EQ(ilog2(4096), 12u);
  EXPECT_EQ(ilog2(8191), 12u);
  EXPECT_EQ(ilog2(~std::uint64_t{0}), 63u);
  static_assert(ilog2(192) == 7);
}

TEST(Bits, IsPow2) {
  EXPECT_FALSE(is_pow2(0));
  EXPECT_TRUE(is_pow2(1));
  EXPECT_TRUE(is_pow2(2));
  EXPECT_FALSE(is_pow2(3));
  EXPECT_FALSE(is_pow2(96));
  EXPECT_TRUE(is_pow2(std::uint64_t{1} << 63));
  EXPECT_FALSE(is_pow2((std::uint64_t{1} << 63) | 1));
}

TEST(Bits, AlignUpDown) {
  EXPECT_EQ(align_down(0, 4096), 0u);
  EXPECT_EQ(align_down(4095, 4096), 0u);
  EXPECT_EQ(align_down(4096, 4096), 4096u);
  EXPECT_EQ(align_down(8191, 4096), 4096u);
  EXPECT_EQ(align_up(0, 4096), 0u);
  EXPECT_EQ(align_up(1, 4096), 4096u);
  EXPECT_EQ(align_up(4096, 4096), 4096u);
  EXPECT_EQ(align_up(4097, 4096), 8192u);
  EXPECT_EQ(align_up(13, 8), 16u);
  EXPECT_EQ(align_down(13, 8), 8u);
  EXPECT_EQ(align_up(16, 1), 16u);
  for (std::uint64_t a = 1; a <= 1024; a <<= 1)
    for (std::uint64_t x = 0; x < 3000; x += 7) {
      EXPECT_EQ(align_down(x, a) % a, 0u);
      EXPECT_EQ(align_up(x, a) % a, 0u);
      EXPECT_LE(align_down(x, a), x);
      EXPECT_GE(align_up(x, a), x);
      EXPECT_LT(x - align_down(x, a), a);
      EXPECT_LT(align_up(x, a) - x, a);
    }
}

// include/asm-generic/getorder.h, worked example with 4 KiB pages: 1..4096 -> 0,
// 4097..8192 -> 1, 8193..16384 -> 2.
TEST(Bits, GetOrder4K) {
  EXPECT_EQ(get_order(1, 12), 0u);
  EXPECT_EQ(get_order(100, 12), 0u);
  EXPECT_EQ(get_order(4096, 12), 0u);
  EXPECT_EQ(get_order(4097, 12), 1u);
  EXPECT_EQ(get_order(8192, 12), 1u);
  EXPECT_EQ(get_order(8193, 12), 2u);
  EXPECT_EQ(get_order(16384, 12), 2u);
  EXPECT_EQ(get_order(16385, 12), 3u);
  EXPECT_EQ(get_order(std::size_t{4} << 20, 12), 10u);       // 4 MiB: MAX_ORDER 10
  EXPECT_EQ(get_order((std::size_t{4} << 20) + 1, 12), 11u); // just above KMALLOC_MAX_SIZE
}

TEST(Bits, GetOrder16K) {
  EXPECT_EQ(get_order(1, 14), 0u);
  EXPECT_EQ(get_order(16384, 14), 0u);
  EXPECT_EQ(get_order(16385, 14), 1u);
  EXPECT_EQ(get_order(32768, 14), 1u);
  EXPECT_EQ(get_order(32769, 14), 2u);
  EXPECT_EQ(get_order(65536, 14), 2u);
}

TEST(Bits, GetOrder64K) {
  EXPECT_EQ(get_order(1, 16), 0u);
  EXPECT_EQ(get_order(65536, 16), 0u);
  EXPECT_EQ(get_order(65537, 16), 1u);
  EXPECT_EQ(get_order(131072, 16), 1u);
  EXPECT_EQ(get_order(131073, 16), 2u);
  EXPECT_EQ(get_order(std::size_t{1} << 26, 16), 10u);
}

// get_order(n) is the smallest order whose block holds n bytes, for every page size.
TEST(Bits, GetOrderIsSmallestFittingOrder) {
  for (unsigned shift : {12u, 14u, 16u})
    for (unsigned order = 0; order <= 16; ++order) {
      const std::size_t block = std::size_t{1} << (shift + order);
      EXPECT_EQ(get_order(block, shift), order) << "shift " << shift;
      EXPECT_EQ(get_order(block + 1, shift), order + 1) << "shift " << shift;
      if (order > 0) {
        EXPECT_EQ(get_order(block / 2 + 1, shift), order) << "shift " << shift;
      }
    }
}

} // namespace
