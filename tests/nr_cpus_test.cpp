// nr_cpus_test.cpp - Config::nr_cpus = kNrCpusAuto (the default; "nr_cpus=auto" / "nr_cpus=0"):
// a heap resolves it to this machine's possible CPUs (the kernel's nr_cpu_ids), shows the
// resolved count in Heap::config(), and picks the slab orders a kernel on this machine picks
// (checked against the /proc/slabinfo rows of tests/data when one was read on a machine with
// the same cpu count, as slabinfo_6.18_2cpu.txt was on the 2-cpu build machine). Explicit counts
// up to kMaxCpus (8192) work, and per-cpu metadata grows with the heap's own count only.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include "heap_state.h"
#include "kmalloc/config.h"
#include "kmalloc/heap.h"
#include "model/cpu_spec.h"
#include "model/option_spec.h"
#include "model/slab_layout_spec.h"
#include "platform/os.h"

#ifndef KMALLOC_TEST_DATA_DIR
#error "KMALLOC_TEST_DATA_DIR must name tests/data"
#endif

namespace {

km::Config small_auto(km::Profile profile = km::Profile::None) {
  km::Config cfg; // nr_cpus left at its default
  cfg.arena_size = std::size_t{16} << 20;
  cfg.profile = profile;
  return cfg;
}

TEST(NrCpus, DefaultIsAuto) {
  EXPECT_EQ(km::Config{}.nr_cpus, km::kNrCpusAuto);
  EXPECT_EQ(km::kNrCpusAuto, 0u);
  km::Status st;
  EXPECT_TRUE(km::validate_config(km::Config{}, st)) << st.message;
}

// The resolved count is the platform's nr_cpu_ids, and the model (which reads sysfs itself)
// agrees; on the 2-cpu build machine both are 2.
TEST(NrCpus, DefaultResolvesToThePossibleCpus) {
  km::Heap heap;
  const km::Status st = heap.init(small_auto());
  ASSERT_TRUE(st.ok) << st.message;
  const unsigned resolved = heap.config().nr_cpus;
  EXPECT_EQ(resolved, km::platform::possible_cpus(km::kMaxCpus));
  EXPECT_EQ(resolved, km::model::machine_cpus().possible);
  EXPECT_EQ(heap.config().nr_cpus, km::model::resolve_cpus(small_auto()).nr_cpus);
  EXPECT_EQ(heap.config().slub_min_objects, km::model::resolve_cpus(small_auto()).slub_min_objects);
  std::printf("[ nr_cpus  ] auto resolved to %u (present %u)\n", resolved,
              km::platform::present_cpus(km::kMaxCpus));
}

TEST(NrCpus, ExplicitCountsAreKept) {
  for (unsigned n : {1u, 2u, 3u, 8u, 64u, 65u, 1024u}) {
    km::Config cfg = small_auto();
    cfg.nr_cpus = n;
    km::Heap heap;
    const km::Status st = heap.init(cfg);
    ASSERT_TRUE(st.ok) << n << ": " << st.message;
    EXPECT_EQ(heap.config().nr_cpus, n);
    EXPECT_EQ(heap.config().slub_min_objects, 0u);
  }
}

// kmalloc/config.h's rule, with made-up machines.
TEST(NrCpus, ResolutionRule) {
  struct Case {
    unsigned possible, present;
    unsigned nr_cpus, slub_min_objects;
  };
  const Case cases[] = {
      {2, 2, 2, 0},
      {1, 1, 1, 0},
      {0, 0, 1, 0},                     // the platform could not tell
      {8, 8, 8, 0},                     // min_objects 20, from nr_cpus itself
      {64, 2, 64, 12},                  // hot-pluggable cpus: the kernel sizes by the 2 present
      {64, 40, 64, 28},                 // fls(40) = 6, fls(64) = 7
      {4, 1, 4, 0},                     // one present cpu: the kernel takes nr_cpu_ids
      {12, 8, 12, 0},                   // fls(8) == fls(12)
      {10000, 10000, km::kMaxCpus, 0},  // above the limit, but fls(10000) == fls(8192)
      {20000, 20000, km::kMaxCpus, 64}, // above the limit: 4 * (fls(20000) + 1)
      {8192, 8192, 8192, 0},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(testing::Message() << "possible " << c.possible << " present " << c.present);
    km::Config cfg = km::resolve_nr_cpus(km::Config{}, c.possible, c.present);
    const unsigned want_min_objects = c.slub_min_objects;
    EXPECT_EQ(cfg.nr_cpus, c.nr_cpus);
    EXPECT_EQ(cfg.slub_min_objects, want_min_objects);
    // The model states the same rule independently (model/cpu_spec.cpp).
    const km::Config model = km::model::resolve_cpus(km::Config{}, {c.possible, c.present});
    EXPECT_EQ(model.nr_cpus, cfg.nr_cpus);
    EXPECT_EQ(model.slub_min_objects, cfg.slub_min_objects);
  }
  // A given slub_min_objects and an explicit count are the caller's.
  km::Config given;
  given.slub_min_objects = 7;
  EXPECT_EQ(km::resolve_nr_cpus(given, 64, 2).slub_min_objects, 7u);
  given.nr_cpus = 3;
  EXPECT_EQ(km::resolve_nr_cpus(given, 64, 2).nr_cpus, 3u);
  // Every (possible, present) pair of a sweep: heap and model agree.
  for (unsigned possible = 0; possible <= 300; possible += possible < 20 ? 1 : 37)
    for (unsigned present = 0; present <= possible; ++present) {
      const km::Config a = km::resolve_nr_cpus(km::Config{}, possible, present);
      const km::Config b = km::model::resolve_cpus(km::Config{}, {possible, present});
      ASSERT_EQ(a.nr_cpus, b.nr_cpus) << possible << " " << present;
      ASSERT_EQ(a.slub_min_objects, b.slub_min_objects) << possible << " " << present;
    }
}

TEST(NrCpus, ModelReadsCpulists) {
  const km::model::MachineCpus m = km::model::parse_cpulists("0-3,8-11\n", "0-3,8\n");
  EXPECT_EQ(m.possible, 12u);
  EXPECT_EQ(m.present, 5u);
  EXPECT_EQ(km::model::parse_cpulists("0\n", "0\n").possible, 1u);
  EXPECT_EQ(km::model::parse_cpulists("", "x").possible, 0u);
}

// ---- the options grammar: "auto" and 0; out-of-range values name the key

TEST(NrCpusOptions, AutoAndZeroParse) {
  for (const char* text : {"nr_cpus=auto", "nr_cpus=0", "nr_cpus=5,nr_cpus=auto"}) {
    km::Config cfg;
    cfg.nr_cpus = 5;
    km::Status st;
    ASSERT_TRUE(km::parse_options(text, cfg, st)) << text << ": " << st.message;
    EXPECT_EQ(cfg.nr_cpus, km::kNrCpusAuto) << text;
    const km::model::OptionPrediction p = km::model::predict_options(text);
    EXPECT_TRUE(p.ok) << text;
    EXPECT_EQ(p.cfg.nr_cpus, km::kNrCpusAuto) << text;
  }
  km::Config cfg;
  km::Status st;
  ASSERT_TRUE(km::parse_options("nr_cpus=8192", cfg, st));
  EXPECT_EQ(cfg.nr_cpus, 8192u);
}

TEST(NrCpusOptions, BadValuesNameTheKey) {
  for (const char* text :
       {"nr_cpus=Auto", "nr_cpus=-1", "nr_cpus=", "nr_cpus=2x", "nr_cpus=1048577"}) {
    km::Config cfg;
    km::Status st;
    EXPECT_FALSE(km::parse_options(text, cfg, st)) << text;
    ASSERT_NE(st.option, nullptr);
    EXPECT_STREQ(st.option, "nr_cpus") << text;
    EXPECT_EQ(std::string(st.message).rfind("nr_cpus: bad value", 0), 0u) << st.message;
    EXPECT_EQ(km::model::predict_options(text).key, "nr_cpus") << text;
  }
  // In the grammar but above kMaxCpus: validation names it, and Heap::init refuses it.
  for (const char* text : {"nr_cpus=8193", "nr_cpus=1048576"}) {
    km::Config cfg;
    km::Status st;
    ASSERT_TRUE(km::parse_options(text, cfg, st)) << text;
    EXPECT_FALSE(km::validate_config(cfg, st)) << text;
    EXPECT_STREQ(st.field, "nr_cpus");
    EXPECT_STREQ(st.option, "nr_cpus");
    EXPECT_NE(std::string(st.message).find("at most 8192"), std::string::npos) << st.message;
    EXPECT_EQ(km::model::predict_options(text).key, "nr_cpus") << text;
    km::Heap heap;
    cfg.arena_size = std::size_t{16} << 20;
    const km::Status init = heap.init(cfg);
    EXPECT_FALSE(init.ok);
    EXPECT_STREQ(init.field, "nr_cpus");
  }
}

// ---- slab orders: min_objects = 4 * (fls(nr_cpus) + 1) with the resolved count

std::map<std::string, std::pair<unsigned, unsigned>> read_dump(const std::string& file,
                                                               unsigned& cpus) {
  std::map<std::string, std::pair<unsigned, unsigned>> rows; // name -> (objperslab, pages)
  std::ifstream in(std::string(KMALLOC_TEST_DATA_DIR) + "/" + file);
  std::string line;
  cpus = 0;
  while (std::getline(in, line)) {
    if (line.rfind("# cpus:", 0) == 0)
      cpus = static_cast<unsigned>(std::stoul(line.substr(7)));
    if (line.empty() || line[0] == '#' || line.rfind("slabinfo", 0) == 0)
      continue;
    std::istringstream f(line);
    std::string name;
    unsigned long active = 0, total = 0;
    unsigned size = 0, objs = 0, pages = 0;
    if (f >> name >> active >> total >> size >> objs >> pages)
      rows[name] = {objs, pages};
  }
  return rows;
}

struct CacheOrder {
  unsigned objects, pages;
};

std::map<std::string, CacheOrder> kmalloc_orders(const km::Heap& heap) {
  struct Ctx {
    const km::Heap* heap;
    std::map<std::string, CacheOrder> out;
  } ctx{&heap, {}};
  heap.for_each_cache(
      [](void* p, const kmem_cache* c) {
        auto* x = static_cast<Ctx*>(p);
        const km::CacheInfo ci = x->heap->cache_info(c);
        x->out[ci.name] = CacheOrder{ci.objects_per_slab, 1u << ci.order};
      },
      &ctx);
  return ctx.out;
}

// 2 cpus: min_objects 12, so kmalloc-256 fits order 0 (16 objects) and kmalloc-512 order 1;
// 8 cpus: min_objects 20, order 1 (32) and order 2 (32), as linux-facts.md §4.3 lists.
TEST(NrCpusSlabOrders, MinObjectsFollowTheCount) {
  struct Case {
    unsigned cpus, size, objects, order;
  };
  for (const Case& c :
       {Case{2, 256, 16, 0}, Case{2, 512, 16, 1}, Case{2, 1024, 16, 2}, Case{8, 256, 32, 1},
        Case{8, 512, 32, 2}, Case{1, 256, 16, 0}, Case{1, 512, 8, 0}}) {
    km::Config cfg = small_auto();
    cfg.nr_cpus = c.cpus;
    km::Heap heap;
    ASSERT_TRUE(heap.init(cfg).ok);
    kmem_cache* s = heap.kmem_cache_create("order-probe", c.size, 0, 0, nullptr);
    ASSERT_NE(s, nullptr);
    const km::CacheInfo ci = heap.cache_info(s);
    EXPECT_EQ(ci.objects_per_slab, c.objects) << c.cpus << " cpus, size " << c.size;
    EXPECT_EQ(ci.order, c.order) << c.cpus << " cpus, size " << c.size;
    EXPECT_EQ(static_cast<int>(ci.order), km::model::slab::calc_order(c.size, cfg));
    heap.kmem_cache_destroy(s);
  }
}

// The default heap picks this machine's kernel's orders: every kmalloc cache of a default
// linux-6 heap has the order the model gives for the resolved count, and on a machine whose
// cpu count matches a checked-in /proc/slabinfo dump of a 6.7+ kernel, the row's order too.
TEST(NrCpusSlabOrders, DefaultHeapMatchesThisMachinesKernel) {
  km::Heap heap;
  const km::Config cfg = small_auto(km::Profile::Linux6);
  ASSERT_TRUE(heap.init(cfg).ok);
  const km::Config resolved = heap.config();
  const std::map<std::string, CacheOrder> orders = kmalloc_orders(heap);
  ASSERT_FALSE(orders.empty());
  // Compare the plain kmalloc-<n> caches with the model and, where a dump fits, the kernel.
  unsigned dump_cpus = 0;
  const auto rows = read_dump("slabinfo_6.18_2cpu.txt", dump_cpus);
  ASSERT_EQ(dump_cpus, 2u);
  const bool same_machine = resolved.nr_cpus == dump_cpus && resolved.slub_min_objects == 0;
  std::size_t compared = 0;
  for (const auto& [name, o] : orders) {
    if (name.rfind("kmalloc-", 0) != 0 || name.find("rcl") != std::string::npos)
      continue;
    const std::string n = name.substr(8);
    const unsigned size = static_cast<unsigned>(std::stoul(n)) * (n.back() == 'k' ? 1024u : 1u);
    const int model_order = km::model::slab::calc_order(size, cfg); // cfg: nr_cpus auto
    EXPECT_EQ(o.pages, 1u << model_order) << name;
    if (same_machine) {
      const auto row = rows.find(name);
      ASSERT_NE(row, rows.end()) << name;
      EXPECT_EQ(o.objects, row->second.first) << name << " vs the 6.18 2-cpu kernel";
      EXPECT_EQ(o.pages, row->second.second) << name << " vs the 6.18 2-cpu kernel";
      ++compared;
    }
  }
  if (same_machine)
    EXPECT_GE(compared, 13u);
  else
    std::printf("[ nr_cpus  ] %u cpus here: no checked-in dump of this count to compare\n",
                resolved.nr_cpus);
}

// ---- the limit: per-cpu state lives in the heap's metadata, sized by its own count

TEST(NrCpusLimit, MetadataGrowsWithTheHeapsCountOnly) {
  auto caches_bytes = [](unsigned n) {
    km::Config cfg = small_auto();
    cfg.arena_size = std::size_t{64} << 20;
    cfg.max_caches = 16;
    cfg.nr_cpus = n;
    km::Heap heap;
    const km::Status st = heap.init(cfg);
    EXPECT_TRUE(st.ok) << n << ": " << st.message;
    return heap.metadata_info().caches;
  };
  const std::size_t one = caches_bytes(1);
  const std::size_t many = caches_bytes(1024);
  const std::size_t most = caches_bytes(km::kMaxCpus); // the limit itself works
  // 16 descriptors: 16 cpu slabs per cpu (16 bytes each), plus the slot state (84 bytes), give
  // or take the 8-byte alignment of the bitmap after it.
  const std::size_t per_cpu =
      16 * sizeof(km::kmem_cache_cpu) +
      (km::SlabAllocator::slot_area_bytes(2) - km::SlabAllocator::slot_area_bytes(1));
  EXPECT_EQ(per_cpu, 16u * 16 + 84); // what config.h and README.md state
  auto near = [](std::size_t got, std::size_t want) { return got + 8 >= want && got <= want + 8; };
  EXPECT_PRED2(near, many - one, std::size_t{1023} * per_cpu);
  EXPECT_PRED2(near, most - one, std::size_t{km::kMaxCpus - 1} * per_cpu);
  // A heap of 1 cpu pays for 1, not for kMaxCpus: under 64 KiB of cache metadata here.
  EXPECT_LT(one, std::size_t{64} << 10);
}

TEST(NrCpusLimit, AManyCpuHeapServesEverySlot) {
  km::Config cfg = small_auto(km::Profile::Linux6);
  cfg.nr_cpus = 4096; // about 44 descriptors: 4 MiB of cpu slabs
  cfg.max_caches = 4;
  km::Heap heap;
  const km::Status st = heap.init(cfg);
  ASSERT_TRUE(st.ok) << st.message;
  EXPECT_EQ(heap.config().nr_cpus, 4096u);
  heap.set_cpu(4095); // the last own slot
  void* p = heap.kmalloc(100, GFP_KERNEL);
  ASSERT_NE(p, nullptr);
  heap.set_cpu(17);
  heap.kfree(p); // a remote free from another slot
  heap.flush_cpu_slabs();
  EXPECT_EQ(heap.validate(), 0u);
}

} // namespace
