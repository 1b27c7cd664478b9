// tests/page_release_test.cpp - Heap::set_release_threshold: free MAX_ORDER blocks beyond the
// ones a zone keeps are given back to the OS (their memory is no longer resident), the kept ones
// are allocated first, and the heap stays valid. Assumes a hosted build (mincore, madvise).
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include "kmalloc/heap.h"
#include "platform/os.h"

namespace {

km::Config release_config() {
  km::Config cfg;
  cfg.arena_size = 16u << 20;
  cfg.max_order = 8; // 1 MiB blocks
  cfg.dma_zone_size = 0;
  cfg.nr_cpus = 2;
  cfg.profile = km::Profile::Linux6;
  return cfg;
}

constexpr std::size_t kBlock = std::size_t{4096} << 8;

// Allocates n MAX_ORDER blocks and writes every byte, so each is resident.
std::vector<void*> touched_blocks(km::Heap& heap, unsigned n) {
  std::vector<void*> blocks;
  for (unsigned i = 0; i < n; ++i) {
    void* p = reinterpret_cast<void*>(heap.get_free_pages(GFP_KERNEL, 8));
    EXPECT_NE(p, nullptr);
    std::memset(p, 0x5a, kBlock);
    EXPECT_EQ(km::platform::resident_bytes(p, kBlock), kBlock);
    blocks.push_back(p);
  }
  return blocks;
}

TEST(PageRelease, BlocksBeyondTheKeptOnesLeaveMemory) {
  km::Heap heap;
  ASSERT_TRUE(heap.init(release_config()).ok);
  EXPECT_EQ(heap.set_release_threshold(kBlock), 0u); // keep one block per zone
  const std::vector<void*> blocks = touched_blocks(heap, 3);
  for (void* p : blocks)
    heap.free_pages(reinterpret_cast<std::uintptr_t>(p), 8);
  // The first freed block is kept; the next two are given back.
  EXPECT_EQ(heap.set_release_threshold(kBlock), 2u);
  EXPECT_EQ(km::platform::resident_bytes(blocks[0], kBlock), kBlock);
  EXPECT_EQ(km::platform::resident_bytes(blocks[1], kBlock), 0u);
  EXPECT_EQ(km::platform::resident_bytes(blocks[2], kBlock), 0u);
  // The kept block is the one the next allocation takes.
  const std::uintptr_t again = heap.get_free_pages(GFP_KERNEL, 8);
  EXPECT_EQ(again, reinterpret_cast<std::uintptr_t>(blocks[0]));
  heap.free_pages(again, 8);
  EXPECT_EQ(heap.validate(), 0u);
}

TEST(PageRelease, ByDefaultNothingIsGivenBack) {
  km::Heap heap;
  ASSERT_TRUE(heap.init(release_config()).ok);
  const std::vector<void*> blocks = touched_blocks(heap, 3);
  for (void* p : blocks)
    heap.free_pages(reinterpret_cast<std::uintptr_t>(p), 8);
  for (void* p : blocks)
    EXPECT_EQ(km::platform::resident_bytes(p, kBlock), kBlock);
  EXPECT_EQ(heap.set_release_threshold(km::Heap::kNeverRelease), 0u);
}

// A block that was given back and is allocated again works as any other (it reads zero, which
// only __GFP_ZERO promises), and the free block accounting stays exact through the cycles.
TEST(PageRelease, AGivenBackBlockIsReusedAndTheHeapStaysValid) {
  km::Heap heap;
  ASSERT_TRUE(heap.init(release_config()).ok);
  heap.set_release_threshold(0); // keep none
  const km::PageCounts before = heap.page_counts();
  for (int round = 0; round < 4; ++round) {
    std::vector<void*> blocks = touched_blocks(heap, 4);
    for (void* p : blocks)
      heap.free_pages(reinterpret_cast<std::uintptr_t>(p), 8);
  }
  EXPECT_GE(heap.set_release_threshold(0), 4u);
  EXPECT_EQ(heap.page_counts().free, before.free);
  EXPECT_EQ(heap.validate(), 0u);
}

} // namespace
