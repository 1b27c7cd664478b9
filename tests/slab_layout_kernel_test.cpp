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
//   the model      km::model::slab::calc_order under the kernel's rule (model/slab_model.cpp);
//   the allocator  a km::Heap with that page size and nr_cpus, kmem_cache_create(stride) and
//                  cache_info().order / objects_per_slab. The allocator implements the 6.7+ rule
//                  (6.8 mm/slub.c), so rows of older kernels are checked against it only where
//                  the two rules agree; elsewhere it must match the model's 6.7 rule instead.
// A row that disagrees is reported with both predictions, so the failure says which side
// misreads the kernel.
#include "model/slab_model.h"
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
      if (colon != std::string::npos && key.find(' ') == std::string::npos && !key.empty())
        d.header.emplace(key, trim(line.substr(colon + 1)));
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

Prediction model_prediction(const Dump& d, const Row& r, sl::KernelRule rule) {
  const km::Config cfg = d.config();
  Prediction p;
  p.order = sl::calc_order(r.objsize, cfg, rule);
  if (p.order >= 0)
    p.objects = static_cast<unsigned>((std::uint64_t{1} << (cfg.page_shift + p.order)) / r.objsize);
  return p;
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
    rows += d.rows.size();
    for (const Row& r : d.rows)
      non_pow2 = non_pow2 || (r.objsize & (r.objsize - 1)) != 0;
  }
  EXPECT_GE(rows, 40u);
  EXPECT_GE(kernels.size(), 3u);
  EXPECT_TRUE(non_pow2);
  EXPECT_TRUE(cpus.size() > 1 || (cpus.size() == 1 && *cpus.begin() != 8));
}

TEST(SlabinfoData, ModelPredictsEveryRow) {
  for (const Dump& d : dumps()) {
    std::size_t matched = 0;
    for (const Row& r : d.rows) {
      const Prediction m = model_prediction(d, r, d.rule());
      if (m.matches(r))
        ++matched;
      else
        ADD_FAILURE() << d.file << " " << r.name << " size " << r.objsize << ": kernel "
                      << r.objperslab << " objs x " << r.pagesperslab << " pages, model "
                      << text(m);
    }
    std::printf("[ model     ] %-32s %zu/%zu rows match (%zu excluded)\n", d.file.c_str(), matched,
                d.rows.size(), d.excluded_rows.size());
  }
}

TEST(SlabinfoData, AllocatorPredictsEveryRowOfItsRule) {
  for (const Dump& d : dumps()) {
    km::Heap heap;
    const km::Status st = heap.init(d.config());
    ASSERT_TRUE(st.ok) << d.file << ": " << st.message;
    std::size_t matched = 0, checked = 0;
    for (const Row& r : d.rows) {
      const Prediction a = allocator_prediction(heap, r);
      const Prediction m67 = model_prediction(d, r, sl::KernelRule::Linux67);
      // Whatever the kernel, the allocator is the 6.7+ rule.
      EXPECT_EQ(a.order, m67.order) << d.file << " " << r.name << " size " << r.objsize;
      if (d.rule() == sl::KernelRule::Linux66 && !m67.matches(r))
        continue; // the kernel used the older rule here; the allocator does not claim it
      ++checked;
      if (a.matches(r))
        ++matched;
      else
        ADD_FAILURE() << d.file << " " << r.name << " size " << r.objsize << ": kernel "
                      << r.objperslab << " objs x " << r.pagesperslab << " pages, allocator "
                      << text(a) << ", model " << text(model_prediction(d, r, d.rule()));
    }
    std::printf("[ allocator ] %-32s %zu/%zu rows match (%zu of %zu rows are the 6.7 rule's)\n",
                d.file.c_str(), matched, checked, checked, d.rows.size());
  }
}

// The model and the allocator state the order rule in different forms; they must agree on
// every stride and on every parameter set the tests and fuzzers use.
TEST(SlabOrderForms, ModelAndAllocatorAgreeOnEveryStride) {
  const unsigned cpus[] = {1, 2, 3, 4, 6, 8, 16, 64, 256};
  struct Params {
    unsigned page_shift, min_order, max_order, min_objects;
  };
  const Params params[] = {{12, 0, 3, 0}, {12, 0, 0, 0},  {12, 1, 3, 0},  {12, 0, 1, 0},
                           {12, 0, 5, 0}, {12, 0, 3, 4},  {12, 2, 2, 0},  {14, 0, 3, 0},
                           {16, 0, 3, 0}, {12, 0, 10, 0}, {12, 0, 3, 100}};
  for (const Params& pr : params) {
    for (unsigned n : cpus) {
      km::Config cfg;
      cfg.page_shift = pr.page_shift;
      cfg.max_order = 10;
      cfg.nr_cpus = n;
      cfg.slub_min_order = pr.min_order;
      cfg.slub_max_order = pr.max_order;
      cfg.slub_min_objects = pr.min_objects;
      km::SlabOrderParams p{};
      p.page_shift = cfg.page_shift;
      p.max_order = cfg.max_order;
      p.nr_cpus = n;
      p.slub_min_order = cfg.slub_min_order;
      p.slub_max_order = cfg.slub_max_order;
      p.slub_min_objects = cfg.slub_min_objects;
      p.cache_line_size = 64;
      for (unsigned size = 8; size <= (1u << 16); size += (size < 8192 ? 8 : 104)) {
        ASSERT_EQ(sl::calc_order(size, cfg), km::calculate_order(size, p))
            << "size " << size << " cpus " << n << " page_shift " << pr.page_shift
            << " slub_min_order " << pr.min_order << " slub_max_order " << pr.max_order
            << " slub_min_objects " << pr.min_objects;
      }
    }
  }
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
