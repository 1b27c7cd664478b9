// shim/operator_new.cpp - every replaceable C++ allocation function (plain, array, nothrow,
// sized and aligned operator new and delete), served by shim_heap.h. The throwing forms keep
// the C++ contract: on failure they call the new-handler and retry, and throw std::bad_alloc
// when there is none. This is the only file of the shim built with exceptions.
#include <cstddef>
#include <new>

#include "shim_heap.h"
#include "shim_stats.h"

#define KM_SHIM_EXPORT __attribute__((visibility("default")))

namespace {

using namespace km::shim;

void* allocate_or_throw(std::size_t size, std::size_t alignment) {
  count(kNew);
  for (;;) {
    void* p = alignment <= kMinAlign ? allocate(size) : allocate_aligned(size, alignment);
    if (p != nullptr)
      return p;
    std::new_handler handler = std::get_new_handler();
    if (handler == nullptr)
      throw std::bad_alloc();
    handler();
  }
}

void* allocate_nothrow(std::size_t size, std::size_t alignment) noexcept {
  try {
    return allocate_or_throw(size, alignment);
  } catch (...) {
    return nullptr;
  }
}

void deallocate(void* ptr) noexcept {
  count(kDelete);
  release(ptr);
}

std::size_t align_of(std::align_val_t alignment) {
  return static_cast<std::size_t>(alignment);
}

} // namespace

KM_SHIM_EXPORT void* operator new(std::size_t size) {
  return allocate_or_throw(size, 0);
}
KM_SHIM_EXPORT void* operator new[](std::size_t size) {
  return allocate_or_throw(size, 0);
}
KM_SHIM_EXPORT void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
  return allocate_nothrow(size, 0);
}
KM_SHIM_EXPORT void* operator new[](std::size_t size, const std::nothrow_t&) noexcept {
  return allocate_nothrow(size, 0);
}
KM_SHIM_EXPORT void* operator new(std::size_t size, std::align_val_t alignment) {
  return allocate_or_throw(size, align_of(alignment));
}
KM_SHIM_EXPORT void* operator new[](std::size_t size, std::align_val_t alignment) {
  return allocate_or_throw(size, align_of(alignment));
}
KM_SHIM_EXPORT void* operator new(std::size_t size, std::align_val_t alignment,
                                  const std::nothrow_t&) noexcept {
  return allocate_nothrow(size, align_of(alignment));
}
KM_SHIM_EXPORT void* operator new[](std::size_t size, std::align_val_t alignment,
                                    const std::nothrow_t&) noexcept {
  return allocate_nothrow(size, align_of(alignment));
}

KM_SHIM_EXPORT void operator delete(void* ptr) noexcept {
  deallocate(ptr);
}
KM_SHIM_EXPORT void operator delete[](void* ptr) noexcept {
  deallocate(ptr);
}
KM_SHIM_EXPORT void operator delete(void* ptr, const std::nothrow_t&) noexcept {
  deallocate(ptr);
}
KM_SHIM_EXPORT void operator delete[](void* ptr, const std::nothrow_t&) noexcept {
  deallocate(ptr);
}
KM_SHIM_EXPORT void operator delete(void* ptr, std::size_t) noexcept {
  deallocate(ptr);
}
KM_SHIM_EXPORT void operator delete[](void* ptr, std::size_t) noexcept {
  deallocate(ptr);
}
KM_SHIM_EXPORT void operator delete(void* ptr, std::align_val_t) noexcept {
  deallocate(ptr);
}
KM_SHIM_EXPORT void operator delete[](void* ptr, std::align_val_t) noexcept {
  deallocate(ptr);
}
KM_SHIM_EXPORT void operator delete(void* ptr, std::align_val_t, const std::nothrow_t&) noexcept {
  deallocate(ptr);
}
KM_SHIM_EXPORT void operator delete[](void* ptr, std::align_val_t, const std::nothrow_t&) noexcept {
  deallocate(ptr);
}
KM_SHIM_EXPORT void operator delete(void* ptr, std::size_t, std::align_val_t) noexcept {
  deallocate(ptr);
}
KM_SHIM_EXPORT void operator delete[](void* ptr, std::size_t, std::align_val_t) noexcept {
  deallocate(ptr);
}
