// slab_layout_kernel_test.cpp - the slab order rule against real kernels' /proc/slabinfo.
//
// tests/data/slabinfo_<kernel>_<cpus>cpu.txt hold rows published by (or read from) real
// kernels, with a header saying where they come from, the kernel, its cpu count (what
// num_present_cpus() returned, which sets min_objects), its page size, which calculate_order
// rule the kernel version uses, and any row excluded with the reason. For every row the
// slabinfo objsize column is the stride s->size, so it is fed straight into the order rule;
// pagesperslab is 1 << s->oo's order and objperslab its object count.
//
// Two oracles are checked against the same rows:
//   the model      km::model::slab::calc_order under the kernel's rule
//   (model/slab_layout_spec.cpp); the allocator  a km::Heap with that page size and nr_cpus,
//   kmem_cache_create(stride) and
//                  cache_info().order / objects_per_slab. The allocator implements the 6.7+ rule
//                  (6.8 mm/slub.c), so rows of older kernels are checked against it only where
//                  the two rules agree; elsewhere it must match the model's 6.7 rule instead.
// A row that disagrees is reported with both predictions, so the failure says which side
// misreads the kernel.
#include "model/slab_layout_spec.h"
#include "slab/slab_layout.h"

#include "kmalloc/config.h"
#include "kmalloc/heap.h"
#include "kmalloc/slab.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#ifndef KMALLOC_TEST_DATA_DIR
#error "KMALLOC_TEST_DATA_DIR must name tests/data"
#endif

namespace {

namespace sl = km::model::slab;

struct Row {
  std::string name;
  unsigned objsize = 0; // s->size
  unsigned objperslab = 0;
  unsigned pagesperslab = 0;
};

struct Dump {
  std::string file;
  std::map<std::string, std::string> header;   // "# key: value" lines
  std::map<std::string, std::string> excluded; // "# exclude <name>: <reason>"
  std::vector<Row> rows;
  std::vector<Row> excluded_rows;

  unsigned number(const std::string& key) const {
    const auto it = header.find(key);
    return it == header.end() ? 0u : static_cast<unsigned>(std::stoul(it->second));
  }
  sl::KernelRule rule() const {
    return header.at("rule") == "linux66" ? sl::KernelRule::Linux66 : sl::KernelRule::Linux67;
  }
  // The cpu counts the kernel may have sized min_objects by: `cpus`, or when the dump gives
  // `cpus_max` (nr_cpu_ids not stated) one count per fls() class from cpus to cpus_max.
  std::vector<unsigned> cpu_counts() const {
    std::vector<unsigned> out{number("cpus")};
    for (unsigned n = 1; n != 0 && n <= number("cpus_max"); n <<= 1)
      if (n > out.front())
        out.push_back(n);
    return out;
  }
  km::Config config(unsigned nr_cpus) const {
    km::Config cfg = config();
    cfg.nr_cpus = nr_cpus;
    return cfg;
  }
  km::Config config() const {
    km::Config cfg;
    const unsigned page = number("page_size");
    cfg.page_shift = 0;
    while ((1u << cfg.page_shift) < page)
      ++cfg.page_shift;
    cfg.max_order = 10;
    cfg.nr_cpus = number("cpus");
    cfg.slub_min_order = number("slub_min_order");
    cfg.slub_max_order = number("slub_max_order");
    cfg.slub_min_objects = number("slub_min_objects");
    cfg.profile = km::Profile::None;
    cfg.arena_size = std::size_t{64} << 20;
    return cfg;
  }
};

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t");
  const auto e = s.find_last_not_of(" \t\r");
  return b == std::string::npos ? std::string{} : s.substr(b, e - b + 1);
}

