// model/option_spec.cpp - see option_spec.h for the grammar.
#include "model/option_spec.h"

#include <bit>
#include <cstdint>
#include <optional>
#include <vector>

namespace km::model {
namespace {

using u64 = std::uint64_t;
constexpr u64 kU64Max = ~u64{0};
constexpr u64 kSmallMax = u64{1} << 20; // observed: 1048576 parses, 1048577 is "bad value"
constexpr u64 kShiftMax = 64;           // observed: for shifts and orders 64 parses, 65 does not

// digits, at most `limit`; nullopt for anything else.
std::optional<u64> decimal(std::string_view s, u64 limit) {
  if (s.empty())
    return std::nullopt;
  u64 v = 0;
  for (char ch : s) {
    if (ch < '0' || ch > '9')
      return std::nullopt;
    u64 d = static_cast<u64>(ch - '0');
    if (v > (limit - d) / 10) // v * 10 + d > limit
      return std::nullopt;
    v = v * 10 + d;
  }
  return v;
}

std::optional<u64> size_value(std::string_view s) {
  u64 unit = 1;
  if (!s.empty()) {
    switch (s.back()) {
    case 'K':
    case 'k': unit = u64{1} << 10; break;
    case 'M':
    case 'm': unit = u64{1} << 20; break;
    case 'G':
    case 'g': unit = u64{1} << 30; break;
    default: break;
    }
  }
  if (unit != 1)
    s.remove_suffix(1);
  std::optional<u64> n = decimal(s, kU64Max / unit); // observed: overflow is "bad size"
  if (!n)
    return std::nullopt;
  return *n * unit;
}

enum class Kind { Size, Shift, Small, Cpus, Bool, Seed }; // Shift: a page shift or an order

struct Key {
  std::string_view name;
  Kind kind;
  void (*set)(Config&, u64);
};

// clang-format off
const Key kKeys[] = {
  {"arena",            Kind::Size,  [](Config& c, u64 v) { c.arena_size = v; }},
  {"dma",              Kind::Size,  [](Config& c, u64 v) { c.dma_zone_size = v; }},
  {"page_shift",       Kind::Shift, [](Config& c, u64 v) { c.page_shift = unsigned(v); }},
  {"max_order",        Kind::Shift, [](Config& c, u64 v) { c.max_order = unsigned(v); }},
  {"min_size",         Kind::Small, [](Config& c, u64 v) { c.kmalloc_min_size = unsigned(v); }},
  {"nr_cpus",          Kind::Cpus,  [](Config& c, u64 v) { c.nr_cpus = unsigned(v); }},
  {"slub_min_order",   Kind::Shift, [](Config& c, u64 v) { c.slub_min_order = unsigned(v); }},
  {"slub_max_order",   Kind::Shift, [](Config& c, u64 v) { c.slub_max_order = unsigned(v); }},
  {"slub_min_objects", Kind::Small, [](Config& c, u64 v) { c.slub_min_objects = unsigned(v); }},
  {"cache_line_size",  Kind::Small, [](Config& c, u64 v) { c.cache_line_size = unsigned(v); }},
  {"max_caches",       Kind::Small, [](Config& c, u64 v) { c.max_caches = unsigned(v); }},
  {"hardened",         Kind::Bool,  [](Config& c, u64 v) { c.freelist_hardened = v == 1; }},
  {"seed",             Kind::Seed,  [](Config& c, u64 v) { c.random_seed = v; }},
};
// clang-format on

std::optional<u64> value_of(Kind kind, std::string_view s) {
  switch (kind) {
  case Kind::Size: return size_value(s);
  case Kind::Shift: return decimal(s, kShiftMax);
  case Kind::Small: return decimal(s, kSmallMax);
  case Kind::Cpus: return s == "auto" ? std::optional<u64>{kNrCpusAuto} : decimal(s, kSmallMax);
  case Kind::Bool: return s == "0" || s == "1" ? decimal(s, 1) : std::nullopt; // "0" or "1" only
  case Kind::Seed: return decimal(s, kU64Max);
  }
  return std::nullopt;
}

bool pow2_between(u64 v, u64 lo, u64 hi) {
  return std::has_single_bit(v) && v >= lo && v <= hi;
}

// validate_config's rules, in the order the allocator checks them (the order is observed; each
// range is documented in config.h unless marked observed). Returns the key of the first broken
// rule, or "" when every rule holds.
std::string broken_rule(const Config& c) {
  if (c.page_shift != 12 && c.page_shift != 14 && c.page_shift != 16)
    return "page_shift";
  if (c.max_order > kMaxOrderLimit)
    return "max_order";
  const u64 page = u64{1} << c.page_shift;
  const u64 pages = c.arena_size / page;
  if (c.arena_size % page != 0)
    return "arena";
  if (pages < 8 || pages > (u64{1} << 31)) // observed: 8 .. 2^31 pages
    return "arena";
  if (c.dma_zone_size != kDmaZoneDefault) { // the default is always accepted
    if (c.dma_zone_size % page != 0)        // observed
      return "dma";
    if (c.dma_zone_size >= c.arena_size) // README: "must be smaller than arena"
      return "dma";
  }
  if (c.nr_cpus > kMaxCpus) // config.h: 1..kMaxCpus, or 0 (kNrCpusAuto)
    return "nr_cpus";
  if (c.slub_max_order > kMaxOrderLimit) // observed; the clamp to max_order is not a rejection
    return "slub_max_order";
  if (c.slub_min_order > c.slub_max_order) // observed: against the unclamped slub_max_order
    return "slub_min_order";
  if (c.slub_min_objects > 32767) // observed: MAX_OBJS_PER_PAGE
    return "slub_min_objects";
  if (!pow2_between(c.cache_line_size, 8, 4096))
    return "cache_line_size";
  if (c.max_caches > 4096) // observed
    return "max_caches";
  if (c.kmalloc_min_size != 0) {
    if (!pow2_between(c.kmalloc_min_size, 8, 256)) // observed: 8 .. 256 (config.h: 64, 128)
      return "min_size";
    if (c.profile == Profile::Linux4Slab && c.kmalloc_min_size < 32) // observed (SHIFT_LOW 5)
      return "min_size";
  }
  // observed: linux-6 needs max_order >= 1 (its kmalloc-<2*PAGE_SIZE> cache); checked last.
  if (c.profile == Profile::Linux6 && c.max_order < 1)
    return "max_order";
  return "";
}

OptionPrediction fail(std::string key) {
  return OptionPrediction{false, std::move(key), Config{}};
}

} // namespace

OptionPrediction predict_options(std::string_view text, const Config& base) {
  struct Item {
    std::string_view key, value;
  };
  std::vector<Item> items;
  Config cfg = base;
  // Pass 1: syntax and profile=, in text order (observed: "profile=bad,junk" names profile,
  // "junk,profile=bad" names no key).
  while (true) {
    const std::size_t comma = text.find(',');
    const std::string_view item = text.substr(0, comma);
    if (!item.empty()) {
      const std::size_t eq = item.find('=');
      if (eq == std::string_view::npos || eq == 0)
        return fail("");
      const Item kv{item.substr(0, eq), item.substr(eq + 1)};
      if (kv.key != "profile") {
        items.push_back(kv);
      } else {
        if (kv.value == "linux-6")
          cfg.profile = Profile::Linux6;
        else if (kv.value == "linux-4-slab")
          cfg.profile = Profile::Linux4Slab;
        else if (kv.value == "none")
          cfg.profile = Profile::None;
        else
          return fail("profile");
        cfg.kmalloc_min_size = 0; // observed: a profile's only default is "min_size of the profile"
      }
    }
    if (comma == std::string_view::npos)
      break;
    text.remove_prefix(comma + 1);
  }
  // Pass 2: every other key, in text order.
  for (const Item& kv : items) {
    const Key* key = nullptr;
    for (const Key& k : kKeys)
      if (k.name == kv.key)
        key = &k;
    if (key == nullptr)
      return fail(""); // observed: Status::option is "options", the message quotes the key
    const std::optional<u64> v = value_of(key->kind, kv.value);
    if (!v)
      return fail(std::string(kv.key));
    key->set(cfg, *v);
  }
  std::string broken = broken_rule(cfg);
  if (!broken.empty())
    return fail(std::move(broken));
  return OptionPrediction{true, "", cfg};
}

} // namespace km::model
