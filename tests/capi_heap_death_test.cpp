// capi_heap_death_test.cpp - the contract of the C API's heap-wide calls in kmalloc/kmalloc.h,
// one test per sentence of their kernel-doc: kmalloc_init_region(), kmalloc_set_report_handler()
// and struct kmalloc_report, kmalloc_validate(), kmalloc_stats() and struct kmalloc_stats.
//
// They act on the process-global default heap, so each test runs its body in a fresh process
// (EXPECT_EXIT in the "threadsafe" style re-executes the binary); the child exits 0 when all its
// checks pass (CHILD_CHECK prints the failed condition on stderr and exits 1). What needs no
// heap (the report kind names and the warning split) is in kmalloc_contract_test.cpp; misuse
// from C end to end is in c_api_report_test.c, a heap over a static buffer in
// c_api_region_test.c, and the default heap's lifetime in capi_exit_program.cpp.
#include "kmalloc/kmalloc.h"

#include <csignal>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

#include <gtest/gtest.h>

#include "child_check.h"

#include "heap_state.h"
#include "heap_test_support.h"
#include "platform/os.h"

namespace {

// The struct's name is hidden by the function's in C++.
using Stats = struct kmalloc_stats;

constexpr int kEinval = -22;
constexpr int kEbusy = -16;
constexpr std::size_t KiB = 1024;
constexpr std::size_t MiB = 1024 * 1024;

class KmallocContractHeapDeathTest : public testing::Test {
protected:
  void SetUp() override { GTEST_FLAG_SET(death_test_style, "threadsafe"); }
};

std::uintptr_t addr(const void* p) {
  return reinterpret_cast<std::uintptr_t>(p);
}

// ---- a recording handler (copies: the message is only valid during the call)

struct Seen {
  kmalloc_report_kind kind;
  std::uintptr_t addr;
  std::string message;
  std::string kind_name; // kmalloc_report_kind_name() called from inside the handler
  int warning;           // kmalloc_report_is_warning() called from inside the handler
};

struct Recording {
  std::vector<Seen> seen;
  void* arg_seen = nullptr;
};

void record(void* arg, const kmalloc_report* r) {
  auto* rec = static_cast<Recording*>(arg);
  rec->arg_seen = arg;
  rec->seen.push_back(Seen{r->kind, r->addr, r->message != nullptr ? r->message : "",
                           kmalloc_report_kind_name(r->kind), kmalloc_report_is_warning(r->kind)});
}

// Exactly one report since the last call, of `kind`; forgets it.
bool one_report(Recording& rec, kmalloc_report_kind kind) {
  const bool ok = rec.seen.size() == 1 && rec.seen[0].kind == kind;
  if (!ok) {
    std::fprintf(stderr, "expected one report of %s, got %zu:\n", kmalloc_report_kind_name(kind),
                 rec.seen.size());
    for (const Seen& s : rec.seen)
      std::fprintf(stderr, "  [%s] %s\n", s.kind_name.c_str(), s.message.c_str());
  }
  rec.seen.clear();
  return ok;
}

Stats stats() {
  Stats s;
  std::memset(&s, 0xee, sizeof s);
  s.size = sizeof s;
  CHILD_CHECK(kmalloc_stats(&s) == 0);
  CHILD_CHECK(s.size == sizeof s);
  return s;
}

bool same_stats(const Stats& a, const Stats& b) {
  return std::memcmp(&a, &b, sizeof a) == 0;
}

std::size_t allocated_objects(const Stats& s) {
  return s.slab_objects_total - s.slab_objects_free;
}

std::string text(std::size_t (*fn)(char*, std::size_t)) {
  const std::size_t n = fn(nullptr, 0);
  std::string s(n + 1, '\0');
  fn(s.data(), s.size());
  s.resize(n);
  return s;
}

// /proc/slabinfo summed over its cache lines.
struct SlabinfoSums {
  std::size_t lines = 0, active = 0, total = 0, pages = 0;
};

SlabinfoSums slabinfo_sums() {
  SlabinfoSums sums;
  const std::string info = text(kmalloc_slabinfo);
  std::size_t at = 0;
  for (int line = 0; at < info.size(); ++line) {
    std::size_t end = info.find('\n', at);
    if (end == std::string::npos)
      end = info.size();
    const std::string l = info.substr(at, end - at);
    at = end + 1;
    if (line < 2) // "slabinfo - version: 2.1" and the "# name ..." header
      continue;
    char name[80];
    unsigned long active = 0, total = 0, slabs = 0, slabs2 = 0;
    unsigned objsize = 0, perslab = 0, pagesper = 0, limit = 0, batch = 0, shared = 0;
    unsigned long avail = 0;
    CHILD_CHECK(std::sscanf(l.c_str(),
                            "%79s %lu %lu %u %u %u : tunables %u %u %u : slabdata %lu %lu %lu",
                            name, &active, &total, &objsize, &perslab, &pagesper, &limit, &batch,
                            &shared, &slabs, &slabs2, &avail) == 12);
    ++sums.lines;
    sums.active += active;
    sums.total += total;
    sums.pages += slabs * pagesper;
  }
  return sums;
}

// sum(nr_free[o] << o) over the zones of /proc/buddyinfo.
std::size_t buddyinfo_free_pages() {
  const std::string info = text(kmalloc_buddyinfo);
  std::size_t pages = 0;
  std::size_t at = 0;
  while ((at = info.find("zone", at)) != std::string::npos) {
    const char* p = info.c_str() + at + 4;
    while (*p == ' ')
      ++p;
    while (*p != ' ' && *p != '\0') // the zone name
      ++p;
    for (unsigned order = 0;; ++order) {
      char* end = nullptr;
      const unsigned long n = std::strtoul(p, &end, 10);
      if (end == p)
        break;
      pages += n << order;
      p = end;
    }
    at += 4;
  }
  return pages;
}

// ============================================================================================
// kmalloc_init

// "Must come before any other call, except kmalloc_set_report_handler(),
// kmalloc_report_kind_name() and kmalloc_report_is_warning(), which do not build the heap."
TEST_F(KmallocContractHeapDeathTest, KmallocInit_AfterTheReportCallsStillBuilds) {
  EXPECT_EXIT(
      {
        static Recording rec;
        kmalloc_set_report_handler(record, &rec);
        CHILD_CHECK(
            std::strcmp(kmalloc_report_kind_name(KMALLOC_REPORT_WRONG_CACHE), "WrongCache") == 0);
        CHILD_CHECK(kmalloc_report_is_warning(KMALLOC_REPORT_SIZE_TOO_LARGE) == 1);
        CHILD_CHECK(kmalloc_init("profile=linux-4-slab,seed=1") == 0);
        void* p = kmalloc(8, GFP_KERNEL);
        CHILD_CHECK(ksize(p) == 32); // the heap kmalloc_init asked for
        kfree(p);
        CHILD_CHECK(rec.seen.empty());
        child_passed();
      },
      testing::ExitedWithCode(0), "^$");
  EXPECT_EXIT(
      {
        Stats s;
        s.size = sizeof s;
        CHILD_CHECK(kmalloc_stats(&s) == 0); // uses, and so builds, the heap
        CHILD_CHECK(kmalloc_init(nullptr) == kEbusy);
        CHILD_CHECK(kmalloc_validate() == 0);
        child_passed();
      },
      testing::ExitedWithCode(0), "^$");
}

// ============================================================================================
// kmalloc_init_region

// "kmalloc_init_region - build the default heap over memory the caller owns, with no mmap."
// (the header's "kmalloc_init_region() builds it over memory the caller owns instead"): the heap
// spans the region; c_api_region_test.c shows no mmap is made.
TEST_F(KmallocContractHeapDeathTest, InitRegion_BuildsTheDefaultHeapOverTheRegion) {
  EXPECT_EXIT(
      {
        kmtest::AlignedRegion region(8 * MiB, 4 * MiB);
        CHILD_CHECK(kmalloc_init_region(region.get(), region.size(), "dma=1M,seed=1") == 0);
        const Stats s = stats();
        CHILD_CHECK(s.page_size == 4096);
        CHILD_CHECK(s.pages_total == 8 * MiB / 4096);
        void* p = kmalloc(100, GFP_KERNEL);
        CHILD_CHECK(addr(p) >= region.address() && addr(p) < region.address() + region.size());
        CHILD_CHECK(virt_to_page(region.get()) != nullptr); // the region is the arena
        kfree(p);
        child_passed();
      },
      testing::ExitedWithCode(0), "^$");
}

// "@base: the first byte of the region; it need not be aligned: the heap uses the whole pages
// inside [@base, @base + @bytes)."
TEST_F(KmallocContractHeapDeathTest, InitRegion_UnalignedBaseUsesTheWholePagesInside) {
  EXPECT_EXIT(
      {
        kmtest::AlignedRegion region(12 * MiB, 4 * MiB);
        auto* base = static_cast<unsigned char*>(region.get()) + 100;
        const std::size_t bytes = 10 * MiB + 5000; // pages 1 .. 2560 of the region
        CHILD_CHECK(kmalloc_init_region(base, bytes, "dma=1M,seed=1") == 0);
        CHILD_CHECK(stats().pages_total == 2560);
        CHILD_CHECK(virt_to_page(base) == nullptr); // the partial first page is not used
        CHILD_CHECK(virt_to_page(region.get()) == nullptr);
        CHILD_CHECK(virt_to_page(base - 100 + 4096) != nullptr);
        CHILD_CHECK(virt_to_page(base - 100 + 2561 * 4096 - 1) != nullptr);
        CHILD_CHECK(virt_to_page(base - 100 + 2561 * 4096) == nullptr); // the partial last page
        // Blocks are naturally aligned in the address space: the one order-10 block that fits
        // is the region's second 4 MiB.
        struct page* big = alloc_pages(GFP_KERNEL, 10);
        CHILD_CHECK(big != nullptr && addr(page_address(big)) % (4 * MiB) == 0);
        __free_pages(big, 10);
        CHILD_CHECK(kmalloc_validate() == 0);
        child_passed();
      },
      testing::ExitedWithCode(0), "^$");
}

// "@options: as kmalloc_init(), except that arena= is ignored: the heap spans the region."
TEST_F(KmallocContractHeapDeathTest, InitRegion_OptionsAsKmallocInitArenaIgnored) {
  EXPECT_EXIT(
      {
        kmtest::AlignedRegion region(4 * MiB, 4 * MiB);
        CHILD_CHECK(kmalloc_init_region(region.get(), region.size(),
                                        "profile=linux-4-slab,arena=1G,dma=0,seed=1") == 0);
        CHILD_CHECK(stats().pages_total == 1024);
        void* p = kmalloc(8, GFP_KERNEL);
        CHILD_CHECK(ksize(p) == 32); // linux-4-slab
        kfree(p);
        CHILD_CHECK(kmalloc_index(64 * MiB) == 26);
        CHILD_CHECK(text(kmalloc_buddyinfo).find("DMA") == std::string::npos); // dma=0
        child_passed();
      },
      testing::ExitedWithCode(0), "^$");
  EXPECT_EXIT(
      {
        kmtest::AlignedRegion region(4 * MiB, 4 * MiB);
        CHILD_CHECK(kmalloc_init_region(region.get(), region.size(), "dma=0,page_shift=14") == 0);
        CHILD_CHECK(stats().page_size == 16 * KiB && stats().pages_total == 256);
        child_passed();
      },
      testing::ExitedWithCode(0), "^$");
}

// "The heap's metadata and every page it hands out lie inside the region."
TEST_F(KmallocContractHeapDeathTest, InitRegion_MetadataAndEveryPageInsideTheRegion) {
  EXPECT_EXIT(
      {
        kmtest::AlignedRegion region(2 * MiB, 2 * MiB);
        const std::uintptr_t lo = region.address();
        const std::uintptr_t hi = lo + region.size();
        CHILD_CHECK(kmalloc_init_region(region.get(), region.size(), "dma=0,seed=1") == 0);
        const Stats s = stats();
        // The metadata pages start the region: the first page handed out follows them.
        std::uintptr_t lowest = hi;
        std::vector<struct page*> pages;
        while (struct page* pg = alloc_pages(GFP_KERNEL | __GFP_NOWARN, 0)) {
          const std::uintptr_t a = addr(page_address(pg));
          CHILD_CHECK(a >= lo && a + 4096 <= hi);
          CHILD_CHECK(addr(pg) >= lo && addr(pg) < lo + s.pages_metadata * 4096); // descriptor
          lowest = a < lowest ? a : lowest;
          pages.push_back(pg);
        }
        CHILD_CHECK(pages.size() == s.pages_free);
        CHILD_CHECK(lowest == lo + s.pages_metadata * 4096);
        for (struct page* pg : pages)
          __free_pages(pg, 0);
        // kmalloc, small and large, and kmem_cache objects too.
        struct kmem_cache* c = kmem_cache_create("region_obj", 200, 0, 0, nullptr);
        CHILD_CHECK(c != nullptr); // an opaque handle; its descriptor is in the metadata
        std::vector<void*> objs;
        objs.push_back(kmalloc(8, GFP_KERNEL));
        objs.push_back(kmalloc(3000, GFP_DMA)); // no ZONE_DMA: from Normal
        objs.push_back(kmalloc(100 * KiB, GFP_KERNEL));
        objs.push_back(kmem_cache_alloc(c, GFP_KERNEL));
        for (void* o : objs)
          CHILD_CHECK(o != nullptr && addr(o) >= lo + s.pages_metadata * 4096 && addr(o) < hi);
        child_passed();
      },
      testing::ExitedWithCode(0), "^$");
}

// "The default ZONE_DMA is a quarter of the region, at most 16 MiB (dma=0: no ZONE_DMA)."
// Issue 7, finding 6: a region of 16 MiB or less used to fail with the default options.
TEST_F(KmallocContractHeapDeathTest, InitRegion_DefaultDmaIsAQuarterOfTheRegion) {
  EXPECT_EXIT(
      {
        kmtest::AlignedRegion region(16 * MiB, 4 * MiB);
        CHILD_CHECK(kmalloc_init_region(region.get(), region.size(), "dma=16M") == kEinval);
        CHILD_CHECK(kmalloc_init_region(region.get(), region.size(), "seed=1") == 0);
        const std::string info = text(kmalloc_buddyinfo);
        CHILD_CHECK(info.find("zone   Normal") != std::string::npos);
        // ZONE_DMA holds 16 MiB / 4 = 1024 free pages: sum nr_free[o] << o on its line.
        const std::size_t at = info.find("zone      DMA");
        CHILD_CHECK(at != std::string::npos);
        std::istringstream line(info.substr(at + 13, info.find('\n', at) - at - 13));
        long pages = 0;
        long count = 0;
        for (unsigned order = 0; line >> count; ++order)
          pages += count << order;
        CHILD_CHECK(pages == 1024);
        child_passed();
      },
      testing::ExitedWithCode(0),
      "^kmalloc_init_region: dma \\(Config::dma_zone_size\\): must be smaller than arena.*\n$");
  EXPECT_EXIT(
      {
        kmtest::AlignedRegion region(32 * MiB, 4 * MiB);
        CHILD_CHECK(kmalloc_init_region(region.get(), region.size(), nullptr) == 0);
        child_passed();
      },
      testing::ExitedWithCode(0), "^$");
}

// "The region must stay valid, and be touched only through the heap, until the process ends.":
// what the caller promises. The heap's side of it, using the region until the process ends, is
// c_api_region_test.c's atexit handler.

// "Must come before any other call, as kmalloc_init()." / "Return: ... -EBUSY (-16) if the
// default heap already exists."
TEST_F(KmallocContractHeapDeathTest, InitRegion_AfterTheHeapExistsIsEbusy) {
  EXPECT_EXIT(
      {
        kmtest::AlignedRegion region(4 * MiB, 4 * MiB);
        kfree(nullptr); // builds the default heap (64 MiB, mapped)
        CHILD_CHECK(kmalloc_init_region(region.get(), region.size(), "dma=0") == kEbusy);
        CHILD_CHECK(stats().pages_total == 64 * MiB / 4096);
        child_passed();
      },
      testing::ExitedWithCode(0), "^$");
  EXPECT_EXIT(
      {
        kmtest::AlignedRegion region(4 * MiB, 4 * MiB);
        CHILD_CHECK(kmalloc_init("arena=32M,seed=1") == 0);
        CHILD_CHECK(kmalloc_init_region(region.get(), region.size(), "dma=0") == kEbusy);
        child_passed();
      },
      testing::ExitedWithCode(0), "^$");
  EXPECT_EXIT(
      {
        kmtest::AlignedRegion region(4 * MiB, 4 * MiB);
        CHILD_CHECK(kmalloc_init_region(region.get(), region.size(), "dma=0,seed=1") == 0);
        CHILD_CHECK(kmalloc_init_region(region.get(), region.size(), "dma=0") == kEbusy);
        CHILD_CHECK(kmalloc_init(nullptr) == kEbusy);
        CHILD_CHECK(stats().pages_total == 1024);
        child_passed();
      },
      testing::ExitedWithCode(0), "^$");
}

// "Return: 0 on success; -EINVAL (-22) for a bad option or config, a NULL @base, or a region too
// small for the metadata and one free page (nothing is built and a message naming the problem is
// printed)"
TEST_F(KmallocContractHeapDeathTest, InitRegion_BadOptionIsEinvalAndNamesIt) {
  EXPECT_EXIT(
      {
        kmtest::AlignedRegion region(4 * MiB, 4 * MiB);
        CHILD_CHECK(kmalloc_init_region(region.get(), region.size(), "dma=0,bogus=1") == kEinval);
        CHILD_CHECK(kmalloc_init_region(region.get(), region.size(), "dma=0,min_size=48") ==
                    kEinval);
        // Nothing was built: the next call decides.
        CHILD_CHECK(kmalloc_init_region(region.get(), region.size(), "dma=0,seed=1") == 0);
        CHILD_CHECK(stats().pages_total == 1024);
        child_passed();
      },
      testing::ExitedWithCode(0),
      "^kmalloc_init_region: options: unknown key 'bogus'\n"
      "kmalloc_init_region: min_size \\(Config::kmalloc_min_size\\): must be a power of two.*\n$");
}

TEST_F(KmallocContractHeapDeathTest, InitRegion_NullBaseIsEinval) {
  EXPECT_EXIT(
      {
        CHILD_CHECK(kmalloc_init_region(nullptr, 4 * MiB, "dma=0") == kEinval);
        CHILD_CHECK(kmalloc_init("arena=32M,seed=1") == 0); // nothing was built
        child_passed();
      },
      testing::ExitedWithCode(0), "^kmalloc_init_region: region: .*\n$");
}

TEST_F(KmallocContractHeapDeathTest, InitRegion_TooSmallRegionIsEinval) {
  EXPECT_EXIT(
      {
        kmtest::AlignedRegion region(4 * MiB, 4 * MiB);
        CHILD_CHECK(kmalloc_init_region(region.get(), 7 * 4096, "dma=0") == kEinval);
        CHILD_CHECK(kmalloc_init_region(region.get(), 0, "dma=0") == kEinval);
        // Nothing was built by the failures.
        CHILD_CHECK(kmalloc_init_region(region.get(), 4 * MiB, "dma=0,seed=1") == 0);
        child_passed();
      },
      testing::ExitedWithCode(0),
      "^kmalloc_init_region: region: 28672 bytes at 0x[0-9a-f]+ hold 7 whole pages; at least 8 "
      "are needed\n"
      "kmalloc_init_region: region: 0 bytes at 0x[0-9a-f]+ hold 0 whole pages; at least 8 are "
      "needed\n$");
  EXPECT_EXIT(
      {
        kmtest::AlignedRegion region(4 * MiB, 4 * MiB);
        // Enough whole pages for validation, not for the metadata of 64 cpus plus a free page.
        CHILD_CHECK(kmalloc_init_region(region.get(), 8 * 4096, "dma=0,nr_cpus=64") == kEinval);
        child_passed();
      },
      testing::ExitedWithCode(0),
      "^kmalloc_init_region: region: 8 pages leave no free page after [0-9]+ metadata pages");
}

// ============================================================================================
// kmalloc_set_report_handler, kmalloc_report_handler, struct kmalloc_report

// "With a handler installed, misuse is refused (nothing is freed, created or destroyed), the call
// returns after the report as it does after a warning, and the heap stays valid: the program goes
// on." (and the header's "Misuse ... aborts ..., unless a handler is installed")
TEST_F(KmallocContractHeapDeathTest, SetReportHandler_MisuseIsRefusedAndTheProgramGoesOn) {
  EXPECT_EXIT(
      {
        static Recording rec;
        CHILD_CHECK(kmalloc_init("arena=32M,seed=1") == 0);
        kmalloc_set_report_handler(record, &rec);
        struct kmem_cache* a = kmem_cache_create("misuse_a", 64, 0, 0, nullptr);
        struct kmem_cache* b = kmem_cache_create("misuse_b", 64, 0, 0, nullptr);
        auto* p = static_cast<char*>(kmalloc(64, GFP_KERNEL));
        void* o = kmem_cache_alloc(a, GFP_KERNEL);
        struct page* pg = alloc_pages(GFP_KERNEL, 2);
        CHILD_CHECK(a != nullptr && b != nullptr && p != nullptr && o != nullptr && pg != nullptr);
        const Stats before = stats();

        kfree(p + 8); // not an object start: not freed
        CHILD_CHECK(one_report(rec, KMALLOC_REPORT_INVALID_OBJECT_POINTER));
        kmem_cache_free(b, o); // another cache's object: not freed
        CHILD_CHECK(one_report(rec, KMALLOC_REPORT_WRONG_CACHE));
        __free_pages(pg, 1); // wrong order: not freed
        CHILD_CHECK(one_report(rec, KMALLOC_REPORT_PAGE_ORDER_MISMATCH));
        kmem_cache_destroy(a); // live objects: not destroyed
        CHILD_CHECK(one_report(rec, KMALLOC_REPORT_OBJECTS_REMAINING));
        CHILD_CHECK(kmem_cache_create("misuse_panic", 40, 3, SLAB_PANIC, nullptr) == nullptr);
        CHILD_CHECK(one_report(rec, KMALLOC_REPORT_SLAB_PANIC)); // not created, and no abort
        int on_stack = 0;
        kfree(&on_stack);
        CHILD_CHECK(one_report(rec, KMALLOC_REPORT_INVALID_OBJECT_POINTER));
        kmem_cache_free(reinterpret_cast<struct kmem_cache*>(&on_stack), o);
        CHILD_CHECK(one_report(rec, KMALLOC_REPORT_INVALID_CACHE));

        Stats after = stats();
        CHILD_CHECK(after.reports == before.reports + 7);
        // Nothing freed, created or destroyed. (The refused kmem_cache_destroy flushed the cpu
        // slabs, as the kernel's does before it looks: that only moves slab_objects_active.)
        after.reports = before.reports;
        after.slab_objects_active = before.slab_objects_active;
        CHILD_CHECK(same_stats(before, after));
        CHILD_CHECK(kmalloc_validate() == 0);
        CHILD_CHECK(ksize(p) == 64 && ksize(o) == 64);

        // The program goes on: the right calls work and leave no report.
        kfree(p);
        kmem_cache_free(a, o);
        __free_pages(pg, 2);
        kmem_cache_destroy(a);
        kmem_cache_destroy(b);
        kfree(p); // and a double free is refused too
        CHILD_CHECK(one_report(rec, KMALLOC_REPORT_OBJECT_DOUBLE_FREE));
        void* p1 = kmalloc(64, GFP_KERNEL);
        void* p2 = kmalloc(64, GFP_KERNEL);
        CHILD_CHECK(p1 != p2); // p was freed once, not twice
        kfree(p1);
        kfree(p2);
        CHILD_CHECK(kmalloc_validate() == 0);
        CHILD_CHECK(rec.seen.empty());
        child_passed();
      },
      testing::ExitedWithCode(0), "^$");
}

// "@fn: the handler; NULL restores the default (print the message on stderr, then abort unless
// the kind is a warning)."
TEST_F(KmallocContractHeapDeathTest, SetReportHandler_NullRestoresTheDefault) {
  EXPECT_EXIT(
      {
        static Recording rec;
        kmalloc_set_report_handler(record, &rec);
        CHILD_CHECK(kmalloc((4 * MiB) + 1, GFP_KERNEL) == nullptr);
        CHILD_CHECK(one_report(rec, KMALLOC_REPORT_SIZE_TOO_LARGE));
        kmalloc_set_report_handler(nullptr, &rec);
        CHILD_CHECK(kmalloc((4 * MiB) + 2, GFP_KERNEL) == nullptr); // printed, returns
        CHILD_CHECK(rec.seen.empty());
        auto* p = static_cast<char*>(kmalloc(64, GFP_KERNEL));
        kfree(p + 8); // printed, aborts
      },
      testing::KilledBySignal(SIGABRT),
      "^kmalloc: WARNING: kmalloc\\(4194306\\) is larger than KMALLOC_MAX_SIZE 4194304.*\n"
      "kmalloc: BUG kfree: Invalid object pointer 0x[0-9a-f]+ \\(not at an object boundary\\)\n$");
}

// "@arg: passed to @fn as it is." / "kmalloc_report_handler - called once per report, with the
// @arg given with it."
TEST_F(KmallocContractHeapDeathTest, SetReportHandler_CalledOncePerReportWithItsArg) {
  EXPECT_EXIT(
      {
        static Recording rec;
        kmalloc_set_report_handler(record, &rec);
        void* p = kmalloc(64, GFP_KERNEL);
        kfree(p);
        kfree(p);
        CHILD_CHECK(rec.arg_seen == &rec);
        CHILD_CHECK(one_report(rec, KMALLOC_REPORT_OBJECT_DOUBLE_FREE));
        for (int i = 0; i < 3; ++i)
          CHILD_CHECK(alloc_pages(GFP_KERNEL, 11) == nullptr);
        CHILD_CHECK(rec.seen.size() == 3 && stats().reports == 4);
        child_passed();
      },
      testing::ExitedWithCode(0), "^$");
}

// "@fn may call kmalloc_report_kind_name() and kmalloc_report_is_warning(), but nothing that uses
// the heap."
TEST_F(KmallocContractHeapDeathTest, SetReportHandler_HandlerMayNameTheKind) {
  EXPECT_EXIT(
      {
        static Recording rec;
        kmalloc_set_report_handler(record, &rec);
        struct kmem_cache* c = kmem_cache_create("named", 64, 0, 0, nullptr);
        void* o = kmem_cache_alloc(c, GFP_KERNEL);
        kmem_cache_destroy(c);
        kmem_cache_free(c, static_cast<char*>(o) + 1);
        CHILD_CHECK(rec.seen.size() == 2);
        CHILD_CHECK(rec.seen[0].kind_name == "ObjectsRemaining" && rec.seen[0].warning == 1);
        CHILD_CHECK(rec.seen[1].kind_name == "InvalidObjectPointer" && rec.seen[1].warning == 0);
        child_passed();
      },
      testing::ExitedWithCode(0), "^$");
}

// "This call does not build the default heap, so it may come before kmalloc_init() or
// kmalloc_init_region(): a handler set before the heap is built receives its reports from the
// start."
TEST_F(KmallocContractHeapDeathTest, SetReportHandler_BeforeTheHeapAppliesOnceBuilt) {
  EXPECT_EXIT(
      {
        static Recording rec;
        kmalloc_set_report_handler(record, &rec);
        CHILD_CHECK(kmalloc_init("profile=linux-4-slab,seed=1") == 0); // not -EBUSY
        void* p = kmalloc(8, GFP_KERNEL);
        CHILD_CHECK(ksize(p) == 32);
        kfree(p);
        kfree(p);
        CHILD_CHECK(one_report(rec, KMALLOC_REPORT_OBJECT_DOUBLE_FREE));
        child_passed();
      },
      testing::ExitedWithCode(0), "^$");
  EXPECT_EXIT(
      {
        static Recording rec;
        kmtest::AlignedRegion region(4 * MiB, 4 * MiB);
        kmalloc_set_report_handler(record, &rec);
        CHILD_CHECK(kmalloc_init_region(region.get(), region.size(), "dma=0,seed=1") == 0);
        CHILD_CHECK(alloc_pages(GFP_KERNEL, 11) == nullptr);
        CHILD_CHECK(one_report(rec, KMALLOC_REPORT_ORDER_TOO_LARGE));
        child_passed();
      },
      testing::ExitedWithCode(0), "^$");
  EXPECT_EXIT(
      {
        static Recording rec;
        kmalloc_set_report_handler(record, &rec);
        struct page* pg = alloc_pages(GFP_KERNEL, 0); // builds the heap on first use
        __free_pages(pg, 0);
        __free_pages(pg, 0);
        CHILD_CHECK(one_report(rec, KMALLOC_REPORT_PAGE_DOUBLE_FREE));
        child_passed();
      },
      testing::ExitedWithCode(0), "^$");
}

// "The handler stays until the next kmalloc_set_report_handler()."
TEST_F(KmallocContractHeapDeathTest, SetReportHandler_TheLastCallWins) {
  EXPECT_EXIT(
      {
        static Recording first;
        static Recording second;
        kmalloc_set_report_handler(record, &first);
        kmalloc_set_report_handler(record, &second);
        for (int i = 0; i < 2; ++i)
          CHILD_CHECK(kmalloc(5 * MiB, GFP_KERNEL) == nullptr);
        CHILD_CHECK(first.seen.empty() && second.seen.size() == 2);
        kmalloc_set_report_handler(record, &first);
        CHILD_CHECK(kmalloc(5 * MiB, GFP_KERNEL) == nullptr);
        CHILD_CHECK(first.seen.size() == 1 && second.seen.size() == 2);
        child_passed();
      },
      testing::ExitedWithCode(0), "^$");
}

// "@kind: what it is about. @addr: the address it is about (the object, page or cache pointer),
// or 0."
TEST_F(KmallocContractHeapDeathTest, Report_KindAndAddress) {
  EXPECT_EXIT(
      {
        static Recording rec;
        kmalloc_set_report_handler(record, &rec);
        auto* p = static_cast<char*>(kmalloc(64, GFP_KERNEL));
        kfree(p + 8);
        CHILD_CHECK(rec.seen.size() == 1 && rec.seen[0].addr == addr(p + 8));
        CHILD_CHECK(one_report(rec, KMALLOC_REPORT_INVALID_OBJECT_POINTER));
        struct page* pg = alloc_pages(GFP_KERNEL, 1);
        __free_pages(pg, 0);
        CHILD_CHECK(rec.seen.size() == 1 && rec.seen[0].addr == addr(page_address(pg)));
        CHILD_CHECK(one_report(rec, KMALLOC_REPORT_PAGE_ORDER_MISMATCH));
        int not_a_cache = 0;
        kmem_cache_destroy(reinterpret_cast<struct kmem_cache*>(&not_a_cache));
        CHILD_CHECK(rec.seen.size() == 1 && rec.seen[0].addr == addr(&not_a_cache));
        CHILD_CHECK(one_report(rec, KMALLOC_REPORT_INVALID_CACHE));
        CHILD_CHECK(kmalloc(5 * MiB, GFP_KERNEL) == nullptr);
        CHILD_CHECK(rec.seen.size() == 1 && rec.seen[0].addr == 0);
        CHILD_CHECK(one_report(rec, KMALLOC_REPORT_SIZE_TOO_LARGE));
        child_passed();
      },
      testing::ExitedWithCode(0), "^$");
}

// "@message: the text the default handler prints, starting with "kmalloc: " (no newline); valid
// only during the handler call." A warning is made twice, to the handler and then to the default
// handler with stderr in a file: the same text. A misuse then shows the same shape. (That the
// text is not kept past the call is the caller's side; the handler here copies it.)
TEST_F(KmallocContractHeapDeathTest, Report_MessageIsWhatTheDefaultHandlerPrints) {
  EXPECT_EXIT(
      {
        static Recording rec;
        kmalloc_set_report_handler(record, &rec);
        CHILD_CHECK(kmalloc(5 * MiB, GFP_KERNEL) == nullptr);
        CHILD_CHECK(rec.seen.size() == 1);
        const std::string m = rec.seen[0].message;
        CHILD_CHECK(m.rfind("kmalloc: WARNING: kmalloc(5242880)", 0) == 0);
        CHILD_CHECK(m.find('\n') == std::string::npos);
        // The default handler's output, captured.
        std::FILE* capture = std::tmpfile();
        CHILD_CHECK(capture != nullptr);
        std::fflush(stderr);
        const int saved = dup(2);
        CHILD_CHECK(saved >= 0 && dup2(fileno(capture), 2) == 2);
        kmalloc_set_report_handler(nullptr, nullptr);
        CHILD_CHECK(kmalloc(5 * MiB, GFP_KERNEL) == nullptr);
        std::fflush(stderr);
        CHILD_CHECK(dup2(saved, 2) == 2);
        char printed[400] = {};
        std::rewind(capture);
        const std::size_t n = std::fread(printed, 1, sizeof printed - 1, capture);
        CHILD_CHECK(std::string(printed, n) == m + "\n");
        // A misuse: the handler's text, then the default handler's, which aborts.
        kmalloc_set_report_handler(record, &rec);
        auto* p = static_cast<char*>(kmalloc(64, GFP_KERNEL));
        kfree(p + 8);
        CHILD_CHECK(rec.seen.size() == 2);
        std::fprintf(stderr, "%s\n", rec.seen[1].message.c_str());
        kmalloc_set_report_handler(nullptr, nullptr);
        kfree(p + 8);
      },
      testing::KilledBySignal(SIGABRT),
      "^kmalloc: BUG kfree: Invalid object pointer 0x[0-9a-f]+ \\(not at an object boundary\\)\n"
      "kmalloc: BUG kfree: Invalid object pointer 0x[0-9a-f]+ \\(not at an object boundary\\)\n$");
}

// ============================================================================================
// kmalloc_validate

// "Each broken invariant is reported as KMALLOC_REPORT_CORRUPTION" / "Return: the number of
// broken invariants". The heap is broken through its internal state (heap_state.h), which sits
// at the start of the region the test owns (kmalloc_init_region).
TEST_F(KmallocContractHeapDeathTest, Validate_EachBrokenInvariantReportedAndCounted) {
  EXPECT_EXIT(
      {
        static Recording rec;
        kmtest::AlignedRegion region(8 * MiB, 4 * MiB);
        CHILD_CHECK(kmalloc_init_region(region.get(), region.size(), "dma=1M,seed=1") == 0);
        kmalloc_set_report_handler(record, &rec);
        void* p = kmalloc(64, GFP_KERNEL);
        CHILD_CHECK(kmalloc_validate() == 0 && rec.seen.empty());
        auto* state = static_cast<km::HeapState*>(region.get());
        CHILD_CHECK(state->start == region.address()); // the state is where heap_state.h says
        state->pages.zone_at(1).free_pages += 3;       // NR_FREE_PAGES of Normal off by 3
        const long broken = kmalloc_validate();
        CHILD_CHECK(broken > 0);
        CHILD_CHECK(rec.seen.size() == static_cast<std::size_t>(broken));
        for (const Seen& s : rec.seen)
          CHILD_CHECK(s.kind == KMALLOC_REPORT_CORRUPTION &&
                      s.message.rfind("kmalloc: validate: AC2", 0) == 0);
        rec.seen.clear();
        CHILD_CHECK(kmalloc_validate() == broken); // still broken: validate changed nothing
        rec.seen.clear();
        state->pages.zone_at(1).free_pages -= 3;
        CHILD_CHECK(kmalloc_validate() == 0 && rec.seen.empty());
        kfree(p);
        child_passed();
      },
      testing::ExitedWithCode(0), "^$");
}

// "...; with the default handler the first one aborts."
TEST_F(KmallocContractHeapDeathTest, Validate_DefaultHandlerAbortsOnTheFirst) {
  EXPECT_EXIT(
      {
        kmtest::AlignedRegion region(8 * MiB, 4 * MiB);
        CHILD_CHECK(kmalloc_init_region(region.get(), region.size(), "dma=1M,seed=1") == 0);
        static_cast<km::HeapState*>(region.get())->pages.zone_at(1).free_pages += 3;
        kmalloc_validate();
        std::_Exit(0); // not reached
      },
      testing::KilledBySignal(SIGABRT), "^kmalloc: validate: AC2: [^\n]*\n$");
}

// "The heap is not changed." / "Return: ...; 0 when the heap is consistent."
TEST_F(KmallocContractHeapDeathTest, Validate_ConsistentHeapIsZeroAndUnchanged) {
  EXPECT_EXIT(
      {
        CHILD_CHECK(kmalloc_init("arena=32M,seed=1") == 0);
        CHILD_CHECK(kmalloc_validate() == 0);
        struct kmem_cache* c = kmem_cache_create("validate_obj", 100, 0, 0, nullptr);
        std::vector<void*> live;
        for (std::size_t n = 1; n < 20000; n = n * 3 + 1)
          live.push_back(kmalloc(n, GFP_KERNEL));
        for (int i = 0; i < 50; ++i)
          live.push_back(kmem_cache_alloc(c, GFP_KERNEL));
        struct page* pg = alloc_pages(GFP_DMA, 3);
        for (std::size_t i = 0; i < live.size(); i += 2)
          kfree(live[i]);
        const Stats before = stats();
        const std::string buddy = text(kmalloc_buddyinfo);
        const std::string slabs = text(kmalloc_slabinfo);
        CHILD_CHECK(kmalloc_validate() == 0);
        CHILD_CHECK(same_stats(before, stats()));
        CHILD_CHECK(buddy == text(kmalloc_buddyinfo) && slabs == text(kmalloc_slabinfo));
        __free_pages(pg, 3);
        CHILD_CHECK(kmalloc_validate() == 0);
        child_passed();
      },
      testing::ExitedWithCode(0), "^$");
}

// ============================================================================================
// struct kmalloc_stats

// "Fields are only ever added at the end, and all of them are size_t." (the layout of this
// version, which later versions extend)
TEST_F(KmallocContractHeapDeathTest, Stats_FieldsAreSizeTInOrder) {
  const std::size_t w = sizeof(std::size_t);
  EXPECT_EQ(offsetof(Stats, size), 0 * w);
  EXPECT_EQ(offsetof(Stats, page_size), 1 * w);
  EXPECT_EQ(offsetof(Stats, pages_total), 2 * w);
  EXPECT_EQ(offsetof(Stats, pages_free), 3 * w);
  EXPECT_EQ(offsetof(Stats, pages_metadata), 4 * w);
  EXPECT_EQ(offsetof(Stats, pages_slab), 5 * w);
  EXPECT_EQ(offsetof(Stats, pages_large_kmalloc), 6 * w);
  EXPECT_EQ(offsetof(Stats, pages_alloc_pages), 7 * w);
  EXPECT_EQ(offsetof(Stats, slab_objects_active), 8 * w);
  EXPECT_EQ(offsetof(Stats, slab_objects_total), 9 * w);
  EXPECT_EQ(offsetof(Stats, slab_objects_free), 10 * w);
  EXPECT_EQ(offsetof(Stats, caches), 11 * w);
  EXPECT_EQ(offsetof(Stats, reports), 12 * w);
  EXPECT_EQ(offsetof(Stats, metadata_bytes_reserved), 13 * w);
  EXPECT_EQ(offsetof(Stats, metadata_bytes_committed), 14 * w);
  EXPECT_EQ(offsetof(Stats, nr_cpus), 15 * w);
  EXPECT_EQ(sizeof(Stats), 16 * w);
}

// "@size: set by the caller to sizeof(struct kmalloc_stats); on return, the bytes filled."
// "@page_size: bytes per page."
TEST_F(KmallocContractHeapDeathTest, Stats_SizeAndPageSize) {
  EXPECT_EXIT(
      {
        CHILD_CHECK(kmalloc_init("page_shift=14,max_order=8,seed=1") == 0);
        const Stats s = stats(); // checks size == sizeof on return
        CHILD_CHECK(s.page_size == 16 * KiB);
        child_passed();
      },
      testing::ExitedWithCode(0), "^$");
  EXPECT_EXIT(
      {
        CHILD_CHECK(stats().page_size == 4096); // the default heap
        child_passed();
      },
      testing::ExitedWithCode(0), "^$");
}

// "@nr_cpus: the heap's cpu slots, as resolved when it was built: nr_cpus=auto (the default)
// gives this machine's possible CPUs (the kernel's nr_cpu_ids; kmalloc/config.h)."
TEST_F(KmallocContractHeapDeathTest, Stats_NrCpusIsTheResolvedCount) {
  const unsigned possible = km::platform::possible_cpus(km::kMaxCpus);
  EXPECT_EXIT(
      {
        CHILD_CHECK(stats().nr_cpus == possible); // the default heap: auto
        child_passed();
      },
      testing::ExitedWithCode(0), "^$");
  EXPECT_EXIT(
      {
        CHILD_CHECK(kmalloc_init("arena=16M,nr_cpus=auto") == 0);
        CHILD_CHECK(stats().nr_cpus == possible);
        child_passed();
      },
      testing::ExitedWithCode(0), "^$");
  EXPECT_EXIT(
      {
        CHILD_CHECK(kmalloc_init("arena=16M,nr_cpus=3") == 0);
        CHILD_CHECK(stats().nr_cpus == 3);
        child_passed();
      },
      testing::ExitedWithCode(0), "^$");
  // Above kMaxCpus: refused, and the message names the key.
  EXPECT_EXIT(
      {
        CHILD_CHECK(kmalloc_init("arena=16M,nr_cpus=8193") == kEinval);
        child_passed();
      },
      testing::ExitedWithCode(0), "^kmalloc_init: nr_cpus: must be at most 8192 \\(kMaxCpus\\)");
}

// "@pages_total: pages of the heap; always pages_free + pages_metadata + pages_slab +
// pages_large_kmalloc + pages_alloc_pages."
TEST_F(KmallocContractHeapDeathTest, Stats_PagesTotalIsTheSumOfTheOwners) {
  EXPECT_EXIT(
      {
        CHILD_CHECK(kmalloc_init("arena=32M,seed=1") == 0);
        const auto sum_holds = [](const Stats& s) {
          return s.pages_total == s.pages_free + s.pages_metadata + s.pages_slab +
                                      s.pages_large_kmalloc + s.pages_alloc_pages;
        };
        CHILD_CHECK(stats().pages_total == 32 * MiB / 4096);
        CHILD_CHECK(sum_holds(stats()));
        std::vector<void*> objs;
        std::vector<struct page*> pages;
        for (unsigned i = 0; i < 200; ++i) {
          objs.push_back(kmalloc((i * 7919u) % (300 * KiB) + 1, GFP_KERNEL));
          if (i % 10 == 0)
            pages.push_back(alloc_pages(GFP_KERNEL, i % 4));
          CHILD_CHECK(sum_holds(stats()));
        }
        CHILD_CHECK(stats().pages_slab > 0 && stats().pages_large_kmalloc > 0 &&
                    stats().pages_alloc_pages > 0);
        for (void* o : objs)
          kfree(o);
        for (std::size_t i = 0; i < pages.size(); ++i)
          __free_pages(pages[i], static_cast<unsigned>((i * 10) % 4));
        CHILD_CHECK(sum_holds(stats()) && stats().pages_total == 32 * MiB / 4096);
        child_passed();
      },
      testing::ExitedWithCode(0), "^$");
}

// "@pages_free: pages in free buddy blocks."
TEST_F(KmallocContractHeapDeathTest, Stats_PagesFreeAreTheBuddyBlocks) {
  EXPECT_EXIT(
      {
        CHILD_CHECK(kmalloc_init("arena=32M,seed=1") == 0);
        CHILD_CHECK(stats().pages_free == buddyinfo_free_pages());
        struct page* pg = alloc_pages(GFP_KERNEL, 5);
        void* big = kmalloc(MiB, GFP_KERNEL);
        CHILD_CHECK(stats().pages_free == buddyinfo_free_pages());
        __free_pages(pg, 5);
        kfree(big);
        CHILD_CHECK(stats().pages_free == buddyinfo_free_pages());
        child_passed();
      },
      testing::ExitedWithCode(0), "^$");
}

// "@pages_metadata: pages holding the heap's own state at the start of the arena (page and cache
// descriptors, per-cpu slabs, the allocation bitmap)."
TEST_F(KmallocContractHeapDeathTest, Stats_PagesMetadataStartTheArena) {
  EXPECT_EXIT(
      {
        kmtest::AlignedRegion region(4 * MiB, 4 * MiB);
        CHILD_CHECK(kmalloc_init_region(region.get(), region.size(), "dma=0,seed=1") == 0);
        const Stats s = stats();
        // One struct page per page, at least, and one bit per 8 bytes: 1/64 of the arena.
        CHILD_CHECK(s.pages_metadata * 4096 >= 1024 * sizeof(void*) + 4 * MiB / 64);
        CHILD_CHECK(s.pages_metadata < s.pages_total / 4);
        // Nothing is handed out below them; the first page above them is.
        std::uintptr_t lowest = ~std::uintptr_t{0};
        std::vector<unsigned long> pages;
        while (unsigned long a = __get_free_pages(GFP_KERNEL | __GFP_NOWARN, 0)) {
          lowest = a < lowest ? a : lowest;
          pages.push_back(a);
        }
        CHILD_CHECK(lowest == region.address() + s.pages_metadata * 4096);
        CHILD_CHECK(stats().pages_metadata == s.pages_metadata); // a fixed reservation
        for (unsigned long a : pages)
          free_pages(a, 0);
        child_passed();
      },
      testing::ExitedWithCode(0), "^$");
}

// "@pages_slab: pages of the slabs of every kmem_cache, the kmalloc caches included."
TEST_F(KmallocContractHeapDeathTest, Stats_PagesSlabAreTheSlabsOfEveryCache) {
  EXPECT_EXIT(
      {
        CHILD_CHECK(kmalloc_init("arena=32M,seed=1") == 0);
        CHILD_CHECK(stats().pages_slab == slabinfo_sums().pages);
        void* k = kmalloc(64, GFP_KERNEL); // kmalloc-64: one order-0 slab
        CHILD_CHECK(stats().pages_slab == slabinfo_sums().pages && stats().pages_slab > 0);
        struct kmem_cache* c = kmem_cache_create("stats_slab", 3000, 0, 0, nullptr);
        const std::size_t before = stats().pages_slab;
        void* o = kmem_cache_alloc(c, GFP_KERNEL);
        CHILD_CHECK(stats().pages_slab == before + 8); // 3000-byte objects: order-3 slabs
        CHILD_CHECK(stats().pages_slab == slabinfo_sums().pages);
        kmem_cache_free(c, o);
        kmem_cache_destroy(c);
        CHILD_CHECK(stats().pages_slab == before);
        kfree(k);
        child_passed();
      },
      testing::ExitedWithCode(0), "^$");
}

// "@pages_large_kmalloc: pages of kmalloc() objects above KMALLOC_MAX_CACHE_SIZE."
TEST_F(KmallocContractHeapDeathTest, Stats_PagesLargeKmalloc) {
  EXPECT_EXIT(
      {
        CHILD_CHECK(kmalloc_init("arena=32M,seed=1") == 0);
        CHILD_CHECK(stats().pages_large_kmalloc == 0);
        void* small = kmalloc(8 * KiB, GFP_KERNEL); // KMALLOC_MAX_CACHE_SIZE: from a cache
        CHILD_CHECK(stats().pages_large_kmalloc == 0);
        void* a = kmalloc(8 * KiB + 1, GFP_KERNEL); // order 2
        void* b = kmalloc(100000, GFP_KERNEL);      // order 5
        CHILD_CHECK(stats().pages_large_kmalloc == 4 + 32);
        kfree(a);
        CHILD_CHECK(stats().pages_large_kmalloc == 32);
        kfree(b);
        kfree(small);
        CHILD_CHECK(stats().pages_large_kmalloc == 0);
        child_passed();
      },
      testing::ExitedWithCode(0), "^$");
}

// "@pages_alloc_pages: pages from alloc_pages() and __get_free_pages()."
TEST_F(KmallocContractHeapDeathTest, Stats_PagesAllocPages) {
  EXPECT_EXIT(
      {
        CHILD_CHECK(kmalloc_init("arena=32M,seed=1") == 0);
        CHILD_CHECK(stats().pages_alloc_pages == 0);
        struct page* pg = alloc_pages(GFP_KERNEL, 3);
        const unsigned long a = __get_free_pages(GFP_DMA, 1);
        CHILD_CHECK(stats().pages_alloc_pages == 8 + 2);
        __free_pages(pg, 3);
        free_pages(a, 1);
        CHILD_CHECK(stats().pages_alloc_pages == 0);
        child_passed();
      },
      testing::ExitedWithCode(0), "^$");
}

// "@slab_objects_active: the sum of /proc/slabinfo's active_objs: every object of a per-cpu slab
// counts as active, allocated or not (no per-cpu slab is flushed first)."
// "@slab_objects_total: the sum of /proc/slabinfo's num_objs: the objects of every slab."
TEST_F(KmallocContractHeapDeathTest, Stats_SlabObjectsActiveAndTotalAreSlabinfos) {
  EXPECT_EXIT(
      {
        CHILD_CHECK(kmalloc_init("arena=32M,seed=1") == 0);
        struct kmem_cache* c = kmem_cache_create("stats_objs", 64, 0, 0, nullptr);
        const Stats before = stats();
        CHILD_CHECK(before.slab_objects_active == slabinfo_sums().active);
        CHILD_CHECK(before.slab_objects_total == slabinfo_sums().total);
        void* o = kmem_cache_alloc(c, GFP_KERNEL); // a new order-0 slab of 64 objects, the cpu
                                                   // slab: all 64 count as active
        const Stats one = stats();
        CHILD_CHECK(one.slab_objects_total == before.slab_objects_total + 64);
        CHILD_CHECK(one.slab_objects_active == before.slab_objects_active + 64);
        CHILD_CHECK(one.slab_objects_active == slabinfo_sums().active);
        kmem_cache_free(c, o); // back on the cpu freelist: still active
        CHILD_CHECK(stats().slab_objects_active == one.slab_objects_active);
        CHILD_CHECK(kmem_cache_shrink(c) == 0); // flushes the cpu slab, releases it
        CHILD_CHECK(stats().slab_objects_active == before.slab_objects_active);
        CHILD_CHECK(stats().slab_objects_total == before.slab_objects_total);
        child_passed();
      },
      testing::ExitedWithCode(0), "^$");
}

// "@slab_objects_free: the free objects of every slab, per-cpu freelists included, so
// slab_objects_total - slab_objects_free objects are allocated."
TEST_F(KmallocContractHeapDeathTest, Stats_SlabObjectsFreeGivesTheAllocatedCount) {
  EXPECT_EXIT(
      {
        CHILD_CHECK(kmalloc_init("arena=32M,seed=1") == 0);
        const std::size_t base = allocated_objects(stats());
        CHILD_CHECK(base == 0);
        void* p = kmalloc(64, GFP_KERNEL);
        CHILD_CHECK(allocated_objects(stats()) == base + 1);
        kfree(p);
        CHILD_CHECK(allocated_objects(stats()) == base);
        std::vector<void*> objs;
        for (int i = 0; i < 1000; ++i)
          objs.push_back(kmalloc(16 + (i % 5) * 100, GFP_KERNEL));
        objs.push_back(kmalloc(100000, GFP_KERNEL)); // large: not a slab object
        CHILD_CHECK(allocated_objects(stats()) == base + 1000);
        for (std::size_t i = 0; i < objs.size(); i += 2)
          kfree(objs[i]);
        CHILD_CHECK(allocated_objects(stats()) == base + 500);
        child_passed();
      },
      testing::ExitedWithCode(0), "^$");
}

// "@caches: the live caches, the kmalloc caches included (the lines of /proc/slabinfo)."
TEST_F(KmallocContractHeapDeathTest, Stats_CachesAreTheSlabinfoLines) {
  EXPECT_EXIT(
      {
        CHILD_CHECK(kmalloc_init("arena=32M,seed=1") == 0);
        const std::size_t n = stats().caches;
        // linux-6 with 4 KiB pages: 8 .. 8k and 96, 192 (13 sizes) in three kinds.
        CHILD_CHECK(n == 3 * 13);
        CHILD_CHECK(n == slabinfo_sums().lines);
        struct kmem_cache* c = kmem_cache_create("stats_cache", 10, 0, 0, nullptr);
        CHILD_CHECK(stats().caches == n + 1 && slabinfo_sums().lines == n + 1);
        kmem_cache_destroy(c);
        CHILD_CHECK(stats().caches == n);
        child_passed();
      },
      testing::ExitedWithCode(0), "^$");
}

// "@reports: the reports the default heap has made so far, warnings included, whichever handler
// received them; warnings silenced by __GFP_NOWARN and kmalloc_init()'s messages are not
// reports."
TEST_F(KmallocContractHeapDeathTest, Stats_ReportsCountsEveryReport) {
  EXPECT_EXIT(
      {
        static Recording rec;
        CHILD_CHECK(kmalloc_init("bogus=1") == kEinval); // a message, not a report
        CHILD_CHECK(kmalloc_init("arena=32M,seed=1") == 0);
        CHILD_CHECK(stats().reports == 0);
        CHILD_CHECK(kmalloc(5 * MiB, GFP_KERNEL) == nullptr); // default handler: warning
        CHILD_CHECK(stats().reports == 1);
        CHILD_CHECK(kmalloc(5 * MiB, GFP_KERNEL | __GFP_NOWARN) == nullptr);
        CHILD_CHECK(alloc_pages(GFP_KERNEL | __GFP_NOWARN, 12) == nullptr);
        CHILD_CHECK(stats().reports == 1);
        kmalloc_set_report_handler(record, &rec);
        void* p = kmalloc(8, GFP_KERNEL);
        kfree(p);
        kfree(p); // misuse, to the user's handler
        CHILD_CHECK(alloc_pages(GFP_KERNEL, 11) == nullptr);
        CHILD_CHECK(rec.seen.size() == 2 && stats().reports == 3);
        child_passed();
      },
      testing::ExitedWithCode(0),
      "^kmalloc_init: options: unknown key 'bogus'\n"
      "kmalloc: WARNING: kmalloc\\(5242880\\)[^\n]*\n$");
}

// "@metadata_bytes_reserved: bytes of the arena set aside for metadata (pages_metadata pages)."
TEST_F(KmallocContractHeapDeathTest, Stats_MetadataBytesReserved) {
  EXPECT_EXIT(
      {
        CHILD_CHECK(kmalloc_init("page_shift=16,max_order=6,arena=32M,seed=1") == 0);
        const Stats s = stats();
        CHILD_CHECK(s.metadata_bytes_reserved == s.pages_metadata * 64 * KiB);
        CHILD_CHECK(s.metadata_bytes_reserved > 0);
        child_passed();
      },
      testing::ExitedWithCode(0), "^$");
}

// "@metadata_bytes_committed: the part of that reservation backed by memory now (the metadata is
// committed lazily, so a large arena reserves far more than it commits)."
TEST_F(KmallocContractHeapDeathTest, Stats_MetadataBytesCommitted) {
  EXPECT_EXIT(
      {
        CHILD_CHECK(kmalloc_init("arena=4G,seed=1") == 0);
        const Stats s = stats();
        CHILD_CHECK(s.metadata_bytes_committed > 0); // HeapState and the cache descriptors
        CHILD_CHECK(s.metadata_bytes_committed <= s.metadata_bytes_reserved);
        CHILD_CHECK(s.metadata_bytes_reserved > 64 * MiB); // 2.7% of 4 GiB
        CHILD_CHECK(s.metadata_bytes_committed < 8 * MiB);
        child_passed();
      },
      testing::ExitedWithCode(0), "^$");
}

// ============================================================================================
// kmalloc_stats

// "Only the fields lying wholly within the first @out->size bytes are written" / "On return
// @out->size is the number of bytes filled: the end of the last field written."
TEST_F(KmallocContractHeapDeathTest, Stats_SmallerSizeFillsOnlyTheFieldsThatFit) {
  EXPECT_EXIT(
      {
        CHILD_CHECK(kmalloc_init("arena=32M,seed=1") == 0);
        const Stats full = stats();
        Stats s;
        std::memset(&s, 0xee, sizeof s);
        s.size = offsetof(Stats, pages_free) + 3; // pages_free does not fit
        CHILD_CHECK(kmalloc_stats(&s) == 0);
        CHILD_CHECK(s.size == offsetof(Stats, pages_free));
        CHILD_CHECK(s.page_size == 4096 && s.pages_total == full.pages_total);
        const auto* bytes = reinterpret_cast<const unsigned char*>(&s);
        for (std::size_t i = offsetof(Stats, pages_free); i < sizeof s; ++i)
          CHILD_CHECK(bytes[i] == 0xee);
        std::memset(&s, 0xee, sizeof s);
        s.size = sizeof s.size; // only the size field: nothing else
        CHILD_CHECK(kmalloc_stats(&s) == 0 && s.size == sizeof s.size);
        for (std::size_t i = sizeof s.size; i < sizeof s; ++i)
          CHILD_CHECK(bytes[i] == 0xee);
        child_passed();
      },
      testing::ExitedWithCode(0), "^$");
}

// "so a program built against an older, smaller struct keeps working when fields are added;
// bytes past the fields this library knows are left as they are."
TEST_F(KmallocContractHeapDeathTest, Stats_LargerStructKeepsItsUnknownFields) {
  EXPECT_EXIT(
      {
        struct Newer {
          Stats known;
          std::size_t added_later[4];
        } n;
        std::memset(&n, 0xee, sizeof n);
        n.known.size = sizeof n;
        CHILD_CHECK(kmalloc_stats(&n.known) == 0);
        CHILD_CHECK(n.known.size == sizeof(Stats)); // what was filled
        CHILD_CHECK(n.known.pages_total == 64 * MiB / 4096);
        for (std::size_t v : n.added_later)
          CHILD_CHECK(v == static_cast<std::size_t>(0xeeeeeeeeeeeeeeeeull));
        // The older program's view: the first fields, the same values.
        Stats old_view;
        std::memset(&old_view, 0, sizeof old_view);
        old_view.size = offsetof(Stats, caches);
        CHILD_CHECK(kmalloc_stats(&old_view) == 0);
        CHILD_CHECK(std::memcmp(&old_view.page_size, &n.known.page_size,
                                offsetof(Stats, caches) - sizeof(std::size_t)) == 0);
        child_passed();
      },
      testing::ExitedWithCode(0), "^$");
}

// "Return: 0 on success; -EINVAL (-22), writing nothing, when @out is NULL or @out->size is
// smaller than the size field itself."
TEST_F(KmallocContractHeapDeathTest, Stats_NullOrTooSmallIsEinval) {
  EXPECT_EXIT(
      {
        CHILD_CHECK(kmalloc_stats(nullptr) == kEinval);
        for (std::size_t size = 0; size < sizeof(std::size_t); ++size) {
          Stats s;
          std::memset(&s, 0xee, sizeof s);
          s.size = size;
          CHILD_CHECK(kmalloc_stats(&s) == kEinval);
          CHILD_CHECK(s.size == size);
          const auto* bytes = reinterpret_cast<const unsigned char*>(&s);
          for (std::size_t i = sizeof s.size; i < sizeof s; ++i)
            CHILD_CHECK(bytes[i] == 0xee);
        }
        Stats ok;
        ok.size = sizeof ok;
        CHILD_CHECK(kmalloc_stats(&ok) == 0);
        child_passed();
      },
      testing::ExitedWithCode(0), "^$");
}

} // namespace
