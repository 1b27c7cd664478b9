// support/cmpxchg_double.h - a compare-and-swap of two adjacent 64-bit words as one, the
// kernel's cmpxchg_double / try_cmpxchg128, without libatomic and without a 16-byte
// std::atomic (the static core links from C with no runtime).
//
//   x86-64            `lock cmpxchg16b` in inline assembly; ThreadSanitizer builds use the
//                     compiler's 16-byte __atomic builtin instead (clang inlines it as the same
//                     instruction with -mcx16, which allocator/CMakeLists.txt passes) so that
//                     TSan sees the synchronisation
//   other targets     the compare and the two stores under one of 64 spinlocks picked by the
//                     address (the kernel's slab_lock() fallback); readers' 8-byte loads stay
//                     atomic, so a torn read only makes the next compare fail
// Assumes: `pair` is 16-byte aligned. The operation is a full barrier (acquire and release).
#pragma once

#include <cstdint>

#include "support/check.h"

#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define KM_TSAN_BUILD 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define KM_TSAN_BUILD 1
#endif

namespace km {

// A 64-bit word that may alias any other type (the pair's words are a pointer and counters).
using aliasing_u64 = std::uint64_t __attribute__((may_alias));

inline std::uint64_t load_relaxed(const aliasing_u64* word) {
  return __atomic_load_n(word, __ATOMIC_RELAXED);
}

#if !defined(__x86_64__)
// The spinlocks of the fallback, one cache line apart.
struct alignas(64) PairLock {
  unsigned char held;
};
inline PairLock pair_locks[64];
#endif

// If pair[0..1] == expected[0..1], stores desired and returns true; otherwise copies the
// current words into expected and returns false.
inline bool cmpxchg_double(aliasing_u64* pair, std::uint64_t expected[2],
                           const std::uint64_t desired[2]) {
  KM_DCHECK((reinterpret_cast<std::uintptr_t>(pair) & 15) == 0);
#if defined(__x86_64__) && defined(KM_TSAN_BUILD)
#if !defined(__GCC_HAVE_SYNC_COMPARE_AND_SWAP_16)
#error "ThreadSanitizer builds of kmalloc need -mcx16"
#endif
  using u128 = unsigned __int128 __attribute__((may_alias));
  u128 want = (u128{expected[1]} << 64) | expected[0];
  const u128 put = (u128{desired[1]} << 64) | desired[0];
  const bool ok = __atomic_compare_exchange_n(reinterpret_cast<u128*>(pair), &want, put, false,
                                              __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
  expected[0] = static_cast<std::uint64_t>(want);
  expected[1] = static_cast<std::uint64_t>(want >> 64);
  return ok;
#elif defined(__x86_64__)
  bool ok;
  asm volatile("lock cmpxchg16b %1"
               : "=@ccz"(ok), "+m"(*reinterpret_cast<unsigned __int128*>(pair)), "+a"(expected[0]),
                 "+d"(expected[1])
               : "b"(desired[0]), "c"(desired[1])
               : "memory");
  return ok;
#else
  PairLock& lock = pair_locks[(reinterpret_cast<std::uintptr_t>(pair) >> 4) % 64];
  while (__atomic_exchange_n(&lock.held, 1, __ATOMIC_ACQUIRE) != 0) {
  }
  const std::uint64_t now[2] = {load_relaxed(pair), load_relaxed(pair + 1)};
  const bool ok = now[0] == expected[0] && now[1] == expected[1];
  if (ok) {
    __atomic_store_n(pair, desired[0], __ATOMIC_RELAXED);
    __atomic_store_n(pair + 1, desired[1], __ATOMIC_RELAXED);
  } else {
    expected[0] = now[0];
    expected[1] = now[1];
  }
  __atomic_store_n(&lock.held, 0, __ATOMIC_RELEASE);
  return ok;
#endif
}

} // namespace km
