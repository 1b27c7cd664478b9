// config_test.cpp - validate_config() and Heap::init(): every rejection names the Config field
// (or "region" / "heap"), and a valid configuration passes.
#include "kmalloc/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "heap_test_support.h"
#include "kmalloc/heap.h"

namespace {

using kmtest::AlignedRegion;
using kmtest::lean;
using kmtest::make_config;
using testing::HasSubstr;
using testing::StartsWith;

// The rejection names `field` in Status::field, its option key in Status::option, and both at
// the start of the message: "arena (Config::arena_size): ..." or, where they are the same name,
// "page_shift: ...".
void expect_rejected(const km::Status& st, const char* field) {
  EXPECT_FALSE(st.ok);
  ASSERT_NE(st.field, nullptr);
  EXPECT_STREQ(st.field, field);
  const std::string key = km::option_key_of(field);
  ASSERT_NE(st.option, nullptr);
  EXPECT_EQ(std::string(st.option), key);
  const std::string prefix =
      key == field ? key + ":" : key + " (Config::" + std::string(field) + "):";
  EXPECT_THAT(std::string(st.message), StartsWith(prefix));
}

km::Status check(const km::Config& cfg) {
  km::Status st;
  const bool ok = km::validate_config(cfg, st);
  EXPECT_EQ(ok, st.ok);
  return st;
}

TEST(ValidateConfig, DefaultConfigIsValid) {
  const km::Status st = check(km::Config{});
  EXPECT_TRUE(st.ok);
  EXPECT_EQ(st.field, nullptr);
  EXPECT_STREQ(st.message, "");
}

TEST(ValidateConfig, SweptConfigsAreValid) {
  for (const auto& c : kmtest::sweep_configs()) {
    EXPECT_TRUE(check(c.cfg).ok) << c;
  }
}

TEST(ValidateConfig, EveryPageSizeIsAccepted) {
  for (unsigned shift : {12u, 14u, 16u}) {
    EXPECT_TRUE(check(make_config(shift, 10, 64, 0)).ok) << shift;
  }
}

TEST(ValidateConfig, PageShift13IsRejected) {
  km::Config cfg = make_config(12, 10, 64, 0);
  cfg.page_shift = 13;
  const km::Status st = check(cfg);
  expect_rejected(st, "page_shift");
  EXPECT_STREQ(st.message, "page_shift: must be 12, 14 or 16 (4, 16 or 64 KiB pages) (got 13)");
}

TEST(ValidateConfig, OtherPageShiftsAreRejected) {
  for (unsigned shift : {0u, 11u, 15u, 17u, 20u, 44u}) {
    km::Config cfg = make_config(12, 10, 64, 0);
    cfg.page_shift = shift;
    expect_rejected(check(cfg), "page_shift");
  }
}

TEST(ValidateConfig, MaxOrder17IsRejected) {
  const km::Status st = check(make_config(12, 17, 64, 0));
  expect_rejected(st, "max_order");
  EXPECT_THAT(std::string(st.message), HasSubstr("(got 17)"));
  EXPECT_TRUE(check(make_config(12, km::kMaxOrderLimit, 64, 0)).ok);
  EXPECT_TRUE(check(make_config(12, 0, 64, 0)).ok);
}

TEST(ValidateConfig, ArenaNotAPageMultipleIsRejected) {
  km::Config cfg = make_config(12, 10, 64, 0);
  cfg.arena_size += 1;
  const km::Status st = check(cfg);
  expect_rejected(st, "arena_size");
  EXPECT_THAT(std::string(st.message), HasSubstr("multiple of the page size"));
  // A multiple of 4 KiB is not a multiple of 64 KiB.
  km::Config big = make_config(16, 6, 64, 0);
  big.arena_size += 4096;
  expect_rejected(check(big), "arena_size");
}

TEST(ValidateConfig, ArenaBelowEightPagesIsRejected) {
  const km::Status st = check(make_config(12, 10, 7, 0));
  expect_rejected(st, "arena_size");
  EXPECT_THAT(std::string(st.message), HasSubstr("at least 8 pages"));
  expect_rejected(check(make_config(12, 10, 0, 0)), "arena_size");
  expect_rejected(check(make_config(16, 10, 7, 0)), "arena_size");
  EXPECT_TRUE(check(make_config(12, 10, 8, 0)).ok);
}

TEST(ValidateConfig, ArenaAboveTwoTo31PagesIsRejected) {
  const std::size_t limit = std::size_t{1} << 31;
  EXPECT_TRUE(check(make_config(12, 10, limit, 0)).ok);
  expect_rejected(check(make_config(12, 10, limit + 1, 0)), "arena_size");
}

TEST(ValidateConfig, DmaNotAPageMultipleIsRejected) {
  km::Config cfg = make_config(12, 10, 64, 16);
  cfg.dma_zone_size += 512;
  const km::Status st = check(cfg);
  expect_rejected(st, "dma_zone_size");
  EXPECT_THAT(std::string(st.message), HasSubstr("multiple of the page size"));
}

TEST(ValidateConfig, DmaNotSmallerThanArenaIsRejected) {
  const km::Status st = check(make_config(12, 10, 64, 64));
  expect_rejected(st, "dma_zone_size");
  EXPECT_THAT(std::string(st.message), HasSubstr("must be smaller than arena"));
  expect_rejected(check(make_config(12, 10, 64, 128)), "dma_zone_size");
  EXPECT_TRUE(check(make_config(12, 10, 64, 63)).ok);
}

// The slab layer's fields (Config since the slab commit).
TEST(ValidateConfig, SlabFieldsAreChecked) {
  const km::Config base = make_config(12, 10, 64, 0);
  auto with = [&](auto change) {
    km::Config cfg = base;
    change(cfg);
    return check(cfg);
  };
  EXPECT_TRUE(with([](km::Config& c) { c.nr_cpus = km::kNrCpusAuto; }).ok); // resolved at init
  EXPECT_TRUE(with([](km::Config& c) { c.nr_cpus = 1; }).ok);
  expect_rejected(with([](km::Config& c) { c.nr_cpus = km::kMaxCpus + 1; }), "nr_cpus");
  expect_rejected(with([](km::Config& c) { c.nr_cpus = ~0u; }), "nr_cpus");
  EXPECT_TRUE(with([](km::Config& c) { c.nr_cpus = km::kMaxCpus; }).ok);
  expect_rejected(with([](km::Config& c) { c.slub_max_order = 17; }), "slub_max_order");
  expect_rejected(with([](km::Config& c) { c.slub_min_order = 4; }), "slub_min_order");
  expect_rejected(with([](km::Config& c) { c.slub_min_objects = 32768; }), "slub_min_objects");
  EXPECT_TRUE(with([](km::Config& c) { c.slub_min_objects = 32767; }).ok);
  for (unsigned bad : {0u, 4u, 12u, 8192u})
    expect_rejected(with([bad](km::Config& c) { c.cache_line_size = bad; }), "cache_line_size");
  EXPECT_TRUE(with([](km::Config& c) { c.cache_line_size = 8; }).ok);
  EXPECT_TRUE(with([](km::Config& c) { c.cache_line_size = 4096; }).ok);
  EXPECT_TRUE(with([](km::Config& c) { c.max_caches = 0; }).ok); // 0 = automatic
  expect_rejected(with([](km::Config& c) { c.max_caches = 4097; }), "max_caches");
}

TEST(ValidateConfig, SuccessClearsAnEarlierFailure) {
  km::Status st;
  EXPECT_FALSE(km::validate_config(make_config(13, 10, 64, 0), st));
  EXPECT_FALSE(st.ok);
  EXPECT_TRUE(km::validate_config(make_config(12, 10, 64, 0), st));
  EXPECT_TRUE(st.ok);
  EXPECT_EQ(st.field, nullptr);
  EXPECT_STREQ(st.message, "");
}

// ---- Heap::init

TEST(HeapInitConfig, ValidConfigInitialises) {
  km::Heap heap;
  const km::Status st = heap.init(make_config(12, 10, 256, 64));
  EXPECT_TRUE(st.ok) << st.message;
  EXPECT_EQ(st.field, nullptr);
  EXPECT_TRUE(heap.initialized());
}

TEST(HeapInitConfig, InvalidConfigNamesTheFieldAndKeepsNothing) {
  km::Heap heap;
  expect_rejected(heap.init(make_config(13, 10, 256, 0)), "page_shift");
  EXPECT_FALSE(heap.initialized());
  expect_rejected(heap.init(make_config(12, 17, 256, 0)), "max_order");
  expect_rejected(heap.init(make_config(12, 10, 7, 0)), "arena_size");
  expect_rejected(heap.init(make_config(12, 10, 64, 64)), "dma_zone_size");
  EXPECT_FALSE(heap.initialized());
  // A later valid init works.
  EXPECT_TRUE(heap.init(make_config(12, 10, 64, 0)).ok);
  EXPECT_TRUE(heap.initialized());
}

TEST(HeapInitConfig, DmaZoneIsNotCarvedFromTheMetadata) {
  // Issue 7, finding 6: the metadata used to be carved out of ZONE_DMA, so a small DMA zone (or
  // a large arena, whose metadata outgrew 16 MiB) failed. The zones now follow the metadata.
  km::Heap heap;
  const km::Status st = heap.init(make_config(12, 10, 16384, 16));
  ASSERT_TRUE(st.ok) << st.message;
  ASSERT_EQ(heap.nr_zones(), 2u);
  EXPECT_EQ(heap.zone_info(0).spanned_pages, 16u);
  EXPECT_EQ(heap.zone_info(0).free_pages, 16u);
  EXPECT_EQ(heap.zone_info(0).start_pfn, heap.arena_start() / 4096 + heap.page_counts().metadata);
  km::Heap small;
  ASSERT_TRUE(small.init(make_config(12, 10, 64, 1)).ok);
  EXPECT_EQ(small.zone_info(0).free_pages, 1u);
}

TEST(HeapInitConfig, DmaZoneLeavingNoNormalPageIsRejected) {
  km::Heap probe;
  ASSERT_TRUE(probe.init(make_config(12, 10, 64, 0)).ok);
  const std::size_t metadata = probe.page_counts().metadata;
  km::Heap heap;
  const km::Status st = heap.init(make_config(12, 10, 64, 64 - metadata));
  expect_rejected(st, "dma_zone_size");
  EXPECT_THAT(std::string(st.message), HasSubstr("leaves no page for ZONE_NORMAL"));
  EXPECT_FALSE(heap.initialized());
  EXPECT_TRUE(heap.init(make_config(12, 10, 64, 64 - metadata - 1)).ok);
}

TEST(HeapInitConfig, DoubleInitIsRejected) {
  km::Heap heap;
  ASSERT_TRUE(heap.init(make_config(12, 4, 64, 0)).ok);
  const std::uintptr_t start = heap.arena_start();
  expect_rejected(heap.init(make_config(12, 4, 64, 0)), "heap");
  AlignedRegion region(64 << 12, 1 << 16);
  expect_rejected(heap.init(make_config(12, 4, 64, 0), region.get(), region.size()), "heap");
  // The first heap is untouched.
  EXPECT_TRUE(heap.initialized());
  EXPECT_EQ(heap.arena_start(), start);
  EXPECT_EQ(kmtest::quiet_validate(heap), 0u);
}

TEST(HeapInitConfig, DoubleInitOverRegionIsRejected) {
  AlignedRegion region(64 << 12, 1 << 16);
  km::Heap heap;
  ASSERT_TRUE(heap.init(make_config(12, 4, 0, 0), region.get(), region.size()).ok);
  expect_rejected(heap.init(make_config(12, 4, 0, 0), region.get(), region.size()), "heap");
  expect_rejected(heap.init(make_config(12, 4, 64, 0)), "heap");
  EXPECT_EQ(heap.arena_start(), region.address());
}

TEST(HeapInitRegion, RegionTooSmallNamesRegion) {
  AlignedRegion region(16 << 12, 1 << 16);
  km::Heap heap;
  const km::Status st = heap.init(make_config(12, 4, 0, 0), region.get(), 7 << 12);
  expect_rejected(st, "region");
  EXPECT_THAT(std::string(st.message), HasSubstr("hold 7 whole pages; at least 8 are needed"));
  EXPECT_FALSE(heap.initialized());
  EXPECT_TRUE(heap.init(lean(make_config(12, 4, 0, 0)), region.get(), 8 << 12).ok);
}

// A region of at least 8 pages that cannot hold the metadata (4096 cache descriptors with 64
// cpus need megabytes) is also too small: the field is "region", since arena_size is ignored for
// region heaps (heap.h).
TEST(HeapInitRegion, RegionTooSmallForMetadataNamesRegion) {
  AlignedRegion region(16 << 12, 1 << 16);
  km::Heap heap;
  km::Config cfg = make_config(12, 4, 0, 0);
  cfg.max_caches = 4096;
  cfg.nr_cpus = km::kMaxCpus;
  const km::Status st = heap.init(cfg, region.get(), 10 << 12);
  expect_rejected(st, "region");
  EXPECT_FALSE(heap.initialized());
}

TEST(HeapInitRegion, UnalignedRegionLosesItsPartialPages) {
  // 8 pages of bytes starting 1 byte into a page hold only 7 whole pages.
  AlignedRegion region(16 << 12, 1 << 16);
  km::Heap heap;
  auto* unaligned = static_cast<char*>(region.get()) + 1;
  expect_rejected(heap.init(lean(make_config(12, 4, 0, 0)), unaligned, 8 << 12), "region");
  EXPECT_TRUE(heap.init(lean(make_config(12, 4, 0, 0)), unaligned, (9 << 12) - 1).ok);
  EXPECT_EQ(heap.arena_pages(), 8u);
}

TEST(HeapInitRegion, NullRegionNamesRegion) {
  km::Heap heap;
  expect_rejected(heap.init(make_config(12, 4, 0, 0), nullptr, 64 << 12), "region");
  EXPECT_FALSE(heap.initialized());
}

TEST(HeapInitRegion, RegionConfigErrorsNameTheirField) {
  AlignedRegion region(64 << 12, 1 << 16);
  km::Heap heap;
  expect_rejected(heap.init(make_config(13, 4, 0, 0), region.get(), region.size()), "page_shift");
  expect_rejected(heap.init(make_config(12, 17, 0, 0), region.get(), region.size()), "max_order");
  expect_rejected(heap.init(make_config(12, 4, 0, 64), region.get(), region.size()),
                  "dma_zone_size");
  km::Config odd_dma = make_config(12, 4, 0, 8);
  odd_dma.dma_zone_size += 1;
  expect_rejected(heap.init(odd_dma, region.get(), region.size()), "dma_zone_size");
  expect_rejected(heap.init(make_config(12, 4, 0, 63), region.get(), region.size()),
                  "dma_zone_size"); // leaves no ZONE_NORMAL page after the metadata
  EXPECT_FALSE(heap.initialized());
}

TEST(HeapInitRegion, ArenaSizeIsIgnoredForRegions) {
  AlignedRegion region(32 << 12, 1 << 16);
  km::Heap heap;
  km::Config cfg = make_config(12, 4, 0, 0);
  cfg.arena_size = 12345; // not a page multiple: ignored, the region's size counts
  ASSERT_TRUE(heap.init(cfg, region.get(), region.size()).ok);
  EXPECT_EQ(heap.config().arena_size, region.size());
  EXPECT_EQ(heap.arena_pages(), 32u);
}

} // namespace