Dump parse(const std::filesystem::path& path) {
  Dump d;
  d.file = path.filename().string();
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("# exclude ", 0) == 0) {
      const std::string rest = line.substr(10);
      const auto colon = rest.find(':');
      d.excluded[trim(rest.substr(0, colon))] = trim(rest.substr(colon + 1));
      continue;
    }
    if (line.rfind("# ", 0) == 0) {
      const auto colon = line.find(':');
      const std::string key = trim(line.substr(2, colon == std::string::npos ? 0 : colon - 2));
      static const std::set<std::string> kKeys = {
          "source",         "kernel",         "rule",
          "cpus",           "cpus_max",       "page_size",
          "slub_min_order", "slub_max_order", "slub_min_objects"};
      if (colon != std::string::npos && kKeys.count(key) != 0) {
        const bool fresh = d.header.emplace(key, trim(line.substr(colon + 1))).second;
        EXPECT_TRUE(fresh) << d.file << ": header key " << key << " given twice";
      }
      continue;
    }
    if (line.empty() || line[0] == '#' || line.rfind("slabinfo", 0) == 0)
      continue;
    std::istringstream fields(line);
    Row r;
    unsigned long active = 0, total = 0;
    if (!(fields >> r.name >> active >> total >> r.objsize >> r.objperslab >> r.pagesperslab))
      continue;
    (d.excluded.count(r.name) != 0 ? d.excluded_rows : d.rows).push_back(r);
  }
  return d;
}

std::vector<Dump> all_dumps() {
  std::vector<Dump> out;
  for (const auto& entry : std::filesystem::directory_iterator(KMALLOC_TEST_DATA_DIR)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind("slabinfo_", 0) == 0 && entry.path().extension() == ".txt")
      out.push_back(parse(entry.path()));
  }
  std::sort(out.begin(), out.end(), [](const Dump& a, const Dump& b) { return a.file < b.file; });
  return out;
}

const std::vector<Dump>& dumps() {
  static const std::vector<Dump> d = all_dumps();
  return d;
}

struct Prediction {
  int order = -1;
  unsigned objects = 0;
  bool matches(const Row& r) const {
    return order >= 0 && (1u << order) == r.pagesperslab && objects == r.objperslab;
  }
};

std::string text(const Prediction& p) {
  if (p.order < 0)
    return "refused";
  return std::to_string(p.objects) + " objs x " + std::to_string(1u << p.order) + " pages";
}

Prediction model_prediction(const km::Config& cfg, const Row& r, sl::KernelRule rule) {
  Prediction p;
  p.order = sl::calc_order(r.objsize, cfg, rule);
  if (p.order >= 0)
    p.objects = static_cast<unsigned>((std::uint64_t{1} << (cfg.page_shift + p.order)) / r.objsize);
  return p;
}

bool operator==(const Prediction& a, const Prediction& b) {
  return a.order == b.order && a.objects == b.objects;
}

// The heap refuses more than km::kMaxCpus cpus; beyond that the same min_objects is asked for
// through slub_min_objects (= 4 * (fls(cpus) + 1)), which is all the cpu count decides.
km::Config heap_config(const Dump& d, unsigned cpus) {
  km::Config cfg = d.config(cpus);
  if (cpus > km::kMaxCpus && cfg.slub_min_objects == 0) {
    unsigned fls = 0;
    for (unsigned v = cpus; v != 0; v >>= 1)
      ++fls;
    cfg.slub_min_objects = 4 * (fls + 1);
    cfg.nr_cpus = km::kMaxCpus;
  }
  return cfg;
}

Prediction allocator_prediction(km::Heap& heap, const Row& r) {
  Prediction p;
  kmem_cache* c = heap.kmem_cache_create("slabinfo-row", r.objsize, 0, 0, nullptr);
  if (c == nullptr)
    return p;
  const km::CacheInfo info = heap.cache_info(c);
  if (info.size == r.objsize) { // the stride must be the row's, or the comparison is moot
    p.order = static_cast<int>(info.order);
    p.objects = info.objects_per_slab;
  }
  heap.kmem_cache_destroy(c);
  return p;
}

