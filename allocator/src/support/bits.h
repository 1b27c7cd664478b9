// support/bits.h - bit arithmetic used by every layer. Pure functions, no state.
#pragma once

#include <cstddef>
#include <cstdint>

namespace km {

inline std::uintptr_t addr_of(const void* p) {
  return reinterpret_cast<std::uintptr_t>(p);
}

constexpr bool is_pow2(std::uint64_t x) {
  return x != 0 && (x & (x - 1)) == 0;
}

// fls: 1-based index of the most significant set bit; fls(0) == 0, fls(1) == 1, fls(96) == 7.
constexpr unsigned fls64(std::uint64_t x) {
  return x == 0 ? 0u : 64u - static_cast<unsigned>(__builtin_clzll(x));
}

// ilog2 of a non-zero value: floor(log2(x)). ilog2(96) == 6.
constexpr unsigned ilog2(std::uint64_t x) {
  return fls64(x) - 1;
}

constexpr std::uint64_t align_down(std::uint64_t x, std::uint64_t a) {
  return x & ~(a - 1);
}
constexpr std::uint64_t align_up(std::uint64_t x, std::uint64_t a) {
  return (x + a - 1) & ~(a - 1);
}

// get_order: smallest order with (page_size << order) >= size, for size >= 1.
// Worked example, 4 KiB pages: 1..4096 -> 0, 4097..8192 -> 1, 8193..16384 -> 2.
constexpr unsigned get_order(std::size_t size, unsigned page_shift) {
  return fls64((static_cast<std::uint64_t>(size) - 1) >> page_shift);
}

} // namespace km
