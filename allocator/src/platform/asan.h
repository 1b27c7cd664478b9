// platform/asan.h - manual ASan poisoning of arena memory (KASAN semantics). No-ops without ASan.
// Free pages, free objects and slack are poisoned; an allocation unpoisons exactly what the
// caller may touch.
#pragma once

#include <cstddef>
#include <cstdint>

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define KMALLOC_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) && !defined(KMALLOC_ASAN)
#define KMALLOC_ASAN 1
#endif

#ifdef KMALLOC_ASAN
#include <sanitizer/asan_interface.h>
#endif

namespace km {

inline void poison(const void* addr, std::size_t bytes) {
#ifdef KMALLOC_ASAN
  __asan_poison_memory_region(addr, bytes);
#else
  (void)addr;
  (void)bytes;
#endif
}

inline void unpoison(const void* addr, std::size_t bytes) {
#ifdef KMALLOC_ASAN
  __asan_unpoison_memory_region(addr, bytes);
#else
  (void)addr;
  (void)bytes;
#endif
}

// A word of allocator metadata inside memory that stays poisoned: the free pointer of a free
// object. The kernel builds mm/slub.c without KASAN checks (mm/Makefile:
// KASAN_SANITIZE_slub.o := n), so SLUB reads and writes its free pointers unchecked; these do
// the same for one 8-byte access, without unpoisoning, so the word stays poisoned for everyone
// else and an access costs a load or a store instead of two calls into the ASan runtime.
#ifdef KMALLOC_ASAN
#define KM_UNCHECKED_BY_ASAN __attribute__((no_sanitize("address")))
#else
#define KM_UNCHECKED_BY_ASAN
#endif
KM_UNCHECKED_BY_ASAN inline std::uintptr_t load_metadata_word(const void* where) {
  std::uintptr_t v;
  __builtin_memcpy(&v, where, sizeof v);
  return v;
}
KM_UNCHECKED_BY_ASAN inline void store_metadata_word(void* where, std::uintptr_t v) {
  __builtin_memcpy(where, &v, sizeof v);
}

inline constexpr bool kAsanEnabled =
#ifdef KMALLOC_ASAN
    true;
#else
    false;
#endif

} // namespace km
