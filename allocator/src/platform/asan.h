// platform/asan.h - manual ASan poisoning of arena memory (KASAN semantics). No-ops without ASan.
// Free pages, free objects and slack are poisoned; an allocation unpoisons exactly what the
// caller may touch.
#pragma once

#include <cstddef>

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

inline constexpr bool kAsanEnabled =
#ifdef KMALLOC_ASAN
    true;
#else
    false;
#endif

} // namespace km
