// heap_state.h - everything a Heap owns, placed at the start of its arena (metadata pages).
#pragma once

#include <cstddef>
#include <cstdint>

#include "kmalloc/config.h"
#include "page/page_alloc.h"
#include "report_impl.h"

namespace km {

struct HeapState {
  Config config;
  Reporter reporter;
  std::uintptr_t start = 0; // first byte of the (page-aligned) arena
  std::size_t npages = 0;
  std::size_t metadata_pages = 0;
  PageAllocator pages;
};

// Bytes of metadata for an arena of npages pages: HeapState, then the memmap.
constexpr std::size_t memmap_offset() {
  return (sizeof(HeapState) + alignof(page) - 1) & ~(alignof(page) - 1);
}
constexpr std::size_t metadata_bytes(std::size_t npages) {
  return memmap_offset() + npages * sizeof(page);
}

} // namespace km