struct Verdict {
  std::size_t exact = 0, exact_matched = 0;   // rows the cpu range does not affect
  std::size_t ranged = 0, ranged_matched = 0; // rows whose prediction depends on nr_cpu_ids
  std::vector<unsigned> cpus_fitting_all;     // cpu counts under which every row matches
};

Verdict judge(const Dump& d, const std::vector<std::vector<Prediction>>& by_cpus, const char* who) {
  Verdict v;
  const std::vector<unsigned> cpus = d.cpu_counts();
  std::vector<bool> fits(cpus.size(), true);
  for (std::size_t i = 0; i < d.rows.size(); ++i) {
    const Row& r = d.rows[i];
    bool same = true, any = false;
    for (std::size_t c = 0; c < cpus.size(); ++c) {
      same = same && by_cpus[c][i] == by_cpus[0][i];
      const bool m = by_cpus[c][i].matches(r);
      any = any || m;
      fits[c] = fits[c] && m;
    }
    if (same) {
      ++v.exact;
      if (any)
        ++v.exact_matched;
    } else {
      ++v.ranged;
      if (any)
        ++v.ranged_matched;
    }
    if (!any)
      ADD_FAILURE() << d.file << " " << r.name << " size " << r.objsize << ": kernel "
                    << r.objperslab << " objs x " << r.pagesperslab << " pages, " << who << " "
                    << text(by_cpus[0][i]) << " (" << cpus[0] << " cpus)";
  }
  for (std::size_t c = 0; c < cpus.size(); ++c)
    if (fits[c])
      v.cpus_fitting_all.push_back(cpus[c]);
  return v;
}

void print(const Dump& d, const Verdict& v, const char* who) {
  std::string fit;
  const std::vector<unsigned> all = d.cpu_counts();
  for (unsigned c : v.cpus_fitting_all) {
    // Each count stands for its fls() class: up to the next count, or cpus_max.
    const auto it = std::find(all.begin(), all.end(), c);
    const unsigned last = it + 1 == all.end() ? d.number("cpus_max") : *(it + 1) - 1;
    fit += (fit.empty() ? "" : ", ") + std::to_string(c) + ".." + std::to_string(last);
  }
  std::printf("[ %-9s ] %-26s %zu/%zu rows match", who, d.file.c_str(), v.exact_matched, v.exact);
  if (v.ranged != 0)
    std::printf(" exactly, %zu/%zu more within the nr_cpu_ids range; every row fits nr_cpu_ids %s",
                v.ranged_matched, v.ranged, fit.c_str());
  std::printf("\n");
}

TEST(SlabinfoData, AtLeastFortyRowsFromThreeKernels) {
  std::set<std::string> kernels;
  std::set<unsigned> cpus;
  std::size_t rows = 0;
  bool non_pow2 = false;
  for (const Dump& d : dumps()) {
    ASSERT_TRUE(d.header.count("kernel") && d.header.count("cpus") && d.header.count("rule") &&
                d.header.count("page_size") && d.header.count("source"))
        << d.file << ": header must give source, kernel, rule, cpus, page_size";
    for (const auto& [name, why] : d.excluded)
      EXPECT_FALSE(why.empty()) << d.file << ": row " << name << " excluded without a reason";
    kernels.insert(d.header.at("kernel"));
    cpus.insert(d.number("cpus"));
    for (const Row& r : d.rows) {
      // Only rows the cpu range cannot change count: they are checked exactly.
      bool same = true;
      for (unsigned n : d.cpu_counts())
        same = same && model_prediction(d.config(n), r, d.rule()) ==
                           model_prediction(d.config(), r, d.rule());
      if (!same)
        continue;
      ++rows;
      non_pow2 = non_pow2 || (r.objsize & (r.objsize - 1)) != 0;
    }
  }
  EXPECT_GE(rows, 40u);
  EXPECT_GE(kernels.size(), 3u);
  EXPECT_TRUE(non_pow2);
  EXPECT_TRUE(cpus.size() > 1 || (cpus.size() == 1 && *cpus.begin() != 8));
}

