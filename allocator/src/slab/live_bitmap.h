// slab/live_bitmap.h - the allocation bitmap: one bit per 8 bytes of the arena, set at the start
// of every allocated slab object and clear everywhere else. With it a double free, or a free of
// an object never handed out, is caught in O(1) in every cache; the kernel needs
// SLAB_CONSISTENCY_CHECKS and a freelist walk for that.
//
// Assumes: every object starts 8-byte aligned inside the arena; the storage is arena_bytes / 64
// bytes in the heap's metadata pages, of any contents until a slab clears its range. Threads:
// a bit changes by an atomic or/and of its word, so frees of neighbouring objects on different
// threads never lose a bit, and of two racing frees of one object exactly one clears it; while
// the process has only ever had one thread, by a plain read and write.
// validate() (slab_validate.cpp) checks LIVE with it.
#pragma once

#include <cstddef>
#include <cstdint>

#include "platform/lock.h"

namespace km {

class LiveBitmap {
public:
  void init(std::uint64_t* words, std::uintptr_t arena_start) {
    words_ = words;
    arena_start_ = arena_start;
  }
  bool test(const void* obj) const {
    return (__atomic_load_n(&words_[bit(obj) / 64], __ATOMIC_RELAXED) >> (bit(obj) % 64)) & 1u;
  }
  // Sets obj's bit; true when it was clear.
  bool set(const void* obj) {
    const std::uint64_t mask = std::uint64_t{1} << (bit(obj) % 64);
    std::uint64_t* word = &words_[bit(obj) / 64];
    if (platform::process_single_threaded()) {
      const std::uint64_t old = *word;
      *word = old | mask;
      return (old & mask) == 0;
    }
    return (__atomic_fetch_or(word, mask, __ATOMIC_RELAXED) & mask) == 0;
  }
  // Clears obj's bit; true when it was set (false: the object was free, a double free).
  bool clear(const void* obj) {
    const std::uint64_t mask = std::uint64_t{1} << (bit(obj) % 64);
    std::uint64_t* word = &words_[bit(obj) / 64];
    if (platform::process_single_threaded()) {
      const std::uint64_t old = *word;
      *word = old & ~mask;
      return (old & mask) != 0;
    }
    return (__atomic_fetch_and(word, ~mask, __ATOMIC_RELAXED) & mask) != 0;
  }
  // Clears the bits of a new slab, [start, start + bytes), bytes a multiple of 512. (Done per
  // slab rather than at heap init, so init commits none of the bitmap.) The slab is not yet
  // visible to any other thread.
  void clear_range(const void* start, std::size_t bytes);
  // Bits set in [begin, end).
  std::size_t count(std::uintptr_t begin, std::uintptr_t end) const;

private:
  std::size_t bit(const void* obj) const {
    return (reinterpret_cast<std::uintptr_t>(obj) - arena_start_) / 8;
  }

  std::uint64_t* words_ = nullptr;
  std::uintptr_t arena_start_ = 0;
};

} // namespace km
