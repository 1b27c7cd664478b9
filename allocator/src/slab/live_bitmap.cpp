// slab/live_bitmap.cpp - the range operations of the allocation bitmap (live_bitmap.h).
#include "slab/live_bitmap.h"

#include <cstring>

namespace km {

void LiveBitmap::clear_range(const void* start, std::size_t bytes) {
  std::memset(&words_[bit(start) / 64], 0, bytes / 64);
}

std::size_t LiveBitmap::count(std::uintptr_t begin, std::uintptr_t end) const {
  std::size_t n = 0;
  for (std::size_t b = (begin - arena_start_) / 8; b < (end - arena_start_) / 8;) {
    if (b % 64 == 0 && b + 64 <= (end - arena_start_) / 8) {
      n += static_cast<std::size_t>(
          __builtin_popcountll(__atomic_load_n(&words_[b / 64], __ATOMIC_RELAXED)));
      b += 64;
    } else {
      n += (__atomic_load_n(&words_[b / 64], __ATOMIC_RELAXED) >> (b % 64)) & 1u;
      ++b;
    }
  }
  return n;
}

} // namespace km
