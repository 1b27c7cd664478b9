// slab/slab_freelist.h - a slab's freelist pair: its first free object and its counters
// (inuse, objects, slab_cpu, frozen), read as a snapshot and changed only as one 16-byte
// compare-and-swap, as the kernel's slab_update_freelist() changes slab->freelist and
// slab->counters together. This is where a remote free meets the slab's cpu (which takes the
// remote frees back or unfreezes the slab) and list_lock's holders (which freeze partial slabs)
// without a lock: a free that loses the race sees the new state and tries again.
//
// Assumes: `slab` is the head descriptor of a slab (page.h keeps the pair 16-byte aligned). A
// slab nobody else can reach yet (new_slab) or any more (discard_slab) may be written plainly.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "page/page.h"
#include "support/cmpxchg_double.h"

namespace km {

struct SlabFreelist {
  void* freelist = nullptr;
  std::uint16_t inuse = 0;
  std::uint16_t objects = 0;
  std::uint16_t slab_cpu = 0;
  std::uint16_t frozen = 0;
};
static_assert(sizeof(SlabFreelist) == 16 && offsetof(page, inuse) == offsetof(page, freelist) + 8);

// Two relaxed loads: the result may be torn, and only slab_update() tells whether it held.
inline SlabFreelist slab_freelist(const page* slab) {
  const auto* words = reinterpret_cast<const aliasing_u64*>(&slab->freelist);
  const std::uint64_t snapshot[2] = {load_relaxed(words), load_relaxed(words + 1)};
  SlabFreelist out;
  std::memcpy(&out, snapshot, sizeof out);
  return out;
}

// Stores `desired` if the slab still holds `old` and returns true; otherwise loads the current
// pair into `old` and returns false.
inline bool slab_update(page* slab, SlabFreelist& old, const SlabFreelist& desired) {
  std::uint64_t expected[2];
  std::uint64_t wanted[2];
  std::memcpy(expected, &old, sizeof expected);
  std::memcpy(wanted, &desired, sizeof wanted);
  if (cmpxchg_double(reinterpret_cast<aliasing_u64*>(&slab->freelist), expected, wanted))
    return true;
  std::memcpy(&old, expected, sizeof old);
  return false;
}

} // namespace km
