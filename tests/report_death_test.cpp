// report_death_test.cpp - the default report handler: every misuse and corruption report prints
// its exact message and aborts; warnings print and return. Also the KM_CHECK failure format.
//
// Death tests run in the "threadsafe" style (re-executing the binary), which also works under
// ASan. Each child rebuilds the heap from scratch before the statement that must die.
#include <csignal>
#include <cstdio>
#include <string>

#include <gtest/gtest.h>

#include "heap_state.h"
#include "heap_test_support.h"
#include "kmalloc/heap.h"
#include "support/check.h"

namespace {

using kmtest::make_config;

// The threadsafe style re-executes the binary, so the child's heap is mapped at another address
// than the parent's: messages are matched with any address (exact addresses are checked by the
// recording-mode tests in page_alloc_test.cpp).
const std::string kAddr = "0x[0-9a-f]+";

class DeathTestBase : public testing::Test {
protected:
  void SetUp() override { GTEST_FLAG_SET(death_test_style, "threadsafe"); }
};

// A 64-page heap (MAX_ORDER 4, no DMA) with an allocated order-2 victim block.
class PageMisuseDeathTest : public DeathTestBase {
protected:
  void SetUp() override {
    DeathTestBase::SetUp();
    ASSERT_TRUE(heap_.init(make_config(12, 4, 64, 0)).ok);
    ps_ = heap_.page_size();
    victim_ = heap_.get_free_pages(GFP_KERNEL, 2);
    ASSERT_NE(victim_, 0u);
  }
  km::Heap heap_;
  std::size_t ps_ = 0;
  std::uintptr_t victim_ = 0;
};

TEST_F(PageMisuseDeathTest, DoubleFreeAborts) {
  heap_.free_pages(victim_, 2);
  EXPECT_EXIT(heap_.free_pages(victim_, 2), testing::KilledBySignal(SIGABRT),
              "kmalloc: BUG: Bad page state: double free of page 0x[0-9a-f]+ \\(order 2\\)");
  // The whole of stderr is the message and a newline.
  EXPECT_EXIT(heap_.free_pages(victim_, 2), testing::KilledBySignal(SIGABRT),
              "^kmalloc: BUG: Bad page state: double free of page " + kAddr + " \\(order 2\\)\n$");
}

TEST_F(PageMisuseDeathTest, TailPageFreeAborts) {
  EXPECT_EXIT(heap_.free_pages(victim_ + ps_, 0), testing::KilledBySignal(SIGABRT),
              "kmalloc: BUG: Invalid page pointer " + kAddr + ": not the first page of its block");
}

TEST_F(PageMisuseDeathTest, WrongOrderAborts) {
  EXPECT_EXIT(heap_.free_pages(victim_, 1), testing::KilledBySignal(SIGABRT),
              "kmalloc: BUG: Bad page order: page " + kAddr +
                  " freed with order 1, allocated with order 2");
}

TEST_F(PageMisuseDeathTest, MetadataPageFreeAborts) {
  EXPECT_EXIT(heap_.free_pages(heap_.arena_start(), 0), testing::KilledBySignal(SIGABRT),
              "kmalloc: BUG: Invalid page pointer " + kAddr + ": heap metadata page");
}

TEST_F(PageMisuseDeathTest, FreeOutsideArenaAborts) {
  const std::uintptr_t end = heap_.arena_start() + heap_.arena_pages() * ps_;
  EXPECT_EXIT(heap_.free_pages(end, 0), testing::KilledBySignal(SIGABRT),
              "kmalloc: BUG: Invalid page pointer " + kAddr + ": outside the arena");
}

TEST_F(PageMisuseDeathTest, UnalignedFreeAborts) {
  EXPECT_EXIT(heap_.free_pages(victim_ + 8, 2), testing::KilledBySignal(SIGABRT),
              "kmalloc: BUG: Invalid page pointer " + kAddr + ": not page aligned");
}

TEST_F(PageMisuseDeathTest, NotADescriptorAborts) {
  alignas(page) static unsigned char fake[sizeof(page)];
  auto* p = reinterpret_cast<struct page*>(fake);
  EXPECT_EXIT(heap_.free_pages(p, 0), testing::KilledBySignal(SIGABRT),
              "kmalloc: BUG: Invalid page pointer 0x[0-9a-f]+: not a page descriptor of this "
              "heap");
}

TEST_F(PageMisuseDeathTest, OwnerMismatchAborts) {
  page* head = heap_.state_for_testing()->pages.virt_to_page(victim_);
  for (int i = 0; i < 4; ++i)
    head[i].owner = km::PageOwner::Slab;
  EXPECT_EXIT(heap_.free_pages(victim_, 2), testing::KilledBySignal(SIGABRT),
              "kmalloc: BUG: Bad page state: page " + kAddr + " belongs to slab, not alloc_pages");
  for (int i = 0; i < 4; ++i)
    head[i].owner = km::PageOwner::PageAlloc;
}

TEST_F(PageMisuseDeathTest, FreeOfASlabPageAborts) {
  struct kmem_cache* cache = heap_.kmem_cache_create("death-slab", 128, 0, 0, nullptr);
  ASSERT_NE(cache, nullptr);
  void* obj = heap_.kmem_cache_alloc(cache, GFP_KERNEL);
  ASSERT_NE(obj, nullptr);
  const km::PageInfo info = heap_.page_info(obj);
  ASSERT_EQ(info.owner, km::PageOwner::Slab);
  EXPECT_EXIT(heap_.free_pages(info.block, info.order), testing::KilledBySignal(SIGABRT),
              "kmalloc: BUG: Bad page state: page " + kAddr + " belongs to slab, not alloc_pages");
  heap_.kmem_cache_free(cache, obj);
  heap_.kmem_cache_destroy(cache);
}

TEST_F(PageMisuseDeathTest, CorruptionFoundByValidateAborts) {
  heap_.free_pages(victim_, 2); // victim's block is free again, merged into its neighbours
  page* p = heap_.state_for_testing()->pages.virt_to_page(heap_.arena_start());
  p->flags = km::PG_head; // metadata page with flags
  EXPECT_EXIT(heap_.validate(), testing::KilledBySignal(SIGABRT),
              "kmalloc: validate: DESC: metadata page " + kAddr + " has flags 0x2");
  p->flags = 0;
}

// set_report_handler(nullptr) puts the aborting default back after a recording handler.
TEST_F(PageMisuseDeathTest, NullHandlerRestoresTheDefault) {
  kmtest::Recorder rec;
  heap_.set_report_handler(kmtest::Recorder::handle, &rec);
  heap_.free_pages(victim_, 3);
  EXPECT_EQ(rec.size(), 1u);
  heap_.set_report_handler(nullptr, nullptr);
  EXPECT_EXIT(heap_.free_pages(victim_, 3), testing::KilledBySignal(SIGABRT),
              "kmalloc: BUG: Bad page order: page " + kAddr +
                  " freed with order 3, allocated with order 2");
}

class ReportHandlerDeathTest : public DeathTestBase {};

TEST_F(ReportHandlerDeathTest, DefaultHandlerAbortsOnEveryNonWarningKind) {
  for (unsigned k = 0; k < km::kErrorKindCount; ++k) {
    const auto kind = static_cast<km::ErrorKind>(k);
    if (km::error_kind_is_warning(kind))
      continue;
    const std::string text =
        std::string("kmalloc: test report of kind ") + km::error_kind_name(kind);
    const km::ErrorReport report{kind, 0, text.c_str()};
    EXPECT_EXIT(km::default_report_handler(nullptr, report), testing::KilledBySignal(SIGABRT),
                text + "\n")
        << km::error_kind_name(kind);
  }
}

// ---- warnings print and return

class WarningDeathTest : public DeathTestBase {
protected:
  void SetUp() override {
    DeathTestBase::SetUp();
    ASSERT_TRUE(heap_.init(make_config(12, 4, 64, 0)).ok);
  }
  km::Heap heap_;
};

TEST_F(WarningDeathTest, OrderTooLargePrintsAndReturnsNull) {
  testing::internal::CaptureStderr();
  struct page* p = heap_.alloc_pages(GFP_KERNEL, 5);
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_EQ(p, nullptr);
  EXPECT_EQ(err, "kmalloc: WARNING: alloc_pages: order 5 > MAX_ORDER 4\n");
  EXPECT_EQ(heap_.validate(), 0u);
  // The heap still works.
  const std::uintptr_t a = heap_.get_free_pages(GFP_KERNEL, 4);
  EXPECT_NE(a, 0u);
  heap_.free_pages(a, 4);
}

TEST_F(WarningDeathTest, InvalidGfpPrintsAndReturnsNull) {
  testing::internal::CaptureStderr();
  const std::uintptr_t a = heap_.get_free_pages(GFP_KERNEL | 0x200u, 0);
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_EQ(a, 0u);
  EXPECT_EQ(err, "kmalloc: WARNING: invalid gfp flags 0xec0 (unknown bits 0x200)\n");
}

TEST_F(WarningDeathTest, NowarnPrintsNothing) {
  testing::internal::CaptureStderr();
  EXPECT_EQ(heap_.alloc_pages(GFP_KERNEL | __GFP_NOWARN, 5), nullptr);
  EXPECT_EQ(heap_.alloc_pages(GFP_KERNEL | __GFP_NOWARN | 0x200u, 0), nullptr);
  EXPECT_EQ(testing::internal::GetCapturedStderr(), "");
}

TEST_F(WarningDeathTest, DefaultHandlerReturnsForWarnings) {
  for (km::ErrorKind kind : {km::ErrorKind::OrderTooLarge, km::ErrorKind::InvalidGfp}) {
    ASSERT_TRUE(km::error_kind_is_warning(kind));
    testing::internal::CaptureStderr();
    km::default_report_handler(nullptr, km::ErrorReport{kind, 0, "kmalloc: WARNING: test"});
    EXPECT_EQ(testing::internal::GetCapturedStderr(), "kmalloc: WARNING: test\n");
  }
}

// ---- KM_CHECK

class CheckDeathTest : public DeathTestBase {};

TEST_F(CheckDeathTest, CheckEqFailurePrintsBothValues) {
  EXPECT_EXIT(KM_CHECK_EQ(1, 2), testing::KilledBySignal(SIGABRT),
              "kmalloc: CHECK failed: .*report_death_test.cpp:[0-9]+: 1 == 2 \\(0x1 vs 0x2\\)");
}

TEST_F(CheckDeathTest, CheckFailurePrintsTheExpression) {
  volatile bool ok = false;
  EXPECT_EXIT(KM_CHECK(ok), testing::KilledBySignal(SIGABRT),
              "kmalloc: CHECK failed: .*: ok \\(0 vs 0\\)");
  EXPECT_EXIT(KM_CHECK_LT(7u, 3u), testing::KilledBySignal(SIGABRT),
              "kmalloc: CHECK failed: .*: 7u < 3u \\(0x7 vs 0x3\\)");
}

TEST_F(CheckDeathTest, PassingChecksDoNotAbort) {
  int evaluated = 0;
  KM_CHECK_EQ(++evaluated, 1); // evaluated exactly once
  KM_CHECK_LE(1, 1);
  KM_CHECK(true);
  EXPECT_EQ(evaluated, 1);
}

} // namespace
