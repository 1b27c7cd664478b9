// options_test.cpp - km::parse_options() (the kmalloc_init / KMALLOC_OPTIONS syntax): every key,
// size suffixes, where profile= takes effect, and errors that name the key and leave the Config
// unchanged. Then Heap::init on parsed options: bad combinations are rejected naming the field,
// and the exact validate_config() message of every field the slab layer and the front end added.
#include "kmalloc/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "kmalloc/heap.h"

namespace {

using testing::HasSubstr;
using testing::StartsWith;

constexpr std::size_t KiB = 1024;
constexpr std::size_t MiB = 1024 * 1024;
constexpr std::size_t GiB = 1024 * MiB;

// Field-by-field comparison (Config has padding, so no memcmp).
bool same(const km::Config& a, const km::Config& b) {
  return a.page_shift == b.page_shift && a.max_order == b.max_order &&
         a.arena_size == b.arena_size && a.dma_zone_size == b.dma_zone_size &&
         a.nr_cpus == b.nr_cpus && a.slub_min_order == b.slub_min_order &&
         a.slub_max_order == b.slub_max_order && a.slub_min_objects == b.slub_min_objects &&
         a.cache_line_size == b.cache_line_size && a.max_caches == b.max_caches &&
         a.freelist_hardened == b.freelist_hardened && a.random_seed == b.random_seed &&
         a.profile == b.profile && a.kmalloc_min_size == b.kmalloc_min_size;
}

// A Config with every field away from its default, to see that errors change nothing.
km::Config unusual() {
  km::Config c;
  c.page_shift = 14;
  c.max_order = 7;
  c.arena_size = 48 * MiB;
  c.dma_zone_size = 4 * MiB;
  c.nr_cpus = 3;
  c.slub_min_order = 1;
  c.slub_max_order = 2;
  c.slub_min_objects = 5;
  c.cache_line_size = 32;
  c.max_caches = 17;
  c.freelist_hardened = false;
  c.random_seed = 99;
  c.profile = km::Profile::Linux4Slab;
  c.kmalloc_min_size = 64;
  return c;
}

km::Config parsed(const char* text, km::Config start = km::Config{}) {
  km::Status st;
  EXPECT_TRUE(km::parse_options(text, start, st)) << text << ": " << st.message;
  EXPECT_TRUE(st.ok);
  EXPECT_EQ(st.field, nullptr);
  return start;
}

// Parsing fails, `out` names `field` (and the message starts with it and contains `text_in_msg`),
// and the Config is untouched.
void expect_parse_error(const char* text, const char* field, const std::string& text_in_msg) {
  SCOPED_TRACE(text);
  const km::Config before = unusual();
  km::Config cfg = before;
  km::Status st;
  EXPECT_FALSE(km::parse_options(text, cfg, st));
  EXPECT_FALSE(st.ok);
  ASSERT_NE(st.field, nullptr);
  EXPECT_STREQ(st.field, field);
  EXPECT_THAT(std::string(st.message), StartsWith(std::string(field) + ":"));
  EXPECT_THAT(std::string(st.message), HasSubstr(text_in_msg));
  EXPECT_TRUE(same(cfg, before)) << "the Config changed";
}

// ---- keys

TEST(ParseOptions, EveryKey) {
  const km::Config c =
      parsed("profile=linux-4-slab,arena=32M,dma=8M,page_shift=14,max_order=8,min_size=64,"
             "nr_cpus=4,slub_min_order=1,slub_max_order=2,slub_min_objects=7,cache_line_size=128,"
             "max_caches=9,hardened=0,seed=42");
  EXPECT_EQ(c.profile, km::Profile::Linux4Slab);
  EXPECT_EQ(c.arena_size, 32 * MiB);
  EXPECT_EQ(c.dma_zone_size, 8 * MiB);
  EXPECT_EQ(c.page_shift, 14u);
  EXPECT_EQ(c.max_order, 8u);
  EXPECT_EQ(c.kmalloc_min_size, 64u);
  EXPECT_EQ(c.nr_cpus, 4u);
  EXPECT_EQ(c.slub_min_order, 1u);
  EXPECT_EQ(c.slub_max_order, 2u);
  EXPECT_EQ(c.slub_min_objects, 7u);
  EXPECT_EQ(c.cache_line_size, 128u);
  EXPECT_EQ(c.max_caches, 9u);
  EXPECT_FALSE(c.freelist_hardened);
  EXPECT_EQ(c.random_seed, 42u);
}

TEST(ParseOptions, EachKeyAloneChangesOnlyItsField) {
  const km::Config base = unusual();
  struct Case {
    const char* text;
    void (*apply)(km::Config&);
  };
  const Case cases[] = {
      {"arena=1G", [](km::Config& c) { c.arena_size = GiB; }},
      {"dma=0", [](km::Config& c) { c.dma_zone_size = 0; }},
      {"page_shift=16", [](km::Config& c) { c.page_shift = 16; }},
      {"max_order=0", [](km::Config& c) { c.max_order = 0; }},
      {"min_size=0", [](km::Config& c) { c.kmalloc_min_size = 0; }},
      {"nr_cpus=64", [](km::Config& c) { c.nr_cpus = 64; }},
      {"nr_cpus=8192", [](km::Config& c) { c.nr_cpus = km::kMaxCpus; }},
      {"nr_cpus=auto", [](km::Config& c) { c.nr_cpus = km::kNrCpusAuto; }},
      {"nr_cpus=0", [](km::Config& c) { c.nr_cpus = km::kNrCpusAuto; }},
      {"slub_min_order=0", [](km::Config& c) { c.slub_min_order = 0; }},
      {"slub_max_order=10", [](km::Config& c) { c.slub_max_order = 10; }},
      {"slub_min_objects=32767", [](km::Config& c) { c.slub_min_objects = 32767; }},
      {"cache_line_size=4096", [](km::Config& c) { c.cache_line_size = 4096; }},
      {"max_caches=4096", [](km::Config& c) { c.max_caches = 4096; }},
      {"hardened=1", [](km::Config& c) { c.freelist_hardened = true; }},
      {"seed=18446744073709551615", [](km::Config& c) { c.random_seed = UINT64_MAX; }},
      {"seed=0", [](km::Config& c) { c.random_seed = 0; }},
  };
  for (const Case& k : cases) {
    km::Config want = base;
    k.apply(want);
    EXPECT_TRUE(same(parsed(k.text, base), want)) << k.text;
  }
}

TEST(ParseOptions, ProfileValues) {
  EXPECT_EQ(parsed("profile=linux-6").profile, km::Profile::Linux6);
  EXPECT_EQ(parsed("profile=linux-4-slab").profile, km::Profile::Linux4Slab);
  EXPECT_EQ(parsed("profile=none", unusual()).profile, km::Profile::None);
  EXPECT_STREQ(km::profile_name(km::Profile::Linux6), "linux-6");
  EXPECT_STREQ(km::profile_name(km::Profile::Linux4Slab), "linux-4-slab");
  EXPECT_STREQ(km::profile_name(km::Profile::None), "none");
}

// Sizes take K, M or G (binary units, either case); plain numbers are bytes.
TEST(ParseOptions, SizeSuffixes) {
  struct Row {
    const char* text;
    std::size_t bytes;
  };
  for (const Row& r :
       {Row{"arena=4096", 4096}, Row{"arena=64k", 64 * KiB}, Row{"arena=64K", 64 * KiB},
        Row{"arena=3m", 3 * MiB}, Row{"arena=3M", 3 * MiB}, Row{"arena=2g", 2 * GiB},
        Row{"arena=2G", 2 * GiB}, Row{"arena=0", 0}, Row{"arena=0M", 0},
        Row{"arena=16777215G", 16777215 * GiB}}) {
    EXPECT_EQ(parsed(r.text).arena_size, r.bytes) << r.text;
  }
  EXPECT_EQ(parsed("dma=16M").dma_zone_size, 16 * MiB);
  EXPECT_EQ(parsed("dma=512K").dma_zone_size, 512 * KiB);
  // Only sizes take suffixes.
  expect_parse_error("max_caches=1K", "max_caches", "'1K'");
  expect_parse_error("seed=1M", "seed", "'1M'");
}

// "profile= applies its defaults first, wherever it stands."
TEST(ParseOptions, ProfileAppliesItsDefaultsFirstWhereverItStands) {
  const km::Config before = parsed("min_size=64,profile=linux-6");
  const km::Config after = parsed("profile=linux-6,min_size=64");
  EXPECT_EQ(before.kmalloc_min_size, 64u) << "profile= must not undo an earlier key";
  EXPECT_TRUE(same(before, after));
  EXPECT_EQ(before.profile, km::Profile::Linux6);
  // The same with every key around it.
  const km::Config mixed =
      parsed("arena=32M,min_size=128,page_shift=14,profile=linux-4-slab,max_order=8");
  EXPECT_EQ(mixed.profile, km::Profile::Linux4Slab);
  EXPECT_EQ(mixed.kmalloc_min_size, 128u);
  EXPECT_EQ(mixed.arena_size, 32 * MiB);
  EXPECT_EQ(mixed.page_shift, 14u);
  EXPECT_EQ(mixed.max_order, 8u);
  // A profile resets what it owns (KMALLOC_MIN_SIZE back to the profile's) ...
  EXPECT_EQ(parsed("profile=linux-6", unusual()).kmalloc_min_size, 0u);
  // ... and leaves everything else alone.
  km::Config want = unusual();
  want.profile = km::Profile::Linux6;
  want.kmalloc_min_size = 0;
  EXPECT_TRUE(same(parsed("profile=linux-6", unusual()), want));
  // Without profile= the profile's field stays.
  EXPECT_EQ(parsed("arena=32M", unusual()).kmalloc_min_size, 64u);
  // The last profile= wins.
  EXPECT_EQ(parsed("profile=linux-4-slab,profile=linux-6").profile, km::Profile::Linux6);
}

TEST(ParseOptions, LaterKeysWin) {
  EXPECT_EQ(parsed("arena=32M,arena=16M").arena_size, 16 * MiB);
  EXPECT_EQ(parsed("hardened=0,hardened=1").freelist_hardened, true);
}

TEST(ParseOptions, NullAndEmptyTextChangeNothing) {
  for (const char* text : {static_cast<const char*>(nullptr), "", ",", ",,,"}) {
    EXPECT_TRUE(same(parsed(text, unusual()), unusual())) << (text ? text : "NULL");
  }
  // Empty items between commas are skipped.
  EXPECT_EQ(parsed(",arena=32M,,seed=5,").arena_size, 32 * MiB);
}

TEST(ParseOptions, SuccessClearsAnEarlierError) {
  km::Config cfg;
  km::Status st;
  EXPECT_FALSE(km::parse_options("bogus=1", cfg, st));
  EXPECT_TRUE(km::parse_options("arena=32M", cfg, st));
  EXPECT_TRUE(st.ok);
  EXPECT_EQ(st.field, nullptr);
  EXPECT_STREQ(st.message, "");
}

// ---- errors: each names the key and leaves the Config unchanged

// An unknown key has no Config field: the error is the option string's ("options"), and the
// message names the key.
TEST(ParseOptions, UnknownKeyFailsNamingTheKey) {
  expect_parse_error("bogus=1", "options", "unknown key 'bogus'");
  expect_parse_error("arena=32M,Arena=16M", "options", "unknown key 'Arena'");
  expect_parse_error("arena_size=32M", "options", "unknown key 'arena_size'");
  expect_parse_error(" arena=32M", "options", "unknown key ' arena'");
  expect_parse_error("profile=linux-6,kmalloc_min_size=64", "options",
                     "unknown key 'kmalloc_min_size'");
}

TEST(ParseOptions, BadValueFailsNamingTheKey) {
  struct Case {
    const char* text;
    const char* field;
    const char* in_message;
  };
  const Case cases[] = {
      {"profile=linux-5", "profile", "'linux-5'"},
      {"profile=", "profile", "''"},
      {"profile=Linux-6", "profile", "'Linux-6'"},
      {"arena=", "arena", "''"},
      {"arena=M", "arena", "'M'"},
      {"arena=12Q", "arena", "'12Q'"},
      {"arena=1T", "arena", "'1T'"},
      {"arena=12MB", "arena", "'12MB'"},
      {"arena=-1", "arena", "'-1'"},
      {"arena=0x100", "arena", "'0x100'"},
      {"arena=17179869184G", "arena", "'17179869184G'"},                 // 2^64 bytes
      {"arena=18446744073709551616", "arena", "'18446744073709551616'"}, // 2^64
      {"dma=1.5M", "dma", "'1.5M'"},
      {"page_shift=65", "page_shift", "'65'"},
      {"page_shift=twelve", "page_shift", "'twelve'"},
      {"max_order=65", "max_order", "'65'"},
      {"max_order=", "max_order", "''"},
      {"min_size=2000000", "min_size", "'2000000'"},
      {"nr_cpus=-2", "nr_cpus", "'-2'"},
      {"nr_cpus=Auto", "nr_cpus", "'Auto' (expected a number or auto)"},
      {"nr_cpus=", "nr_cpus", "'' (expected a number or auto)"},
      {"nr_cpus=4294967297", "nr_cpus", "'4294967297'"},
      {"slub_min_order=99", "slub_min_order", "'99'"},
      {"slub_max_order=99", "slub_max_order", "'99'"},
      {"slub_min_objects=1048577", "slub_min_objects", "'1048577'"},
      {"cache_line_size=64K", "cache_line_size", "'64K'"},
      {"max_caches=x", "max_caches", "'x'"},
      {"hardened=2", "hardened", "'2'"},
      {"hardened=yes", "hardened", "'yes'"},
      {"hardened=", "hardened", "''"},
      {"seed=-1", "seed", "'-1'"},
      {"seed=18446744073709551616", "seed", "'18446744073709551616'"},
      {"seed=", "seed", "''"},
  };
  for (const Case& k : cases) {
    expect_parse_error(k.text, k.field, k.in_message);
  }
  // The bad item is found wherever it stands, and nothing before it is applied.
  expect_parse_error("arena=32M,dma=8M,nr_cpus=0x4,seed=3", "nr_cpus", "'0x4'");
}

// "key=value" is the only form; the message quotes the item.
TEST(ParseOptions, MalformedItemFails) {
  expect_parse_error("arena", "options", "'arena' is not key=value");
  expect_parse_error("arena32M", "options", "'arena32M' is not key=value");
  expect_parse_error("=5", "options", "'=5' is not key=value");
  expect_parse_error("seed=1,=", "options", "'=' is not key=value");
  expect_parse_error("arena=32M,profile", "options", "'profile' is not key=value");
  // A second '=' belongs to the value.
  expect_parse_error("arena==5", "arena", "'=5'");
}

// Items are at most 129 characters; the message shows the start of the item, so the key.
TEST(ParseOptions, TooLongItemFails) {
  const std::string ok = "seed=" + std::string(123, '0') + "7"; // 129 characters
  ASSERT_EQ(ok.size(), 129u);
  EXPECT_EQ(parsed(ok.c_str()).random_seed, 7u);
  const std::string long_item = "seed=" + std::string(124, '0') + "7"; // 130
  expect_parse_error(long_item.c_str(), "options", "item 'seed=0000");
  expect_parse_error(long_item.c_str(), "options", "is too long");
  const std::string later = "arena=32M," + long_item;
  expect_parse_error(later.c_str(), "options", "item 'seed=");
  const std::string key(200, 'k');
  expect_parse_error((key + "=1").c_str(), "options", "item 'kkkk");
}

// ---- Heap::init on parsed options: combinations the parser cannot see

km::Status init_with(const char* text) {
  km::Config cfg;
  km::Status st;
  EXPECT_TRUE(km::parse_options(text, cfg, st)) << st.message;
  km::Heap heap;
  st = heap.init(cfg);
  EXPECT_EQ(heap.initialized(), st.ok);
  return st;
}

void expect_init_rejected(const char* text, const char* field, const std::string& message) {
  SCOPED_TRACE(text);
  const km::Status st = init_with(text);
  EXPECT_FALSE(st.ok);
  ASSERT_NE(st.field, nullptr);
  EXPECT_STREQ(st.field, field);
  EXPECT_EQ(std::string(st.message), message);
}

TEST(HeapInitOptions, BadCombinationsNameTheField) {
  expect_init_rejected("profile=linux-6,min_size=48", "kmalloc_min_size",
                       "min_size (Config::kmalloc_min_size): must be a power of two from 8 to 256 "
                       "(KMALLOC_MIN_SIZE) (got 48)");
  expect_init_rejected("profile=linux-4-slab,min_size=16", "kmalloc_min_size",
                       "min_size (Config::kmalloc_min_size): must be at least 32 for linux-4-slab "
                       "(KMALLOC_SHIFT_LOW 5) (got 16)");
  expect_init_rejected(
      "profile=linux-6,max_order=0", "max_order",
      "max_order: must be at least 1 for linux-6 (kmalloc-<2*PAGE_SIZE> cache) (got 0)");
  // Errors name the option key the user wrote and the Config field behind it.
  expect_init_rejected("profile=linux-6,arena=32M,dma=32M", "dma_zone_size",
                       "dma (Config::dma_zone_size): must be smaller than arena (got 33554432)");
  expect_init_rejected("profile=linux-6,arena=20K", "arena_size",
                       "arena (Config::arena_size): must hold at least 8 pages (got 20480)");
  expect_init_rejected("profile=linux-6,slub_min_order=4", "slub_min_order",
                       "slub_min_order: must not exceed slub_max_order (got 4)");
  expect_init_rejected("page_shift=13", "page_shift",
                       "page_shift: must be 12, 14 or 16 (4, 16 or 64 KiB pages) (got 13)");
}

TEST(HeapInitOptions, GoodCombinationsInitialise) {
  for (const char* text :
       {"profile=linux-6", "profile=linux-6,min_size=16", "profile=linux-6,min_size=64",
        "profile=linux-6,min_size=128", "profile=linux-6,min_size=256", "profile=linux-4-slab",
        "profile=linux-4-slab,min_size=32", "profile=linux-4-slab,min_size=128",
        "profile=linux-4-slab,max_order=0", "profile=none,max_order=0",
        "profile=linux-6,max_order=1,arena=1M,dma=0",
        "profile=linux-6,page_shift=16,max_order=6,arena=64M",
        "profile=linux-4-slab,page_shift=16,max_order=9,arena=64M,dma=0"}) {
    const km::Status st = init_with(text);
    EXPECT_TRUE(st.ok) << text << ": " << st.message;
  }
}

// ---- validate_config(): the exact message of each field added with the slab layer and the
// kmalloc front end

km::Status validate(void (*change)(km::Config&)) {
  km::Config cfg;
  change(cfg);
  km::Status st;
  const bool ok = km::validate_config(cfg, st);
  EXPECT_EQ(ok, st.ok);
  return st;
}

void expect_message(const km::Status& st, const char* field, const char* message) {
  EXPECT_FALSE(st.ok);
  ASSERT_NE(st.field, nullptr);
  EXPECT_STREQ(st.field, field);
  EXPECT_STREQ(st.message, message);
}

TEST(ValidateConfigMessages, Profile) {
  expect_message(validate([](km::Config& c) { c.profile = static_cast<km::Profile>(7); }),
                 "profile", "profile: is not a known profile (got 7)");
  for (km::Profile p : {km::Profile::None, km::Profile::Linux6, km::Profile::Linux4Slab}) {
    km::Config c;
    c.profile = p;
    km::Status st;
    EXPECT_TRUE(km::validate_config(c, st)) << km::profile_name(p);
  }
}

TEST(ValidateConfigMessages, MinSize) {
  for (unsigned bad : {1u, 4u, 12u, 48u, 96u, 512u, 1024u}) {
    SCOPED_TRACE(bad);
    km::Config c;
    c.kmalloc_min_size = bad;
    km::Status st;
    EXPECT_FALSE(km::validate_config(c, st));
    expect_message(st, "kmalloc_min_size",
                   ("min_size (Config::kmalloc_min_size): must be a power of two from 8 to 256 "
                    "(KMALLOC_MIN_SIZE) (got " +
                    std::to_string(bad) + ")")
                       .c_str());
  }
  for (unsigned good : {0u, 8u, 16u, 32u, 64u, 128u, 256u}) {
    km::Config c;
    c.profile = km::Profile::Linux6;
    c.kmalloc_min_size = good;
    km::Status st;
    EXPECT_TRUE(km::validate_config(c, st)) << good;
  }
  expect_message(validate([](km::Config& c) {
                   c.profile = km::Profile::Linux4Slab;
                   c.kmalloc_min_size = 8;
                 }),
                 "kmalloc_min_size",
                 "min_size (Config::kmalloc_min_size): must be at least 32 for linux-4-slab "
                 "(KMALLOC_SHIFT_LOW 5) (got 8)");
}

TEST(ValidateConfigMessages, MaxOrderForLinux6) {
  expect_message(validate([](km::Config& c) {
                   c.profile = km::Profile::Linux6;
                   c.max_order = 0;
                 }),
                 "max_order",
                 "max_order: must be at least 1 for linux-6 (kmalloc-<2*PAGE_SIZE> cache) (got 0)");
}

TEST(ValidateConfigMessages, NrCpus) {
  expect_message(validate([](km::Config& c) { c.nr_cpus = km::kMaxCpus + 1; }), "nr_cpus",
                 "nr_cpus: must be at most 8192 (kMaxCpus), or 0 for auto (got 8193)");
  expect_message(validate([](km::Config& c) { c.nr_cpus = 100000; }), "nr_cpus",
                 "nr_cpus: must be at most 8192 (kMaxCpus), or 0 for auto (got 100000)");
}

TEST(ValidateConfigMessages, SlubOrdersAndObjects) {
  expect_message(validate([](km::Config& c) { c.slub_max_order = 17; }), "slub_max_order",
                 "slub_max_order: must be at most 16 (got 17)");
  expect_message(validate([](km::Config& c) { c.slub_min_order = 4; }), "slub_min_order",
                 "slub_min_order: must not exceed slub_max_order (got 4)");
  expect_message(validate([](km::Config& c) { c.slub_min_objects = 32768; }), "slub_min_objects",
                 "slub_min_objects: must be at most 32767 (MAX_OBJS_PER_PAGE) (got 32768)");
}

TEST(ValidateConfigMessages, CacheLineSize) {
  for (unsigned bad : {0u, 4u, 12u, 96u, 8192u}) {
    km::Config c;
    c.cache_line_size = bad;
    km::Status st;
    EXPECT_FALSE(km::validate_config(c, st));
    expect_message(
        st, "cache_line_size",
        ("cache_line_size: must be a power of two from 8 to 4096 (got " + std::to_string(bad) + ")")
            .c_str());
  }
}

TEST(ValidateConfigMessages, MaxCaches) {
  EXPECT_TRUE(validate([](km::Config& c) { c.max_caches = 0; }).ok); // 0 = automatic
  expect_message(validate([](km::Config& c) { c.max_caches = 4097; }), "max_caches",
                 "max_caches: must be at most 4096 (0 = automatic) (got 4097)");
}

} // namespace
