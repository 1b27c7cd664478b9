// tests/shim_options_test.cpp - the malloc shim's KMALLOC_OPTIONS (allocator/shim/shim_options.h),
// parsed in-process: the defaults, nr_cpus=auto's slots for threads, and errors that name the key.
// Assumes: shim_options.cpp is compiled into this binary (tests/CMakeLists.txt); the machine's
// CPU counts come from the model's own reading of sysfs (model/cpu_spec.h), not the allocator's.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>

#include "allocator/shim/shim_options.h"
#include "kmalloc/heap.h"
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

std::string parse_error(const std::string& text) {
  km::shim::ShimOptions out{};
  char error[256] = {};
  EXPECT_FALSE(km::shim::parse_shim_options(text.c_str(), out, error, sizeof error)) << text;
  return error;
}

// stats=FILE and release=SIZE|off are the shim's own keys; the rest goes to the core's parser,
// still comma-separated, whatever order the keys come in.
TEST(ShimOptions, ItsOwnKeysAreTakenOutAndTheRestIsTheCoresOptions) {
  const km::shim::ShimOptions o = parse_ok("nr_cpus=2,stats=/tmp/s-%p.txt,release=off,hardened=0");
  EXPECT_STREQ(o.stats_path, "/tmp/s-%p.txt");
  EXPECT_EQ(o.release_keep, km::Heap::kNeverRelease);
  EXPECT_EQ(o.heap.nr_cpus, 2u);
  EXPECT_FALSE(o.heap.freelist_hardened);
  const km::shim::ShimOptions d = parse_ok(",,");
  EXPECT_STREQ(d.stats_path, "");
  EXPECT_EQ(d.release_keep, std::size_t{8} << 20); // the documented default, 8M
}

TEST(ShimOptions, ReleaseTakesBytesOrAKMOrGSuffix) {
  EXPECT_EQ(parse_ok("release=0").release_keep, 0u);
  EXPECT_EQ(parse_ok("release=4096").release_keep, 4096u);
  EXPECT_EQ(parse_ok("release=64K").release_keep, std::size_t{64} << 10);
  EXPECT_EQ(parse_ok("release=16M").release_keep, std::size_t{16} << 20);
  EXPECT_EQ(parse_ok("release=2G").release_keep, std::size_t{2} << 30);
  for (const char* bad : {"release=", "release=M", "release=12T", "release=12MB", "release=-1",
                          "release=99999999999999999999", "release=17179869184G", "release=of"})
    EXPECT_NE(parse_error(bad).find("release"), std::string::npos) << bad;
}

// A config every key of which parses but whose keys disagree is refused, naming one of them.
TEST(ShimOptions, KeysThatDisagreeAreRefusedByName) {
  EXPECT_NE(parse_error("slub_min_order=4,slub_max_order=3").find("slub_min_order"),
            std::string::npos);
}

TEST(ShimOptions, TooLongValuesAreRefusedByName) {
  EXPECT_NE(parse_error("stats=/" + std::string(300, 'x')).find("stats"), std::string::npos);
  std::string many;
  for (int i = 0; i < 120; ++i)
    many += "hardened=1,";
  EXPECT_NE(parse_error(many).find("options"), std::string::npos);
}

// Each arena is a power of two, at least 1 MiB and at least twice the largest block.
TEST(ShimOptions, ArenasArePowersOfTwoThatHoldTheLargestBlock) {
  const km::shim::ShimOptions small = parse_ok("arena=1");
  EXPECT_EQ(small.heap.arena_size, std::size_t{1} << small.arena_shift);
  EXPECT_GE(small.heap.arena_size,
            std::size_t{2} << (small.heap.page_shift + small.heap.max_order));
  EXPECT_GE(small.arena_shift, 20u);
  const km::shim::ShimOptions odd = parse_ok("arena=100000000");
  EXPECT_EQ(odd.arena_shift, 27u); // 100,000,000 rounds up to 128 MiB
  EXPECT_EQ(odd.heap.arena_size, std::size_t{1} << 27);
  const km::shim::ShimOptions tiny_blocks = parse_ok("max_order=1,arena=1");
  EXPECT_EQ(tiny_blocks.arena_shift, 20u); // 2 x 8 KiB is below the 1 MiB floor
  const km::shim::ShimOptions big_pages = parse_ok("page_shift=16,arena=1");
  EXPECT_EQ(big_pages.arena_shift, 27u); // 2 x (64 KiB << 10) = 128 MiB
}

} // namespace
