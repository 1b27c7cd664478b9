// shim/huge_mappings.h - requests above KMALLOC_MAX_SIZE (or aligned beyond it): each is its
// own anonymous mapping, recorded in an open-addressed table keyed by the pointer, so free(),
// realloc() and malloc_usable_size() recognise them and a pointer that is not one is refused.
//
// Threads: every function takes the registry's lock (huge frees are rare: each is an munmap).
#pragma once

#include <cstddef>

namespace km::shim {

struct HugeStats {
  std::size_t live;       // mappings now
  std::size_t live_bytes; // their size
  std::size_t total;      // mappings ever made
};

// A mapping of at least `size` bytes aligned to `alignment` (a power of two); nullptr if the
// OS refuses or the registry cannot grow.
void* huge_map(std::size_t size, std::size_t alignment);
// The usable size of a huge pointer, or 0 if `ptr` is not one.
std::size_t huge_size(const void* ptr);
// Unmaps a huge pointer; false (nothing done) if `ptr` is not one.
bool huge_unmap(void* ptr);
HugeStats huge_stats();
// fork(): the registry's lock, taken in prepare and given back in parent and child.
void huge_lock_for_fork();
void huge_unlock_after_fork();

} // namespace km::shim
