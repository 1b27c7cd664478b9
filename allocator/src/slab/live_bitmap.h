// slab/live_bitmap.h - the allocation bitmap: one bit per 8 bytes of the arena, set at the start
// of every allocated slab object and clear everywhere else. With it a double free, or a free of
// an object never handed out, is caught in O(1) in every cache; the kernel needs
// SLAB_CONSISTENCY_CHECKS and a freelist walk for that.
//
// Assumes: every object starts 8-byte aligned inside the arena; the storage is arena_bytes / 64
// bytes in the heap's metadata pages, of any contents until a slab clears its range. Not
// thread-safe: the slab layer serialises. validate() (slab_validate.cpp) checks LIVE with it.
#pragma once

#include <cstddef>
#include <cstdint>

namespace km {

class LiveBitmap {
public:
  void init(std::uint64_t* words, std::uintptr_t arena_start) {
    words_ = words;
    arena_start_ = arena_start;
    count_ = 0;
  }
  bool test(const void* obj) const { return (words_[bit(obj) / 64] >> (bit(obj) % 64)) & 1u; }
  void set(const void* obj) {
    count_ += test(obj) ? 0 : 1;
    words_[bit(obj) / 64] |= std::uint64_t{1} << (bit(obj) % 64);
  }
  void clear(const void* obj) {
    count_ -= test(obj) ? 1 : 0;
    words_[bit(obj) / 64] &= ~(std::uint64_t{1} << (bit(obj) % 64));
  }
  // Clears the bits of a new slab, [start, start + bytes), bytes a multiple of 512. (Done per
  // slab rather than at heap init, so init commits none of the bitmap.)
  void clear_range(const void* start, std::size_t bytes);
  // Bits set in [begin, end).
  std::size_t count(std::uintptr_t begin, std::uintptr_t end) const;
  // Bits set in the whole bitmap: a running count, not a walk.
  std::size_t count() const { return count_; }

private:
  std::size_t bit(const void* obj) const {
    return (reinterpret_cast<std::uintptr_t>(obj) - arena_start_) / 8;
  }

  std::uint64_t* words_ = nullptr;
  std::uintptr_t arena_start_ = 0;
  std::size_t count_ = 0;
};

} // namespace km
