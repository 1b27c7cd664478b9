// shim/malloc_api.cpp - the C allocation functions libkmalloc-malloc.so exports: malloc, free,
// calloc, realloc, reallocarray, posix_memalign, aligned_alloc, memalign, valloc, pvalloc and
// malloc_usable_size, with glibc's contract (errno = ENOMEM on failure, EINVAL for a bad
// alignment, realloc(p, 0) frees p and returns NULL). Each call counts itself (shim_stats.h)
// and is served by shim_heap.h; nothing is forwarded to another allocator. At exit, with
// KMALLOC_OPTIONS stats=FILE, the stats are written.
#include <errno.h>
#include <unistd.h>

#include <cstddef>

#include "shim_heap.h"
#include "shim_stats.h"

#define KM_SHIM_EXPORT extern "C" __attribute__((visibility("default")))

namespace {

using namespace km::shim;

void* or_enomem(void* p) {
  if (p == nullptr)
    errno = ENOMEM;
  return p;
}

bool power_of_two(std::size_t x) {
  return x != 0 && (x & (x - 1)) == 0;
}

// aligned_alloc and memalign: EINVAL for an alignment that is not a power of two.
void* aligned_or_einval(std::size_t alignment, std::size_t size) {
  if (!power_of_two(alignment)) {
    errno = EINVAL;
    return nullptr;
  }
  return or_enomem(allocate_aligned(size, alignment));
}

std::size_t os_page() {
  return static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
}

__attribute__((destructor)) void write_stats_at_exit() {
  const char* path = stats_path();
  if (path[0] != '\0' && !write_stats(path)) {
    static const char message[] = "kmalloc-malloc: stats: cannot write the stats file\n";
    (void)!write(STDERR_FILENO, message, sizeof message - 1);
  }
}

} // namespace

KM_SHIM_EXPORT void* malloc(std::size_t size) {
  count(kMalloc);
  return or_enomem(allocate(size));
}

KM_SHIM_EXPORT void free(void* ptr) {
  count(kFree);
  release(ptr);
}

KM_SHIM_EXPORT void* calloc(std::size_t n, std::size_t size) {
  count(kCalloc);
  std::size_t bytes;
  if (__builtin_mul_overflow(n, size, &bytes))
    return or_enomem(nullptr);
  return or_enomem(allocate_zeroed(bytes));
}

KM_SHIM_EXPORT void* realloc(void* ptr, std::size_t size) {
  count(kRealloc);
  if (ptr != nullptr && size == 0) {
    release(ptr);
    return nullptr;
  }
  return or_enomem(reallocate(ptr, size));
}

KM_SHIM_EXPORT void* reallocarray(void* ptr, std::size_t n, std::size_t size) {
  count(kReallocarray);
  std::size_t bytes;
  if (__builtin_mul_overflow(n, size, &bytes))
    return or_enomem(nullptr);
  if (ptr != nullptr && bytes == 0) {
    release(ptr);
    return nullptr;
  }
  return or_enomem(reallocate(ptr, bytes));
}

KM_SHIM_EXPORT int posix_memalign(void** out, std::size_t alignment, std::size_t size) {
  count(kPosixMemalign);
  if (!power_of_two(alignment) || alignment % sizeof(void*) != 0)
    return EINVAL;
  void* p = allocate_aligned(size, alignment);
  if (p == nullptr)
    return ENOMEM;
  *out = p;
  return 0;
}

KM_SHIM_EXPORT void* aligned_alloc(std::size_t alignment, std::size_t size) {
  count(kAlignedAlloc);
  return aligned_or_einval(alignment, size);
}

KM_SHIM_EXPORT void* memalign(std::size_t alignment, std::size_t size) {
  count(kMemalign);
  return aligned_or_einval(alignment, size);
}

KM_SHIM_EXPORT void* valloc(std::size_t size) {
  count(kValloc);
  return or_enomem(allocate_aligned(size, os_page()));
}

KM_SHIM_EXPORT void* pvalloc(std::size_t size) {
  count(kPvalloc);
  const std::size_t page = os_page();
  std::size_t rounded;
  if (__builtin_add_overflow(size, page - 1, &rounded))
    return or_enomem(nullptr);
  rounded &= ~(page - 1);
  return or_enomem(allocate_aligned(rounded == 0 ? page : rounded, page));
}

KM_SHIM_EXPORT std::size_t malloc_usable_size(void* ptr) {
  count(kUsableSize);
  return usable_size(ptr);
}
