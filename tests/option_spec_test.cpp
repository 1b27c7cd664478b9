// option_spec_test.cpp - model/option_spec (the option grammar written from the documentation)
// against km::parse_options() + km::validate_config(): a hand-written table whose expectations
// come from the docs (both the spec and the allocator must match it), then a differential run of
// random option strings from a fixed seed.
#include "model/option_spec.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "kmalloc/config.h"

namespace {

using km::model::predict_options;

std::string describe(const km::Config& c) {
  char buf[400];
  std::snprintf(buf, sizeof buf,
                "ps=%u mo=%u arena=%zu dma=%zu cpus=%u smin=%u smax=%u sobj=%u cls=%u mc=%u "
                "hardened=%d seed=%llu profile=%s min_size=%u",
                c.page_shift, c.max_order, c.arena_size, c.dma_zone_size, c.nr_cpus,
                c.slub_min_order, c.slub_max_order, c.slub_min_objects, c.cache_line_size,
                c.max_caches, int(c.freelist_hardened), (unsigned long long)c.random_seed,
                km::profile_name(c.profile), c.kmalloc_min_size);
  return buf;
}

// describe() prints every field, so equal strings mean equal Configs.
bool same(const km::Config& a, const km::Config& b) {
  return describe(a) == describe(b);
}

struct Real {
  bool ok = false;
  std::string key; // Status::option, with "options" (no key) mapped to ""
  std::string field;
  km::Config cfg;
};

Real run_real(const std::string& text, const km::Config& base) {
  Real r;
  r.cfg = base;
  km::Status st;
  r.ok = km::parse_options(text.c_str(), r.cfg, st);
  const bool parsed = r.ok;
  if (r.ok)
    r.ok = km::validate_config(r.cfg, st);
  if (!r.ok) {
    r.key = st.option != nullptr ? st.option : "(null)";
    r.field = st.field != nullptr ? st.field : "(null)";
    if (r.key == "options")
      r.key.clear();
    if (!parsed) { // documented: on error cfg is unchanged
      EXPECT_TRUE(same(r.cfg, base)) << "parse error changed cfg: " << text;
    }
  }
  return r;
}

struct Case {
  const char* text;
  bool ok;
  const char* key; // when !ok
};

// Expectations written by hand from config.h / kmalloc.h / README.md; "obs" = observed rule.
const Case kCases[] = {
    {"", true, ""},
    {"profile=linux-6", true, ""},
    {"profile=linux-4-slab", true, ""},
    {"profile=none", true, ""},
    {"profile=Linux-6", false, "profile"},
    {"profile=", false, "profile"},
    {"profile=linux-6 ", false, "profile"}, // obs: no trimming
    {"arena=256M", true, ""},
    {"arena=1g", true, ""}, // obs: suffixes in either case
    {"arena=32k", true, ""},
    {"arena=1T", false, "arena"},
    {"arena=1MB", false, "arena"},
    {"arena=0x100000", false, "arena"},
    {"arena=", false, "arena"},
    {"arena=4097", false, "arena"},         // a multiple of the page size
    {"arena=28K", false, "arena"},          // obs: at least 8 pages
    {"arena=16384G", false, "arena"},       // obs: at most 2^31 pages
    {"arena=17179869184G", false, "arena"}, // obs: overflows 64 bits: a bad size
    {"dma=0", true, ""},
    {"dma=64M", false, "dma"}, // README: must be smaller than arena
    {"dma=63M", true, ""},
    {"dma=4095", false, "dma"}, // obs: a multiple of the page size
    {"page_shift=14", true, ""},
    {"page_shift=16,arena=1M", true, ""},
    {"page_shift=13", false, "page_shift"},
    {"page_shift=16,dma=4K", false, "dma"},
    {"max_order=16", true, ""},
    {"max_order=17", false, "max_order"},
    {"max_order=-1", false, "max_order"},
    {"max_order=+3", false, "max_order"},
    {"max_order=010", true, ""},
    {"profile=linux-6,max_order=0", false, "max_order"}, // obs
    {"profile=linux-4-slab,max_order=0", true, ""},
    {"nr_cpus=0", true, ""},    // kNrCpusAuto (config.h)
    {"nr_cpus=auto", true, ""}, // the same
    {"nr_cpus=AUTO", false, "nr_cpus"},
    {"nr_cpus=auto8", false, "nr_cpus"},
    {"nr_cpus=", false, "nr_cpus"},
    {"nr_cpus=64", true, ""},
    {"nr_cpus=65", true, ""},
    {"nr_cpus=8192", true, ""}, // kMaxCpus
    {"nr_cpus=8193", false, "nr_cpus"},
    {"nr_cpus=1048577", false, "nr_cpus"}, // obs: not a small number
    {"cache_line_size=8", true, ""},
    {"cache_line_size=48", false, "cache_line_size"},
    {"cache_line_size=8192", false, "cache_line_size"},
    {"min_size=64", true, ""},
    {"min_size=128,profile=linux-6", true, ""},
    {"min_size=7", false, "min_size"},
    {"profile=linux-4-slab,min_size=16", false, "min_size"}, // obs: 32 at least
    {"slub_min_order=3", true, ""},
    {"slub_min_order=4", false, "slub_min_order"}, // obs: above slub_max_order 3
    {"slub_max_order=11", true, ""},               // clamped to max_order, not rejected
    {"slub_max_order=17", false, "slub_max_order"},
    {"slub_min_objects=32768", false, "slub_min_objects"},
    {"max_caches=4096", true, ""},
    {"max_caches=4097", false, "max_caches"},
    {"hardened=0", true, ""},
    {"hardened=2", false, "hardened"},
    {"hardened=true", false, "hardened"},
    {"seed=18446744073709551615", true, ""},
    {"seed=18446744073709551616", false, "seed"},
    {"foo=1", false, ""},
    {"ARENA=1M", false, ""},
    {" arena=1M", false, ""},
    {"arena", false, ""},
    {"=1", false, ""},
    {",", true, ""},
    {"arena=1M,,dma=0,", true, ""},
    {"arena=1M,arena=2M", true, ""},
    {"arena=1=2", false, "arena"},
    {"max_order=x,foo=1", false, "max_order"},
    {"foo=1,max_order=x", false, ""},
    {"max_order=x,profile=bad", false, "profile"}, // obs: profile= is taken first
    {"profile=bad,junk", false, "profile"},        // obs: pass 1 runs in text order
    {"junk,profile=bad", false, ""},
    {"page_shift=13,nr_cpus=8193", false, "page_shift"},
    {"nr_cpus=8193,page_shift=13", false, "page_shift"}, // obs: validation order, not text order
};

TEST(OptionSpec, HandWrittenTable) {
  EXPECT_GE(sizeof kCases / sizeof kCases[0], 40u);
  for (const Case& c : kCases) {
    const km::model::OptionPrediction p = predict_options(c.text);
    const Real r = run_real(c.text, km::Config{});
    EXPECT_EQ(p.ok, c.ok) << "spec on '" << c.text << "'";
    EXPECT_EQ(r.ok, c.ok) << "allocator on '" << c.text << "'";
    if (!c.ok) {
      EXPECT_EQ(p.key, c.key) << "spec on '" << c.text << "'";
      EXPECT_EQ(r.key, c.key) << "allocator on '" << c.text << "'";
    }
  }
}

TEST(OptionSpec, ValuesAndProfilePlacement) {
  km::Config base;
  base.kmalloc_min_size = 64;
  base.profile = km::Profile::Linux4Slab;
  base.max_order = 7;
  auto p = predict_options("min_size=128,profile=linux-6,arena=2g,dma=4k,seed=9,hardened=0", base);
  ASSERT_TRUE(p.ok);
  EXPECT_EQ(p.cfg.profile, km::Profile::Linux6);
  EXPECT_EQ(p.cfg.kmalloc_min_size, 128u); // profile= applied first, wherever it stands
  EXPECT_EQ(p.cfg.max_order, 7u);          // fields the text does not name keep the base value
  EXPECT_EQ(p.cfg.arena_size, std::size_t{2} << 30);
  EXPECT_EQ(p.cfg.dma_zone_size, 4096u);
  EXPECT_EQ(p.cfg.random_seed, 9u);
  EXPECT_FALSE(p.cfg.freelist_hardened);
  EXPECT_EQ(predict_options("profile=none", base).cfg.kmalloc_min_size, 0u); // obs
}

// Status documents `field` as the offending Config field (README: "names the option key and the
// Config field behind it"): kmalloc_min_size, set by the option min_size.
TEST(OptionSpec, ValidateNamesTheConfigFieldOfMinSize) {
  const Real r = run_real("min_size=7", km::Config{});
  ASSERT_FALSE(r.ok);
  EXPECT_EQ(r.field, "kmalloc_min_size");
}

// ---- differential ----

std::string pick(std::mt19937_64& rng, const std::vector<std::string>& v) {
  return v[rng() % v.size()];
}

std::string random_value(std::mt19937_64& rng) {
  static const std::vector<std::string> common = {"0",
                                                  "1",
                                                  "2",
                                                  "3",
                                                  "4",
                                                  "7",
                                                  "8",
                                                  "10",
                                                  "12",
                                                  "13",
                                                  "14",
                                                  "16",
                                                  "17",
                                                  "32",
                                                  "64",
                                                  "128",
                                                  "256",
                                                  "4096",
                                                  "4097",
                                                  "32767",
                                                  "32768",
                                                  "1048576",
                                                  "1048577",
                                                  "18446744073709551615",
                                                  "18446744073709551616",
                                                  "1K",
                                                  "4k",
                                                  "32K",
                                                  "28K",
                                                  "1M",
                                                  "16m",
                                                  "64M",
                                                  "256M",
                                                  "1G",
                                                  "2g",
                                                  "8192G",
                                                  "8193G",
                                                  "17179869184G",
                                                  "0K",
                                                  "K",
                                                  "",
                                                  "-1",
                                                  "+1",
                                                  "0x10",
                                                  " 1",
                                                  "1 ",
                                                  "1MB",
                                                  "true",
                                                  "010",
                                                  "linux-6",
                                                  "linux-4-slab",
                                                  "none",
                                                  "Linux-6",
                                                  "=1"};
  switch (rng() % 4) {
  case 0: { // random digits, sometimes with a suffix
    std::string s;
    const int n = 1 + int(rng() % 22);
    for (int i = 0; i < n; i++)
      s += char('0' + rng() % 10);
    if (rng() % 3 == 0)
      s += "KMGkmgT"[rng() % 7];
    return s;
  }
  case 1: { // junk
    static const char junk[] = "0123456789KMGkmgx=- +_";
    std::string s;
    const int n = int(rng() % 6);
    for (int i = 0; i < n; i++)
      s += junk[rng() % (sizeof junk - 1)];
    return s;
  }
  default: return pick(rng, common);
  }
}

// A value that is often valid for `key` (so the success path is reached), else random_value().
std::string value_for(std::mt19937_64& rng, const std::string& key) {
  if (rng() % 2 == 0)
    return random_value(rng);
  if (key == "profile")
    return pick(rng, {"linux-6", "linux-4-slab", "none"});
  if (key == "arena")
    return pick(rng, {"32K", "1M", "8m", "64M", "256M", "1G", "8192G", "1048576"});
  if (key == "dma")
    return pick(rng, {"0", "4K", "64k", "1M", "16M", "18446744073709551615"});
  if (key == "page_shift")
    return pick(rng, {"12", "14", "16", "13", "64", "65"});
  if (key == "max_order" || key == "slub_min_order" || key == "slub_max_order")
    return std::to_string(rng() % 18);
  if (key == "min_size")
    return pick(rng, {"0", "8", "16", "32", "64", "128", "256", "512"});
  if (key == "nr_cpus")
    return rng() % 8 == 0 ? pick(rng, {"auto", "8192", "8193", "Auto"})
                          : std::to_string(rng() % 70);
  if (key == "cache_line_size")
    return std::to_string(std::uint64_t{1} << (rng() % 14));
  if (key == "hardened")
    return pick(rng, {"0", "1"});
  return std::to_string(rng() % 5000); // slub_min_objects, max_caches, seed, unknown keys
}

std::string random_item(std::mt19937_64& rng) {
  static const std::vector<std::string> keys = {"profile",
                                                "arena",
                                                "dma",
                                                "page_shift",
                                                "max_order",
                                                "min_size",
                                                "nr_cpus",
                                                "slub_min_order",
                                                "slub_max_order",
                                                "slub_min_objects",
                                                "cache_line_size",
                                                "max_caches",
                                                "hardened",
                                                "seed",
                                                "foo",
                                                "Arena",
                                                " dma",
                                                ""};
  const unsigned r = rng() % 30;
  if (r == 0)
    return ""; // empty item
  if (r == 1)
    return pick(rng, keys); // no '='
  const std::string key = r < 4 ? pick(rng, keys) : pick(rng, {keys.begin(), keys.begin() + 14});
  return key + "=" + value_for(rng, key);
}

km::Config random_base(std::mt19937_64& rng) {
  km::Config c;
  if (rng() % 8 != 0)
    return c;
  static const unsigned small[] = {0, 1, 3, 8, 12, 14, 16, 17, 32, 64, 4096, 40000};
  c.page_shift = small[rng() % 12];
  c.max_order = small[rng() % 12];
  c.arena_size = std::size_t{1} << (12 + rng() % 24);
  c.dma_zone_size = rng() % 2 ? km::kDmaZoneDefault : std::size_t{1} << (12 + rng() % 24);
  c.nr_cpus = small[rng() % 12];
  c.slub_min_order = small[rng() % 6];
  c.slub_max_order = small[rng() % 8];
  c.cache_line_size = small[rng() % 12];
  c.kmalloc_min_size = small[rng() % 12];
  c.profile = static_cast<km::Profile>(rng() % 3);
  return c;
}

TEST(OptionSpec, DifferentialAgainstParseOptions) {
  std::mt19937_64 rng(20261202);
  const int kCases = 20000;
  int accepted = 0, mismatches = 0;
  for (int i = 0; i < kCases && mismatches < 20; i++) {
    std::string text;
    const int n = int(rng() % 5);
    for (int j = 0; j < n; j++)
      text += (j ? "," : "") + random_item(rng);
    const km::Config base = random_base(rng);
    const km::model::OptionPrediction p = predict_options(text, base);
    const Real r = run_real(text, base);
    bool bad = p.ok != r.ok || (!p.ok && p.key != r.key) || (p.ok && !same(p.cfg, r.cfg));
    accepted += r.ok;
    if (bad) {
      mismatches++;
      ADD_FAILURE() << "text '" << text << "' base {" << describe(base) << "}\n  spec: "
                    << (p.ok ? "ok " + describe(p.cfg) : "error key '" + p.key + "'")
                    << "\n  real: "
                    << (r.ok ? "ok " + describe(r.cfg) : "error key '" + r.key + "'");
    }
  }
  std::printf("option differential: %d cases, %d accepted, %d mismatches\n", kCases, accepted,
              mismatches);
  EXPECT_EQ(mismatches, 0);
  EXPECT_GT(accepted, kCases / 20); // the generator must reach the success path often enough
}

} // namespace