TEST(SlabinfoData, ModelPredictsEveryRow) {
  for (const Dump& d : dumps()) {
    std::vector<std::vector<Prediction>> by_cpus;
    for (unsigned n : d.cpu_counts()) {
      by_cpus.emplace_back();
      for (const Row& r : d.rows)
        by_cpus.back().push_back(model_prediction(d.config(n), r, d.rule()));
    }
    const Verdict v = judge(d, by_cpus, "model");
    print(d, v, "model");
    EXPECT_EQ(v.exact_matched, v.exact);
    EXPECT_EQ(v.ranged_matched, v.ranged);
    EXPECT_FALSE(v.cpus_fitting_all.empty()) << d.file << ": no single cpu count fits every row";
  }
}

// The allocator implements the 6.7+ rule (6.8 mm/slub.c). It must agree with the model's 6.7
// rule on every row, and with the kernel on every row of a 6.7+ kernel; rows of older kernels
// are held to it only where the kernel's (older) rule and the 6.7 rule agree.
TEST(SlabinfoData, AllocatorPredictsEveryRowOfItsRule) {
  for (const Dump& d : dumps()) {
    std::vector<std::vector<Prediction>> by_cpus;
    std::vector<bool> same_rule(d.rows.size(), true);
    for (unsigned n : d.cpu_counts()) {
      km::Heap heap;
      const km::Status st = heap.init(heap_config(d, n));
      ASSERT_TRUE(st.ok) << d.file << ": " << st.message;
      by_cpus.emplace_back();
      for (std::size_t i = 0; i < d.rows.size(); ++i) {
        const Row& r = d.rows[i];
        const Prediction a = allocator_prediction(heap, r);
        const Prediction m67 = model_prediction(d.config(n), r, sl::KernelRule::Linux67);
        EXPECT_TRUE(a == m67) << d.file << " " << r.name << " size " << r.objsize << " cpus " << n
                              << ": allocator " << text(a) << ", model (6.7 rule) " << text(m67);
        if (!(m67 == model_prediction(d.config(n), r, d.rule())))
          same_rule[i] = false;
        by_cpus.back().push_back(a);
      }
    }
    Dump held = d; // the rows the allocator's rule is held to
    held.rows.clear();
    std::vector<std::vector<Prediction>> held_by_cpus(by_cpus.size());
    for (std::size_t i = 0; i < d.rows.size(); ++i) {
      if (!same_rule[i])
        continue;
      held.rows.push_back(d.rows[i]);
      for (std::size_t c = 0; c < by_cpus.size(); ++c)
        held_by_cpus[c].push_back(by_cpus[c][i]);
    }
    const Verdict v = judge(held, held_by_cpus, "allocator");
    print(held, v, "allocator");
    if (held.rows.size() != d.rows.size())
      std::printf("[ allocator ] %-26s %zu rows not held: the kernel's older rule differs there\n",
                  d.file.c_str(), d.rows.size() - held.rows.size());
  }
}

