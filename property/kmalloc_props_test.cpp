// kmalloc_props_test.cpp - RapidCheck properties of the kmalloc front end on random profiles
// (linux-6 / linux-4-slab, 4/16/64 KiB pages, KMALLOC_MIN_SIZE default / 64 / 128, max_order):
//   * kmalloc_size_roundup is monotone, idempotent and >= size for 0 < size <= KMALLOC_MAX_SIZE,
//     and equals the size-class model's (model/size_class_model.h)
//   * kmalloc(2^k) is aligned to 2^k (natural alignment), large kmalloc to the page
//   * krealloc preserves the first min(old, new) bytes
//   * kzalloc and kcalloc memory reads zero over the requested bytes
//   * kcalloc / kmalloc_array / krealloc_array with n * size overflowing return NULL, silently,
//     and krealloc_array leaves the old object intact
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <ostream>
#include <vector>

#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include "kmalloc/config.h"
#include "kmalloc/heap.h"
#include "model/size_class_model.h"
#include "property_support.h"

namespace {

using km::model::front::SizeClassModel;

struct Profile {
  km::Profile profile = km::Profile::Linux6;
  unsigned page_shift = 12;
  unsigned min_size = 0;
  unsigned max_order = 10;
};

std::ostream& operator<<(std::ostream& os, const Profile& p) {
  return os << "Profile{" << km::profile_name(p.profile) << ", page_shift=" << p.page_shift
            << ", min_size=" << p.min_size << ", max_order=" << p.max_order << "}";
}

rc::Gen<Profile> gen_profile() {
  return rc::gen::exec([] {
    Profile p;
    p.profile = *rc::gen::element(km::Profile::Linux6, km::Profile::Linux4Slab);
    p.page_shift = *rc::gen::element(12u, 14u, 16u);
    p.min_size = *rc::gen::element(0u, 64u, 128u);
    // Small enough that every linux-4-slab cache fits a 32 MiB arena.
    const unsigned top = p.page_shift == 12 ? 10u : p.page_shift == 14 ? 8u : 6u;
    p.max_order = *rc::gen::inRange(1u, top + 1);
    return p;
  });
}

km::Config make_config(const Profile& p) {
  km::Config cfg;
  cfg.profile = p.profile;
  cfg.page_shift = p.page_shift;
  cfg.kmalloc_min_size = p.min_size;
  cfg.max_order = p.max_order;
  cfg.arena_size = std::size_t{32} << 20;
  cfg.dma_zone_size = 0;
  cfg.nr_cpus = 1;
  cfg.random_seed = 11;
  return cfg;
}

// A heap with a recording report handler.
struct Fixture {
  km::Heap heap;
  km::property::ReportLog log;
  explicit Fixture(const Profile& p) {
    const km::Status st = heap.init(make_config(p));
    RC_ASSERT(st.ok);
    log.install(heap);
  }
};

// RapidCheck cannot show a void*: assertions on pointers go through these.
bool nonnull(const void* p) {
  return p != nullptr;
}
bool is_null(const void* p) {
  return p == nullptr;
}

unsigned char pattern(std::size_t i) {
  return static_cast<unsigned char>(i * 37u + 11u);
}

RC_GTEST_PROP(KmallocProps, SizeRoundupIsMonotoneIdempotentAndCovers, ()) {
  const Profile p = *gen_profile();
  Fixture f(p);
  const SizeClassModel m(make_config(p));
  const std::size_t max = f.heap.kmalloc_limits().max_size;
  RC_ASSERT(max == m.max_size());
  const auto gen_size = rc::gen::oneOf(rc::gen::inRange<std::size_t>(1, 2049),
                                       rc::gen::inRange<std::size_t>(1, max + 1));
  std::vector<std::size_t> sizes = *rc::gen::container<std::vector<std::size_t>>(16, gen_size);
  std::sort(sizes.begin(), sizes.end());
  std::size_t prev = 0;
  for (std::size_t s : sizes) {
    const std::size_t r = f.heap.kmalloc_size_roundup(s);
    RC_ASSERT(r >= s);
    RC_ASSERT(r >= prev);
    RC_ASSERT(f.heap.kmalloc_size_roundup(r) == r);
    RC_ASSERT(r == m.kmalloc_size_roundup(s));
    prev = r;
  }
  RC_ASSERT(f.heap.kmalloc_size_roundup(0) == 0u);
  RC_ASSERT(f.log.empty());
}

RC_GTEST_PROP(KmallocProps, PowerOfTwoSizesAreNaturallyAligned, ()) {
  const Profile p = *gen_profile();
  Fixture f(p);
  const km::KmallocLimits l = f.heap.kmalloc_limits();
  const std::size_t page = std::size_t{1} << p.page_shift;
  // Slab classes of up to 256 KiB, and large blocks up to 1 MiB.
  unsigned top = 0;
  while ((std::size_t{2} << top) <= std::min<std::size_t>(l.max_size, std::size_t{1} << 20))
    ++top;
  const unsigned k = *rc::gen::inRange(0u, top + 1);
  const std::size_t size = std::size_t{1} << k;
  const unsigned count = *rc::gen::inRange(1u, 6u);
  std::vector<void*> objs;
  for (unsigned i = 0; i < count; ++i) {
    void* o = f.heap.kmalloc(size, GFP_KERNEL);
    RC_ASSERT(nonnull(o));
    const auto a = reinterpret_cast<std::uintptr_t>(o);
    RC_ASSERT(a % size == 0);
    RC_ASSERT(a % l.minalign == 0);
    if (size > l.max_cache_size)
      RC_ASSERT(a % page == 0);
    objs.push_back(o);
  }
  for (void* o : objs)
    f.heap.kfree(o);
  RC_ASSERT(f.log.empty());
  RC_ASSERT(f.heap.validate() == 0u);
}

RC_GTEST_PROP(KmallocProps, KreallocPreservesThePrefix, ()) {
  const Profile p = *gen_profile();
  Fixture f(p);
  const std::size_t cap = std::min(f.heap.kmalloc_limits().max_size, std::size_t{1} << 18);
  const auto gen_size = rc::gen::oneOf(rc::gen::inRange<std::size_t>(1, 513),
                                       rc::gen::inRange<std::size_t>(1, cap + 1));
  const std::size_t old_size = *gen_size;
  const std::size_t new_size = *gen_size;
  const bool zero = *rc::gen::arbitrary<bool>();
  auto* o = static_cast<unsigned char*>(f.heap.kmalloc(old_size, GFP_KERNEL));
  RC_ASSERT(nonnull(o));
  for (std::size_t i = 0; i < old_size; ++i)
    o[i] = pattern(i);
  const std::size_t ks = f.heap.ksize(o);
  auto* n = static_cast<unsigned char*>(
      f.heap.krealloc(o, new_size, GFP_KERNEL | (zero ? __GFP_ZERO : 0u)));
  RC_ASSERT(nonnull(n));
  const bool in_place = n == o;
  if (new_size <= ks)
    RC_ASSERT(in_place);
  const std::size_t keep = std::min(old_size, new_size);
  for (std::size_t i = 0; i < keep; ++i)
    RC_ASSERT(n[i] == pattern(i));
  f.heap.kfree(n);
  RC_ASSERT(f.log.empty());
  RC_ASSERT(f.heap.validate() == 0u);
}

RC_GTEST_PROP(KmallocProps, KzallocAndKcallocReadZero, ()) {
  const Profile p = *gen_profile();
  Fixture f(p);
  // Dirty some objects first, so zeroing is not just fresh pages.
  for (int round = 0; round < 2; ++round) {
    const std::size_t cap = std::min<std::size_t>(f.heap.kmalloc_limits().max_size, 20000);
    const std::size_t size = *rc::gen::inRange<std::size_t>(1, cap + 1);
    auto* d = static_cast<unsigned char*>(f.heap.kmalloc(size, GFP_KERNEL));
    RC_ASSERT(nonnull(d));
    for (std::size_t i = 0; i < size; ++i)
      d[i] = 0xa5;
    f.heap.kfree(d);
    auto* z = static_cast<unsigned char*>(f.heap.kzalloc(size, GFP_KERNEL));
    RC_ASSERT(nonnull(z));
    for (std::size_t i = 0; i < size; ++i)
      RC_ASSERT(z[i] == 0);
    f.heap.kfree(z);
    const std::size_t n = *rc::gen::inRange<std::size_t>(1, 64);
    const std::size_t each = *rc::gen::inRange<std::size_t>(1, 128);
    auto* c = static_cast<unsigned char*>(f.heap.kcalloc(n, each, GFP_KERNEL));
    RC_ASSERT(nonnull(c));
    for (std::size_t i = 0; i < n * each; ++i)
      RC_ASSERT(c[i] == 0);
    f.heap.kfree(c);
  }
  RC_ASSERT(f.log.empty());
}

RC_GTEST_PROP(KmallocProps, ArrayOverflowReturnsNull, ()) {
  const Profile p = *gen_profile();
  Fixture f(p);
  const std::size_t max = std::numeric_limits<std::size_t>::max();
  const std::size_t size = *rc::gen::inRange<std::size_t>(2, 1u << 20);
  const std::size_t n = max / size + *rc::gen::inRange<std::size_t>(1, 1000);
  const bool swap = *rc::gen::arbitrary<bool>();
  const std::size_t a = swap ? size : n;
  const std::size_t b = swap ? n : size;
  RC_ASSERT(is_null(f.heap.kcalloc(a, b, GFP_KERNEL)));
  RC_ASSERT(is_null(f.heap.kmalloc_array(a, b, GFP_KERNEL)));
  auto* o = static_cast<unsigned char*>(f.heap.kmalloc(64, GFP_KERNEL));
  RC_ASSERT(nonnull(o));
  for (std::size_t i = 0; i < 64; ++i)
    o[i] = pattern(i);
  RC_ASSERT(is_null(f.heap.krealloc_array(o, a, b, GFP_KERNEL)));
  for (std::size_t i = 0; i < 64; ++i)
    RC_ASSERT(o[i] == pattern(i));
  RC_ASSERT(f.heap.ksize(o) == f.heap.kmalloc_size_roundup(64));
  f.heap.kfree(o);
  RC_ASSERT(f.log.empty());
  RC_ASSERT(f.heap.validate() == 0u);
}

} // namespace
