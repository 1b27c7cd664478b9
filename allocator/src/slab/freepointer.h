// slab/freepointer.h - the free pointer of a free object, at s->layout.offset inside it. With
// Config::freelist_hardened it is stored encoded, as CONFIG_SLAB_FREELIST_HARDENED does:
// stored = ptr ^ s->random ^ swab(address of the pointer), so a stray write or a leaked link
// does not give an attacker a usable pointer. Inline: every allocation and free runs one of
// them (included by slub.h, after the class).
#pragma once

#include "platform/asan.h"
#include "support/bits.h"

namespace km {

inline void* SlabAllocator::get_freepointer(const kmem_cache* s, void* obj) const {
  auto* where = static_cast<unsigned char*>(obj) + s->layout.offset;
  std::uintptr_t raw = load_metadata_word(where);
  if (hardened_)
    raw ^= s->random ^ __builtin_bswap64(addr_of(where));
  return reinterpret_cast<void*>(raw);
}

inline void SlabAllocator::set_freepointer(const kmem_cache* s, void* obj, void* fp) const {
  auto* where = static_cast<unsigned char*>(obj) + s->layout.offset;
  std::uintptr_t raw = addr_of(fp);
  if (hardened_)
    raw ^= s->random ^ __builtin_bswap64(addr_of(where));
  store_metadata_word(where, raw);
}

} // namespace km