TEST(SlabOrderRules, TheSixSevenRuleChangedLargeObjects) {
  // 6.7's "attempt to find layouts up to 1/2 waste" keeps the min_objects order for objects
  // where no order up to slub_max_order wastes at most 1/4: 10928 bytes, 8 cpus. min_objects is
  // capped at the 2 objects an order-3 slab holds; <= 6.6 then lowered it to 1 and took the
  // order one object needs (2: one object, 5456 bytes left); 6.7+ takes order 3 (2 objects).
  km::Config cfg;
  cfg.nr_cpus = 8;
  EXPECT_EQ(sl::calc_order(10928, cfg, sl::KernelRule::Linux66), 2);
  EXPECT_EQ(sl::calc_order(10928, cfg, sl::KernelRule::Linux67), 3);
  // With slub_max_order 1 a 2736-byte object: <= 6.6 settles for 1 object in an order-0 slab,
  // 6.7+ keeps the order the 2-object minimum needs.
  cfg.slub_max_order = 1;
  EXPECT_EQ(sl::calc_order(2736, cfg, sl::KernelRule::Linux66), 0);
  EXPECT_EQ(sl::calc_order(2736, cfg, sl::KernelRule::Linux67), 1);
  // Where neither limit bites, the rules agree (the kmalloc sizes of every dump).
  cfg.slub_max_order = 3;
  for (unsigned size : {8u, 96u, 192u, 256u, 512u, 1024u, 4096u, 8192u})
    EXPECT_EQ(sl::calc_order(size, cfg, sl::KernelRule::Linux66),
              sl::calc_order(size, cfg, sl::KernelRule::Linux67))
        << size;
}

// The model and the allocator state the order rule in different forms; they must agree on
// every stride and on every parameter set the tests and fuzzers have used (the old fuzz_slab:
// nr_cpus 1..64, slub_min_objects 0 or 1..256, slub_max_order 0..7, page_shift 12/14/16, small
// max_order). The heap clamps slub_min_order and slub_max_order to max_order (cache_registry.cpp)
// before calculate_order; the model clamps them itself.
TEST(SlabOrderForms, ModelAndAllocatorAgreeOnEveryStride) {
  std::size_t compared = 0;
  for (unsigned page_shift : {12u, 14u, 16u})
    for (unsigned max_order : {0u, 1u, 2u, 3u, 5u, 10u})
      for (unsigned min_order : {0u, 1u, 3u})
        for (unsigned slub_max : {0u, 1u, 3u, 7u})
          for (unsigned min_objects : {0u, 1u, 7u, 256u})
            for (unsigned cpus : {1u, 5u, 64u}) {
              km::Config cfg;
              cfg.page_shift = page_shift;
              cfg.max_order = max_order;
              cfg.nr_cpus = cpus;
              cfg.slub_min_order = min_order;
              cfg.slub_max_order = slub_max;
              cfg.slub_min_objects = min_objects;
              km::SlabOrderParams p{};
              p.page_shift = page_shift;
              p.max_order = max_order;
              p.nr_cpus = cpus;
              p.slub_min_order = std::min(min_order, max_order);
              p.slub_max_order = std::min(slub_max, max_order);
              p.slub_min_objects = min_objects;
              p.cache_line_size = 64;
              const unsigned largest = 1u << (page_shift + max_order);
              for (unsigned size = 8; size <= largest;
                   size += size < 4096 ? 8 : std::max(520u, size / 64 / 8 * 8)) {
                ++compared;
                ASSERT_EQ(sl::calc_order(size, cfg), km::calculate_order(size, p))
                    << "size " << size << " cpus " << cpus << " page_shift " << page_shift
                    << " max_order " << max_order << " slub_min_order " << min_order
                    << " slub_max_order " << slub_max << " slub_min_objects " << min_objects;
              }
            }
  EXPECT_GT(compared, 500000u);
}

TEST(SlabAlignmentForms, ModelAndAllocatorAgree) {
  const slab_flags_t flag_sets[] = {0, SLAB_HWCACHE_ALIGN};
  for (unsigned line : {8u, 16u, 32u, 64u, 128u, 256u})
    for (slab_flags_t f : flag_sets)
      for (unsigned align : {0u, 1u, 2u, 4u, 8u, 16u, 64u, 256u, 4096u})
        for (unsigned size = 1; size <= 600; ++size)
          ASSERT_EQ(sl::calc_alignment(f, align, size, line),
                    km::calculate_alignment(f, align, size, line))
              << "flags " << f << " align " << align << " size " << size << " line " << line;
}

} // namespace
