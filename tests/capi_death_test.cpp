// capi_death_test.cpp - the C functions of kmalloc/kmalloc.h where the process-global default
// heap matters: kmalloc_init(), the KMALLOC_OPTIONS environment variable, the built-in default
// "profile=linux-6", and the default report handler (misuse aborts, warnings print and return).
//
// The default heap exists once per process, so every test runs its body in a fresh process:
// EXPECT_EXIT in the "threadsafe" style re-executes the binary, and the child exits 0 when all
// its checks pass (CHILD_CHECK prints the failed condition on stderr and exits 1 otherwise).
// The rest of the contract is checked on Heap objects in kmalloc_contract_test.cpp and end to
// end from C in c_api_test.c / c_api_linux4_test.c.
#include "kmalloc/kmalloc.h"

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include <gtest/gtest.h>

#include "child_check.h"

namespace {

constexpr int kEinval = -22;
constexpr int kEbusy = -16;

class KmallocContractDeathTest : public testing::Test {
protected:
  void SetUp() override { GTEST_FLAG_SET(death_test_style, "threadsafe"); }
};

std::string buddyinfo() {
  const std::size_t n = kmalloc_buddyinfo(nullptr, 0);
  std::string s(n + 1, '\0');
  kmalloc_buddyinfo(s.data(), s.size());
  s.resize(n);
  return s;
}

std::string slabinfo() {
  const std::size_t n = kmalloc_slabinfo(nullptr, 0);
  std::string s(n + 1, '\0');
  kmalloc_slabinfo(s.data(), s.size());
  s.resize(n);
  return s;
}

// nr_free[order] of a zone's /proc/buddyinfo line; -1 if the zone or order is missing.
long buddy_count(const std::string& info, const char* zone, unsigned order) {
  const std::string key = std::string("zone ") + std::string(8 - std::strlen(zone), ' ') + zone;
  const std::size_t at = info.find(key);
  if (at == std::string::npos)
    return -1;
  const char* p = info.c_str() + at + key.size();
  for (unsigned o = 0;; ++o) {
    char* end = nullptr;
    const long v = std::strtol(p, &end, 10);
    if (end == p)
      return -1;
    if (o == order)
      return v;
    p = end;
  }
}

// Free pages of a zone's /proc/buddyinfo line: sum of nr_free[o] << o.
long zone_free_pages(const std::string& info, const char* zone) {
  long pages = 0;
  for (unsigned o = 0; buddy_count(info, zone, o) >= 0; ++o)
    pages += buddy_count(info, zone, o) << o;
  return pages;
}

// What the built-in default promises: profile=linux-6 (kmalloc-8, 96, rcl and dma caches),
// 4 KiB pages, MAX_ORDER 10, an arena of `arena_pages` pages whose ZONE_DMA is min(16 MiB, a
// quarter of the arena) after the metadata, and whose Normal zone holds the rest but the
// metadata (under 1/32 of the arena, plus 2 pages per cpu slot: nr_cpus=auto is the machine's
// count, and each cpu has a cpu slab of every cache descriptor), in order-10 blocks but for its
// first, unaligned, part. Call before anything is allocated.
void check_linux6_defaults(long arena_pages) {
  const std::string info = buddyinfo();
  const long dma = arena_pages / 4 < 4096 ? arena_pages / 4 : 4096;
  CHILD_CHECK(zone_free_pages(info, "DMA") == dma);
  CHILD_CHECK(buddy_count(info, "Normal", 11) == -1); // MAX_ORDER 10
  const long normal = zone_free_pages(info, "Normal");
  struct kmalloc_stats st = {};
  st.size = sizeof st;
  CHILD_CHECK(kmalloc_stats(&st) == 0 && st.nr_cpus >= 1);
  const long per_cpu = 2 * static_cast<long>(st.nr_cpus);
  CHILD_CHECK(normal < arena_pages - dma &&
              normal > arena_pages - dma - arena_pages / 32 - per_cpu);
  CHILD_CHECK(buddy_count(info, "Normal", 10) >= (normal - 1023) / 1024);
  void* p = kmalloc(1, GFP_KERNEL);
  CHILD_CHECK(p != nullptr && ksize(p) == 8);
  kfree(p);
  CHILD_CHECK(kmalloc_index(96) == 1 && kmalloc_index(2u << 20) == 21);
  CHILD_CHECK(get_order(4096) == 0 && get_order(4097) == 1);
  const std::string slabs = slabinfo();
  CHILD_CHECK(slabs.find("\nkmalloc-rcl-8k ") != std::string::npos);
  CHILD_CHECK(slabs.find("\ndma-kmalloc-96 ") != std::string::npos);
}

// ---- kmalloc_init

// "@options: ... NULL means the defaults."
TEST_F(KmallocContractDeathTest, KmallocInit_NullMeansDefaults) {
  EXPECT_EXIT(
      {
        CHILD_CHECK(kmalloc_init(nullptr) == 0);
        check_linux6_defaults(16384);
        child_passed();
      },
      testing::ExitedWithCode(0), "^$");
}

// "@options: "key=value,..."": applied over the defaults (profile=linux-6).
TEST_F(KmallocContractDeathTest, KmallocInit_OptionsApplyOverTheDefaults) {
  EXPECT_EXIT(
      {
        CHILD_CHECK(kmalloc_init("arena=32M,seed=7") == 0);
        check_linux6_defaults(8192); // a 32 MiB arena: 8 MiB of DMA, the rest Normal
        child_passed();
      },
      testing::ExitedWithCode(0), "^$");
}

// "Return: 0 on success; ... -EBUSY (-16) if the default heap already exists."
TEST_F(KmallocContractDeathTest, KmallocInit_SecondCallIsEbusy) {
  EXPECT_EXIT(
      {
        CHILD_CHECK(kmalloc_init("profile=linux-6,seed=1") == 0);
        CHILD_CHECK(kmalloc_init("profile=linux-4-slab") == kEbusy);
        CHILD_CHECK(kmalloc_init(nullptr) == kEbusy);
        CHILD_CHECK(kmalloc_init("bogus=1") == kEbusy);
        void* p = kmalloc(8, GFP_KERNEL);
        CHILD_CHECK(ksize(p) == 8); // still the first heap
        kfree(p);
        child_passed();
      },
      testing::ExitedWithCode(0), "^$");
}

// "Must come before any other call.": any call builds the default heap, after which
// kmalloc_init is too late.
TEST_F(KmallocContractDeathTest, KmallocInit_AfterFirstUseIsEbusy) {
  EXPECT_EXIT(
      {
        CHILD_CHECK(kmalloc_index(8) == 3); // builds the default heap
        CHILD_CHECK(kmalloc_init("profile=linux-4-slab") == kEbusy);
        CHILD_CHECK(kmalloc_index(8) == 3);
        child_passed();
      },
      testing::ExitedWithCode(0), "^$");
  EXPECT_EXIT(
      {
        kfree(nullptr);
        CHILD_CHECK(kmalloc_init(nullptr) == kEbusy);
        child_passed();
      },
      testing::ExitedWithCode(0), "^$");
}

// "On a bad key or value nothing is built and a message naming it is printed.
// Return: ... -EINVAL (-22) for a bad option"
TEST_F(KmallocContractDeathTest, KmallocInit_BadKeyIsEinvalAndNamesIt) {
  EXPECT_EXIT(
      {
        CHILD_CHECK(kmalloc_init("profile=linux-6,bogus_key=1") == kEinval);
        // Nothing was built: a later kmalloc_init still decides the heap.
        CHILD_CHECK(kmalloc_init("profile=linux-4-slab") == 0);
        void* p = kmalloc(8, GFP_KERNEL);
        CHILD_CHECK(ksize(p) == 32);
        kfree(p);
        child_passed();
      },
      testing::ExitedWithCode(0), "^kmalloc_init: options: unknown key 'bogus_key'\n$");
}

TEST_F(KmallocContractDeathTest, KmallocInit_BadValueIsEinvalAndNamesIt) {
  EXPECT_EXIT(
      {
        CHILD_CHECK(kmalloc_init("arena=12Q") == kEinval);
        child_passed();
      },
      testing::ExitedWithCode(0), "^kmalloc_init: arena: bad size '12Q'");
  EXPECT_EXIT(
      {
        CHILD_CHECK(kmalloc_init("profile=linux-5") == kEinval);
        child_passed();
      },
      testing::ExitedWithCode(0), "^kmalloc_init: profile: unknown value 'linux-5'");
  EXPECT_EXIT(
      {
        CHILD_CHECK(kmalloc_init("max_order=ten") == kEinval);
        child_passed();
      },
      testing::ExitedWithCode(0), "^kmalloc_init: max_order: bad value 'ten'");
  EXPECT_EXIT(
      {
        CHILD_CHECK(kmalloc_init("arena32M") == kEinval);
        child_passed();
      },
      testing::ExitedWithCode(0), "^kmalloc_init: options: 'arena32M' is not key=value");
}

// "Return: ... -EINVAL (-22) for a bad ... config": Config validation, naming the field.
TEST_F(KmallocContractDeathTest, KmallocInit_BadConfigIsEinvalAndNamesIt) {
  EXPECT_EXIT(
      {
        CHILD_CHECK(kmalloc_init("min_size=48") == kEinval);
        child_passed();
      },
      testing::ExitedWithCode(0),
      "^kmalloc_init: min_size \\(Config::kmalloc_min_size\\): must be a power of two");
  EXPECT_EXIT(
      {
        CHILD_CHECK(kmalloc_init("profile=linux-4-slab,min_size=16") == kEinval);
        child_passed();
      },
      testing::ExitedWithCode(0),
      "^kmalloc_init: min_size \\(Config::kmalloc_min_size\\): must be at least 32 for "
      "linux-4-slab");
  EXPECT_EXIT(
      {
        CHILD_CHECK(kmalloc_init("max_order=0") == kEinval);
        CHILD_CHECK(kmalloc_init("arena=5000") == kEinval);
        CHILD_CHECK(kmalloc_init(nullptr) == 0); // nothing was built by the failures
        child_passed();
      },
      testing::ExitedWithCode(0),
      "^kmalloc_init: max_order: must be at least 1 for linux-6.*\n"
      "kmalloc_init: arena \\(Config::arena_size\\): must be a multiple of the page size");
}

// "The default heap is built on first use from the options given to kmalloc_init(), else from
// the environment variable KMALLOC_OPTIONS, else "profile=linux-6"."
TEST_F(KmallocContractDeathTest, KmallocInit_OptionsWinOverTheEnvironment) {
  EXPECT_EXIT(
      {
        setenv("KMALLOC_OPTIONS", "profile=linux-4-slab", 1);
        CHILD_CHECK(kmalloc_init("seed=1") == 0);
        check_linux6_defaults(16384);
        child_passed();
      },
      testing::ExitedWithCode(0), "^$");
}

TEST_F(KmallocContractDeathTest, DefaultHeap_BuiltFromTheEnvironmentOnFirstUse) {
  EXPECT_EXIT(
      {
        setenv("KMALLOC_OPTIONS", "profile=linux-4-slab,arena=32M", 1);
        CHILD_CHECK(zone_free_pages(buddyinfo(), "DMA") == 2048); // 32 MiB / 4 // builds the heap
        void* p = kmalloc(8, GFP_KERNEL);
        CHILD_CHECK(ksize(p) == 32);
        kfree(p);
        CHILD_CHECK(kmalloc_index(64u << 20) == 26);
        CHILD_CHECK(kmalloc_init(nullptr) == kEbusy);
        child_passed();
      },
      testing::ExitedWithCode(0), "^$");
}

TEST_F(KmallocContractDeathTest, DefaultHeap_DefaultsToLinux6) {
  EXPECT_EXIT(
      {
        unsetenv("KMALLOC_OPTIONS");
        check_linux6_defaults(16384);
        child_passed();
      },
      testing::ExitedWithCode(0), "^$");
}

// A bad KMALLOC_OPTIONS cannot be returned to anyone: the message names the key, then abort.
TEST_F(KmallocContractDeathTest, DefaultHeap_BadEnvironmentAbortsNamingTheKey) {
  EXPECT_EXIT(
      {
        setenv("KMALLOC_OPTIONS", "profile=linux-6,bogus_env=1", 1);
        kmalloc(8, GFP_KERNEL);
      },
      testing::KilledBySignal(SIGABRT), "unknown key 'bogus_env'");
  EXPECT_EXIT(
      {
        setenv("KMALLOC_OPTIONS", "min_size=48", 1);
        kmalloc(8, GFP_KERNEL);
      },
      testing::KilledBySignal(SIGABRT),
      "min_size \\(Config::kmalloc_min_size\\): must be a power of two");
}

// ---- the default report handler: "Misuse is reported on stderr and aborts, as a kernel BUG
// would."; warnings are printed and the call returns.

TEST_F(KmallocContractDeathTest, Misuse_ReportedOnStderrAndAborts) {
  EXPECT_EXIT(
      {
        auto* p = static_cast<char*>(kmalloc(64, GFP_KERNEL));
        kfree(p + 8);
      },
      testing::KilledBySignal(SIGABRT),
      "^kmalloc: BUG kfree: Invalid object pointer 0x[0-9a-f]+ \\(not at an object boundary\\)\n$");
  EXPECT_EXIT(
      {
        struct kmem_cache* c = kmem_cache_create("capi_double", 64, 0, 0, nullptr);
        void* o = kmem_cache_alloc(c, GFP_KERNEL);
        kmem_cache_free(c, o);
        kmem_cache_free(c, o);
      },
      testing::KilledBySignal(SIGABRT), "Object already free");
  EXPECT_EXIT(
      {
        struct page* pg = alloc_pages(GFP_KERNEL, 2);
        __free_pages(pg, 1);
      },
      testing::KilledBySignal(SIGABRT), "Bad page order");
  EXPECT_EXIT(
      {
        int on_stack = 0;
        kfree(&on_stack);
      },
      testing::KilledBySignal(SIGABRT), "Invalid object pointer .*outside the heap");
}

TEST_F(KmallocContractDeathTest, Warnings_PrintedAndTheCallReturns) {
  EXPECT_EXIT(
      {
        CHILD_CHECK(kmalloc((4u << 20) + 1, GFP_KERNEL) == nullptr);
        child_passed();
      },
      testing::ExitedWithCode(0),
      "^kmalloc: WARNING: kmalloc\\(4194305\\) is larger than KMALLOC_MAX_SIZE 4194304");
  EXPECT_EXIT(
      {
        CHILD_CHECK(alloc_pages(GFP_KERNEL, 11) == nullptr);
        child_passed();
      },
      testing::ExitedWithCode(0), "^kmalloc: WARNING: alloc_pages: order 11 > MAX_ORDER 10");
  EXPECT_EXIT(
      {
        CHILD_CHECK(kmem_cache_create("capi_bad", 40, 3, 0, nullptr) == nullptr);
        child_passed();
      },
      testing::ExitedWithCode(0), "^kmalloc: WARNING: kmem_cache_create\\(capi_bad\\) failed");
  EXPECT_EXIT(
      {
        struct kmem_cache* c = kmem_cache_create("capi_busy", 64, 0, 0, nullptr);
        void* o = kmem_cache_alloc(c, GFP_KERNEL);
        kmem_cache_destroy(c); // reported and kept
        void* o2 = kmem_cache_alloc(c, GFP_KERNEL);
        CHILD_CHECK(o2 != nullptr);
        kmem_cache_free(c, o2);
        kmem_cache_free(c, o);
        kmem_cache_destroy(c);
        CHILD_CHECK(slabinfo().find("capi_busy") == std::string::npos);
        child_passed();
      },
      testing::ExitedWithCode(0),
      "^kmalloc: WARNING: kmem_cache_destroy capi_busy: Slab cache still has objects");
}

// "(with a warning unless __GFP_NOWARN)": then nothing at all is printed.
TEST_F(KmallocContractDeathTest, Warnings_SilencedByNowarn) {
  EXPECT_EXIT(
      {
        CHILD_CHECK(kmalloc((4u << 20) + 1, GFP_KERNEL | __GFP_NOWARN) == nullptr);
        CHILD_CHECK(kzalloc(~std::size_t{0}, GFP_KERNEL | __GFP_NOWARN) == nullptr);
        CHILD_CHECK(alloc_pages(GFP_KERNEL | __GFP_NOWARN, 11) == nullptr);
        CHILD_CHECK(__get_free_pages(GFP_KERNEL | __GFP_NOWARN, 12) == 0);
        CHILD_CHECK(kcalloc(~std::size_t{0} / 2, 4, GFP_KERNEL) == nullptr); // overflow: silent
        child_passed();
      },
      testing::ExitedWithCode(0), "^$");
}

} // namespace
