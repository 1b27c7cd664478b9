// model/text.h - the small helpers every part of the oracle shares: hex(), cat(), the splitmix64
// mixer (fill patterns and seeds), get_order() and the GFP / slab flag printers.
#pragma once

#include <concepts>
#include <cstdint>
#include <string>
#include <string_view>

#include "kmalloc/gfp.h"
#include "kmalloc/slab.h"

namespace km::oracle {

// "0x1f" ("0" for zero).
std::string hex(std::uint64_t v);
// The parts in a row: strings as they are, integers in decimal (cat("order ", 3) is "order 3").
inline void append_part(std::string& out, std::string_view s) {
  out += s;
}
inline void append_part(std::string& out, std::integral auto v) {
  out += std::to_string(v);
}
template <class... Parts> std::string cat(const Parts&... parts) {
  std::string out;
  (append_part(out, parts), ...);
  return out;
}
// Sebastiano Vigna's splitmix64 finaliser: a bijection of 64-bit words.
constexpr std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}
// get_order(): the smallest order whose block of `page`-byte pages holds `bytes` bytes.
constexpr unsigned get_order(std::uint64_t bytes, std::uint64_t page) {
  unsigned order = 0;
  while ((page << order) < bytes)
    ++order;
  return order;
}
// "GFP_KERNEL|__GFP_DMA"; unnamed bits print as hex, no bits as "0".
std::string gfp_to_string(gfp_t gfp);
// "SLAB_HWCACHE_ALIGN|SLAB_CACHE_DMA", "0" for none; unnamed bits print as hex.
std::string slab_flags_to_string(slab_flags_t flags);

} // namespace km::oracle
