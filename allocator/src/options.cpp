// options.cpp - parse_options(): "key=value,..." into a Config; errors name the key.
#include <cstdio>
#include <cstring>

#include "kmalloc/config.h"

namespace km {

namespace {

constexpr std::size_t kMaxToken = 64;

bool option_error(Status& out, const char* field, const char* fmt, const char* a, const char* b) {
  out.ok = false;
  out.field = field;
  out.option = field;
  std::snprintf(out.message, sizeof out.message, fmt, a, b);
  return false;
}

// Unsigned decimal with an optional K/M/G suffix (binary units) when allow_suffix.
bool parse_number(const char* text, bool allow_suffix, unsigned long long& value) {
  if (*text == '\0')
    return false;
  unsigned long long v = 0;
  const char* p = text;
  for (; *p >= '0' && *p <= '9'; ++p) {
    const unsigned long long next = v * 10 + static_cast<unsigned long long>(*p - '0');
    if (next / 10 != v)
      return false;
    v = next;
  }
  if (p == text)
    return false;
  unsigned shift = 0;
  if (allow_suffix && *p != '\0') {
    switch (*p) {
    case 'k':
    case 'K': shift = 10; break;
    case 'm':
    case 'M': shift = 20; break;
    case 'g':
    case 'G': shift = 30; break;
    default: return false;
    }
    ++p;
  }
  if (*p != '\0')
    return false;
  if (shift != 0 && (v >> (64 - shift)) != 0)
    return false;
  value = v << shift;
  return true;
}

bool parse_profile(const char* text, Profile& profile) {
  if (std::strcmp(text, "linux-6") == 0)
    profile = Profile::Linux6;
  else if (std::strcmp(text, "linux-4-slab") == 0)
    profile = Profile::Linux4Slab;
  else if (std::strcmp(text, "none") == 0)
    profile = Profile::None;
  else
    return false;
  return true;
}

struct UnsignedKey {
  const char* name;
  unsigned Config::*field;
  unsigned long long max;
};

constexpr UnsignedKey kUnsignedKeys[] = {
    {"page_shift", &Config::page_shift, 64},
    {"max_order", &Config::max_order, 64},
    {"min_size", &Config::kmalloc_min_size, 1u << 20},
    {"nr_cpus", &Config::nr_cpus, 1u << 20},
    {"slub_min_order", &Config::slub_min_order, 64},
    {"slub_max_order", &Config::slub_max_order, 64},
    {"slub_min_objects", &Config::slub_min_objects, 1u << 20},
    {"cache_line_size", &Config::cache_line_size, 1u << 20},
    {"max_caches", &Config::max_caches, 1u << 20},
};

// Applies one key=value to cfg. Sets out on error.
bool apply_option(const char* key, const char* value, Config& cfg, Status& out) {
  unsigned long long number = 0;
  if (std::strcmp(key, "profile") == 0) {
    Profile p;
    if (!parse_profile(value, p))
      return option_error(out, "profile",
                          "profile: unknown value '%s' (expected linux-6, linux-4-slab or none)%s",
                          value, "");
    return true; // applied before the other keys
  }
  if (std::strcmp(key, "arena") == 0 || std::strcmp(key, "dma") == 0) {
    if (!parse_number(value, true, number))
      return option_error(out, key[0] == 'a' ? "arena" : "dma",
                          "%s: bad size '%s' (expected a number with optional K, M or G)", key,
                          value);
    (key[0] == 'a' ? cfg.arena_size : cfg.dma_zone_size) = static_cast<std::size_t>(number);
    return true;
  }
  if (std::strcmp(key, "hardened") == 0) {
    if (std::strcmp(value, "0") != 0 && std::strcmp(value, "1") != 0)
      return option_error(out, "hardened", "hardened: bad value '%s' (expected 0 or 1)%s", value,
                          "");
    cfg.freelist_hardened = value[0] == '1';
    return true;
  }
  if (std::strcmp(key, "seed") == 0) {
    if (!parse_number(value, false, number))
      return option_error(out, "seed", "seed: bad value '%s' (expected a number)%s", value, "");
    cfg.random_seed = number;
    return true;
  }
  if (std::strcmp(key, "nr_cpus") == 0 && std::strcmp(value, "auto") == 0) {
    cfg.nr_cpus = kNrCpusAuto; // resolved when the heap is built (config.h)
    return true;
  }
  for (const UnsignedKey& k : kUnsignedKeys) {
    if (std::strcmp(key, k.name) != 0)
      continue;
    if (!parse_number(value, false, number) || number > k.max)
      return option_error(out, k.name,
                          k.field == &Config::nr_cpus
                              ? "%s: bad value '%s' (expected a number or auto)"
                              : "%s: bad value '%s' (expected a small number)",
                          k.name, value);
    cfg.*k.field = static_cast<unsigned>(number);
    return true;
  }
  return option_error(out, "options", "options: unknown key '%s'%s", key, "");
}

// Calls fn(key, value) for each item; false (with out set) on a malformed item.
template <class F> bool for_each_item(const char* text, Status& out, F&& fn) {
  const char* p = text;
  while (*p != '\0') {
    const char* end = std::strchr(p, ',');
    const std::size_t len = end != nullptr ? static_cast<std::size_t>(end - p) : std::strlen(p);
    char item[2 * kMaxToken + 2];
    if (len >= sizeof item)
      return option_error(out, "options", "options: item '%.40s...' is too long%s", p, "");
    std::memcpy(item, p, len);
    item[len] = '\0';
    if (len != 0) {
      char* eq = std::strchr(item, '=');
      if (eq == nullptr || eq == item)
        return option_error(out, "options", "options: '%s' is not key=value%s", item, "");
      *eq = '\0';
      if (!fn(item, eq + 1))
        return false;
    }
    p += len;
    if (*p == ',')
      ++p;
  }
  return true;
}

} // namespace

const char* profile_name(Profile profile) {
  switch (profile) {
  case Profile::None: return "none";
  case Profile::Linux6: return "linux-6";
  case Profile::Linux4Slab: return "linux-4-slab";
  }
  return "unknown";
}

bool parse_options(const char* text, Config& cfg, Status& out) {
  out = Status{};
  if (text == nullptr)
    return true;
  Config next = cfg;
  // Pass 1: the profile, so its defaults sit under every other key.
  bool ok = for_each_item(text, out, [&](const char* key, const char* value) {
    if (std::strcmp(key, "profile") == 0) {
      if (!parse_profile(value, next.profile))
        return apply_option(key, value, next, out);
      next.kmalloc_min_size = 0;
    }
    return true;
  });
  if (!ok)
    return false;
  ok = for_each_item(text, out, [&](const char* key, const char* value) {
    return apply_option(key, value, next, out);
  });
  if (!ok)
    return false;
  cfg = next;
  return true;
}

} // namespace km
