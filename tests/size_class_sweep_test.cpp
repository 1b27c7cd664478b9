// size_class_sweep_test.cpp - the kmalloc size classes against the independent size-class model
// (model/size_class_model.h), on every profile variant:
//   * every size 0 .. KMALLOC_MAX_CACHE_SIZE + 2 pages: kmalloc_index, kmalloc_size_roundup and
//     the kmalloc cache (its name, and that the cache changes exactly where the model's class
//     does) for the normal, dma and reclaimable types;
//   * a sample (every size up to 1024, each power-of-two and 96/192 boundary +-1, page multiples
//     +-1 of the large path, sizes past KMALLOC_MAX_SIZE): a real kmalloc, compared for ksize,
//     alignment, page_info owner (Slab / LargeKmalloc), cache name and large order, then kfree.
// A failure prints the model's table and the first differences only.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "kmalloc/heap.h"
#include "model/size_class_model.h"

namespace {

using km::model::front::Path;
using km::model::front::Prediction;
using km::model::front::SizeClassModel;

struct Variant {
  const char* name;
  km::Profile profile;
  unsigned page_shift;
  unsigned min_size; // 0: the profile's
  unsigned max_order;
};

const Variant kVariants[] = {
    {"linux6_4k", km::Profile::Linux6, 12, 0, 10},
    {"linux6_16k", km::Profile::Linux6, 14, 0, 10},
    {"linux6_64k", km::Profile::Linux6, 16, 0, 9},
    {"linux6_min64", km::Profile::Linux6, 12, 64, 10},
    {"linux6_min128", km::Profile::Linux6, 12, 128, 10},
    {"linux4slab_4k", km::Profile::Linux4Slab, 12, 0, 10},
    {"linux4slab_16k", km::Profile::Linux4Slab, 14, 0, 10},
    {"linux4slab_64k", km::Profile::Linux4Slab, 16, 0, 10},
    {"linux4slab_min64", km::Profile::Linux4Slab, 12, 64, 10},
    {"linux4slab_min128", km::Profile::Linux4Slab, 12, 128, 10},
};

struct Recorder {
  std::vector<km::ErrorReport> reports; // message pointers are not kept
  static void handle(void* ctx, const km::ErrorReport& r) {
    static_cast<Recorder*>(ctx)->reports.push_back(km::ErrorReport{r.kind, r.address, nullptr});
  }
};

km::Config make_config(const Variant& v) {
  km::Config cfg;
  cfg.profile = v.profile;
  cfg.page_shift = v.page_shift;
  cfg.max_order = v.max_order;
  cfg.kmalloc_min_size = v.min_size;
  cfg.nr_cpus = 1;
  cfg.random_seed = 7;
  SizeClassModel m(cfg);
  // Room for the largest object (twice: the metadata pages sit at the start of the arena).
  const std::size_t largest = m.max_size() > m.max_cache_size() ? m.max_size() : m.max_cache_size();
  cfg.arena_size = 2 * largest + (std::size_t{64} << 20);
  cfg.dma_zone_size = std::size_t{16} << 20;
  return cfg;
}

// The linux-4-slab 16 KiB / 64 KiB profiles have caches up to 16 / 32 MiB; sweeping each size
// up there takes minutes in a debug build, so by default the dense sweep stops at 4 MiB.
constexpr std::size_t kFullSweepLimit = (std::size_t{4} << 20) + (std::size_t{128} << 10);

std::size_t next_size(std::size_t size, std::size_t dense, const std::vector<std::size_t>& classes,
                      std::size_t page) {
  if (size < dense)
    return size + 1;
  // Past the dense range: the next size within 2 pages of a class boundary, else a stride.
  for (std::size_t c : classes)
    if (c + 2 * page > size && size + 1 + 2 * page >= c)
      return size + 1;
  std::size_t next = size + 4099;
  for (std::size_t c : classes)
    if (c > 2 * page && c - 2 * page > size && c - 2 * page < next)
      next = c - 2 * page;
  return next;
}

class SizeClassSweep : public ::testing::TestWithParam<Variant> {};

TEST_P(SizeClassSweep, EverySizeMatchesTheModel) {
  const Variant& v = GetParam();
  const km::Config cfg = make_config(v);
  const SizeClassModel m(cfg);
  km::Heap heap;
  const km::Status st = heap.init(cfg);
  ASSERT_TRUE(st.ok) << st.message;
  const std::size_t page = m.page_size();
  const std::size_t end = m.max_cache_size() + 2 * page;
  const gfp_t gfps[] = {GFP_KERNEL, GFP_KERNEL | __GFP_DMA, GFP_KERNEL | __GFP_RECLAIMABLE};
  std::string errors;
  unsigned nerrors = 0;
  auto error = [&](const std::string& e) {
    if (++nerrors <= 20)
      errors += "  " + e + "\n";
  };
  // One pass over the sizes. The model's class comes from a cursor over its ascending list (the
  // same first-fit scan as class_size(), amortised); its index and roundup are asked once per
  // class (they are constant on a class) and per size past KMALLOC_MAX_CACHE_SIZE.
  const std::vector<std::size_t>& classes = m.cache_sizes();
  std::size_t cursor = 0;
  std::size_t prev_class = 0;
  int want_index = 0;
  std::size_t want_roundup = 0;
  const kmem_cache* prev_cache[3] = {};
  std::set<const kmem_cache*> seen[3];
  // Every size up to `end` (about 8 s for all variants in the dev build). KMALLOC_SWEEP_FULL=0
  // limits the dense part to kFullSweepLimit, and past it takes every size within 2 pages of
  // each class boundary and a prime stride in between.
  const char* full_env = std::getenv("KMALLOC_SWEEP_FULL");
  const bool full = full_env == nullptr || std::strcmp(full_env, "0") != 0;
  const std::size_t dense = full ? end : std::min(end, kFullSweepLimit);
  for (std::size_t size = 0; size <= end; size = next_size(size, dense, classes, page)) {
    while (cursor < classes.size() && classes[cursor] < size)
      ++cursor;
    const std::size_t cls = size == 0 || cursor == classes.size() ? 0 : classes[cursor];
    const bool class_changed = cls != prev_class;
    if (class_changed || cls == 0) {
      want_index = m.kmalloc_index(size);
      want_roundup = m.kmalloc_size_roundup(size);
      if (cls != 0 && m.class_size(size) != cls)
        error("model: class_size(" + std::to_string(size) + ") differs from its list");
    }
    const int idx = heap.kmalloc_index(size);
    if (idx != want_index)
      error("kmalloc_index(" + std::to_string(size) + ") = " + std::to_string(idx) + ", model " +
            std::to_string(want_index));
    const std::size_t ru = heap.kmalloc_size_roundup(size);
    if (ru != want_roundup)
      error("kmalloc_size_roundup(" + std::to_string(size) + ") = " + std::to_string(ru) +
            ", model " + std::to_string(want_roundup));
    for (unsigned t = 0; t < 3; ++t) {
      const gfp_t gfp = gfps[t];
      const kmem_cache* c = heap.kmalloc_cache(size, gfp);
      if ((c == nullptr) != (cls == 0)) {
        error("kmalloc_cache(" + std::to_string(size) + ", " + std::to_string(gfp) + ") is " +
              (c == nullptr ? "NULL" : heap.cache_info(c).name) + ", model class " +
              std::to_string(cls));
        continue;
      }
      // The cache must change exactly where the model's class changes; the name is compared
      // at each change (so every size is covered without a name lookup per size).
      if ((c != prev_cache[t]) != class_changed)
        error("size " + std::to_string(size) + ": the heap's cache " +
              (c != prev_cache[t] ? "changes" : "does not change") + " but the model's class " +
              (class_changed ? "changes" : "does not"));
      if (c != nullptr && c != prev_cache[t]) {
        const km::CacheInfo ci = heap.cache_info(c);
        const std::string want = m.cache_name(m.cache_type(gfp), cls);
        if (want != ci.name || ci.object_size != cls)
          error("size " + std::to_string(size) + ": cache " + ci.name + " (object_size " +
                std::to_string(ci.object_size) + "), model " + want);
        if (!seen[t].insert(c).second)
          error("size " + std::to_string(size) + ": cache " + ci.name + " seen before");
      }
      prev_cache[t] = c;
    }
    prev_class = cls;
  }
  // kmalloc_index past the limit and the very large sizes.
  for (std::size_t size : {std::size_t{2} << 20, (std::size_t{2} << 20) + 1, std::size_t{64} << 20,
                           (std::size_t{64} << 20) + 1, std::size_t{1} << 40}) {
    if (heap.kmalloc_index(size) != m.kmalloc_index(size))
      error("kmalloc_index(" + std::to_string(size) +
            ") = " + std::to_string(heap.kmalloc_index(size)) + ", model " +
            std::to_string(m.kmalloc_index(size)));
    if (heap.kmalloc_size_roundup(size) != m.kmalloc_size_roundup(size))
      error("kmalloc_size_roundup(" + std::to_string(size) + ") differs");
  }
  EXPECT_EQ(nerrors, 0u) << v.name << ": " << m.describe() << "\n" << errors;
}

std::vector<std::size_t> sample_sizes(const SizeClassModel& m) {
  std::set<std::size_t> s;
  for (std::size_t i = 0; i <= 1024; ++i)
    s.insert(i);
  const std::size_t page = m.page_size();
  const std::size_t top = m.max_size() + 2 * page;
  for (std::size_t p = 1; p <= top; p *= 2)
    for (std::size_t d : {p - 1, p, p + 1})
      s.insert(d);
  for (std::size_t c : {95, 96, 97, 191, 192, 193})
    s.insert(c);
  for (std::size_t k = 1; k <= 6; ++k)
    for (std::size_t d : {k * page - 1, k * page, k * page + 1})
      s.insert(m.max_cache_size() + d);
  s.insert(m.max_size() - 1);
  s.insert(m.max_size());
  s.insert(m.max_size() + 1);
  return {s.begin(), s.end()};
}

TEST_P(SizeClassSweep, SampledAllocationsMatchTheModel) {
  const Variant& v = GetParam();
  const km::Config cfg = make_config(v);
  const SizeClassModel m(cfg);
  km::Heap heap;
  const km::Status st = heap.init(cfg);
  ASSERT_TRUE(st.ok) << st.message;
  Recorder rec;
  heap.set_report_handler(&Recorder::handle, &rec);
  std::string errors;
  unsigned nerrors = 0;
  auto error = [&](const std::string& e) {
    if (++nerrors <= 20)
      errors += "  " + e + "\n";
  };
  for (std::size_t size : sample_sizes(m)) {
    for (gfp_t gfp : {GFP_KERNEL, GFP_KERNEL | __GFP_NOWARN, GFP_KERNEL | __GFP_DMA}) {
      // The DMA zone is 16 MiB: only the small sizes there.
      if ((gfp & __GFP_DMA) != 0 && size > 4096)
        continue;
      if ((gfp & __GFP_NOWARN) != 0 && size <= m.max_size())
        continue;
      const Prediction p = m.predict(size, gfp);
      rec.reports.clear();
      void* obj = heap.kmalloc(size, gfp);
      const auto addr = reinterpret_cast<std::uintptr_t>(obj);
      const std::string what = "kmalloc(" + std::to_string(size) + ", " +
                               ((gfp & __GFP_DMA) ? "DMA" : "") + ") = " + std::to_string(addr);
      const std::size_t nreports = p.warn ? 1 : 0;
      if (rec.reports.size() != nreports ||
          (nreports == 1 && rec.reports[0].kind != km::ErrorKind::SizeTooLarge))
        error(what + ": " + std::to_string(rec.reports.size()) + " reports, expected " +
              std::to_string(nreports));
      switch (p.path) {
      case Path::Zero:
        if (addr != 16)
          error(what + ": expected ZERO_SIZE_PTR");
        break;
      case Path::TooLarge:
      case Path::InvalidGfp:
        if (obj != nullptr)
          error(what + ": expected NULL");
        break;
      case Path::Slab:
      case Path::Large: {
        if (obj == nullptr) {
          error(what + ": NULL");
          break;
        }
        if (heap.ksize(obj) != p.ksize)
          error(what + ": ksize " + std::to_string(heap.ksize(obj)) + ", model " +
                std::to_string(p.ksize));
        if (addr % p.align != 0)
          error(what + ": not aligned to " + std::to_string(p.align));
        const km::PageInfo pi = heap.page_info(obj);
        if (p.path == Path::Slab) {
          if (pi.owner != km::PageOwner::Slab || pi.cache == nullptr ||
              heap.cache_info(pi.cache).name != p.cache_name)
            error(what + ": page owner " + km::page_owner_name(pi.owner) + " cache " +
                  (pi.cache != nullptr ? heap.cache_info(pi.cache).name : "-") + ", model " +
                  p.cache_name);
        } else if (pi.owner != km::PageOwner::LargeKmalloc || pi.block != addr ||
                   pi.order != p.order) {
          error(what + ": page owner " + km::page_owner_name(pi.owner) + " order " +
                std::to_string(pi.order) + ", model large order " + std::to_string(p.order));
        }
        if ((gfp & __GFP_DMA) != 0 && pi.zone != 0)
          error(what + ": not in ZONE_DMA");
        break;
      }
      }
      heap.kfree(obj);
      if (!rec.reports.empty() && p.path != Path::TooLarge)
        error(what + ": kfree reported");
    }
  }
  EXPECT_EQ(heap.validate(), 0u);
  EXPECT_EQ(heap.page_counts().large_kmalloc, 0u);
  EXPECT_EQ(nerrors, 0u) << v.name << ": " << m.describe() << "\n" << errors;
}

std::string variant_name(const ::testing::TestParamInfo<Variant>& info) {
  return info.param.name;
}

INSTANTIATE_TEST_SUITE_P(Profiles, SizeClassSweep, ::testing::ValuesIn(kVariants), variant_name);

// The seed: "kmalloc(30, GFP_KERNEL) comes from the slab descriptor named kmalloc-32".
TEST(SizeClassSeed, Kmalloc30ComesFromKmalloc32InBothProfiles) {
  for (km::Profile profile : {km::Profile::Linux6, km::Profile::Linux4Slab}) {
    km::Config cfg;
    cfg.profile = profile;
    cfg.arena_size = std::size_t{64} << 20;
    cfg.random_seed = 3;
    km::Heap heap;
    const km::Status st = heap.init(cfg);
    ASSERT_TRUE(st.ok) << st.message;
    const SizeClassModel m(cfg);
    EXPECT_EQ(m.predict(30, GFP_KERNEL).cache_name, "kmalloc-32");
    EXPECT_EQ(heap.kmalloc_index(30), 5);
    void* p = heap.kmalloc(30, GFP_KERNEL);
    ASSERT_NE(p, nullptr);
    const km::PageInfo pi = heap.page_info(p);
    ASSERT_EQ(pi.owner, km::PageOwner::Slab);
    EXPECT_STREQ(heap.cache_info(pi.cache).name, "kmalloc-32") << km::profile_name(profile);
    EXPECT_EQ(heap.ksize(p), 32u);
    heap.kfree(p);
  }
}

} // namespace
