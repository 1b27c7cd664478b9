// tests/shim_options_test.cpp - the malloc shim's KMALLOC_OPTIONS (allocator/shim/shim_options.h),
// parsed in-process: the defaults, nr_cpus=auto's slots for threads, and errors that name the key.
// Assumes: shim_options.cpp is compiled into this binary (tests/CMakeLists.txt); the machine's
// CPU counts come from the model's own reading of sysfs (model/cpu_spec.h), not the allocator's.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>

#include "allocator/shim/shim_options.h"
#include "model/cpu_spec.h"
#include "model/slab_layout_spec.h"

namespace {

km::shim::ShimOptions parse_ok(const char* text) {
  km::shim::ShimOptions out{};
  char error[256] = {};
  EXPECT_TRUE(km::shim::parse_shim_options(text, out, error, sizeof error)) << error;
  return out;
}

// Threads hold the shim's slots, so nr_cpus=auto gives 4 per possible CPU, at least 8; the
// slab layout stays the one the kernel computes for the machine's own count.
TEST(ShimOptions, AutoGivesFourSlotsPerCpuAndTheMachinesSlabOrders) {
  const km::shim::ShimOptions o = parse_ok(nullptr);
  const km::Config machine = km::model::resolve_cpus(km::Config{});
  const unsigned want = std::max(8u, std::min(4 * machine.nr_cpus, km::kMaxCpus));
  EXPECT_EQ(o.heap.nr_cpus, want);
  // Every kmalloc size class: the same order and objects per slab as a heap whose nr_cpus is
  // the machine's own count.
  km::Config kernel = o.heap;
  kernel.nr_cpus = machine.nr_cpus;
  kernel.slub_min_objects = machine.slub_min_objects;
  for (unsigned size : {8u, 96u, 192u, 256u, 1024u, 2048u, 4096u, 8192u}) {
    const auto shim = km::model::slab::calc_layout(o.heap, size, 0, 0, false);
    const auto real = km::model::slab::calc_layout(kernel, size, 0, 0, false);
    EXPECT_EQ(shim.order, real.order) << "kmalloc-" << size;
    EXPECT_EQ(shim.objects, real.objects) << "kmalloc-" << size;
  }
}

TEST(ShimOptions, AnExplicitNrCpusIsKept) {
  const km::shim::ShimOptions o = parse_ok("nr_cpus=3");
  EXPECT_EQ(o.heap.nr_cpus, 3u);
  EXPECT_EQ(o.heap.slub_min_objects, 0u);
}

TEST(ShimOptions, ABadKeyIsNamed) {
  km::shim::ShimOptions out{};
  char error[256] = {};
  EXPECT_FALSE(km::shim::parse_shim_options("nr_cpus=lots", out, error, sizeof error));
  EXPECT_NE(std::string(error).find("nr_cpus"), std::string::npos) << error;
  EXPECT_FALSE(km::shim::parse_shim_options("profile=none", out, error, sizeof error));
  EXPECT_NE(std::string(error).find("profile"), std::string::npos) << error;
}

} // namespace
