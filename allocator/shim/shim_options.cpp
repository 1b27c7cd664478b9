// shim/shim_options.cpp - KMALLOC_OPTIONS for the malloc shim (shim/shim_options.h).
#include "shim_options.h"

#include <cstdio>
#include <cstring>

#include "heap_state.h"
#include "kmalloc/heap.h"
#include "platform/os.h"

namespace km::shim {

namespace {
constexpr unsigned kMinArenaShift = 20; // 1 MiB
constexpr unsigned kMaxArenaShift = 40;

// release=: "off", or digits with an optional K, M or G.
bool parse_release(const char* text, std::size_t len, std::size_t& out) {
  if (len == 3 && std::strncmp(text, "off", 3) == 0) {
    out = Heap::kNeverRelease;
    return true;
  }
  std::size_t value = 0;
  std::size_t i = 0;
  for (; i < len && text[i] >= '0' && text[i] <= '9'; ++i) {
    if (value > (Heap::kNeverRelease - 9) / 10)
      return false;
    value = value * 10 + static_cast<std::size_t>(text[i] - '0');
  }
  if (i == 0)
    return false;
  unsigned shift = 0;
  if (i + 1 == len)
    shift = text[i] == 'K' ? 10 : text[i] == 'M' ? 20 : text[i] == 'G' ? 30 : 64;
  else if (i != len)
    return false;
  if (shift == 64 || value > (Heap::kNeverRelease >> shift) - 1)
    return false;
  out = value << shift;
  return true;
}
} // namespace

bool parse_shim_options(const char* text, ShimOptions& out, char* error, std::size_t error_size) {
  out = ShimOptions{};
  out.heap.profile = Profile::Linux6;
  out.heap.dma_zone_size = 0;
  out.heap.nr_cpus = kNrCpusAuto; // each arena's heap resolves it (kmalloc/config.h)
  out.release_keep = std::size_t{8} << 20;
  // The core's keys go to parse_options(); stats= is taken out here.
  char rest[1024] = {};
  std::size_t used = 0;
  for (const char* p = text != nullptr ? text : ""; *p != '\0';) {
    const char* end = std::strchr(p, ',');
    const std::size_t len = end != nullptr ? static_cast<std::size_t>(end - p) : std::strlen(p);
    if (len > 6 && std::strncmp(p, "stats=", 6) == 0) {
      if (len - 6 >= sizeof out.stats_path) {
        std::snprintf(error, error_size, "stats: file name too long (%zu bytes)", len - 6);
        return false;
      }
      std::memcpy(out.stats_path, p + 6, len - 6);
      out.stats_path[len - 6] = '\0';
    } else if (len >= 8 && std::strncmp(p, "release=", 8) == 0) {
      if (!parse_release(p + 8, len - 8, out.release_keep)) {
        std::snprintf(error, error_size, "release: '%.*s' is not a size (K, M, G) or off",
                      static_cast<int>(len - 8), p + 8);
        return false;
      }
    } else if (len != 0) {
      if (used + len + 2 > sizeof rest) {
        std::snprintf(error, error_size, "options: longer than %zu bytes", sizeof rest - 2);
        return false;
      }
      if (used != 0)
        rest[used++] = ',';
      std::memcpy(rest + used, p, len);
      used += len;
    }
    p += len + (end != nullptr ? 1 : 0);
  }
  Status st;
  if (!parse_options(rest, out.heap, st)) {
    std::snprintf(error, error_size, "%s", st.message);
    return false;
  }
  if (out.heap.profile == Profile::None) {
    std::snprintf(error, error_size, "profile: 'none' has no kmalloc caches to serve malloc");
    return false;
  }
  // An arena holds its metadata and at least one MAX_ORDER block, so that any kmalloc up to
  // KMALLOC_MAX_SIZE fits a fresh arena: at least twice the largest block.
  unsigned shift = out.heap.page_shift + out.heap.max_order + 1;
  if (shift < kMinArenaShift)
    shift = kMinArenaShift;
  while (shift < kMaxArenaShift && (std::size_t{1} << shift) < out.heap.arena_size)
    ++shift;
  out.arena_shift = shift;
  out.heap.arena_size = std::size_t{1} << shift;
  if (out.heap.nr_cpus == kNrCpusAuto) {
    // Threads, not cpus, hold the slots here: a program's main thread keeps one while its
    // workers run, and threads beyond the slots share one under a lock. So the shim has four
    // slots per possible CPU (at least 8), and keeps the slab orders a kernel on this machine
    // picks by pinning min_objects to this machine's count (calculate_order's rule).
    const Config machine =
        resolve_nr_cpus(out.heap, platform::possible_cpus(~0u), platform::present_cpus(~0u));
    if (out.heap.slub_min_objects == 0)
      out.heap.slub_min_objects = machine.slub_min_objects != 0 ? machine.slub_min_objects
                                                                : 4 * (fls64(machine.nr_cpus) + 1);
    const unsigned slots = 4 * machine.nr_cpus;
    out.heap.nr_cpus = slots < 8 ? 8 : slots > kMaxCpus ? kMaxCpus : slots;
  }
  if (!validate_config(out.heap, st)) {
    std::snprintf(error, error_size, "%s", st.message);
    return false;
  }
  return true;
}

} // namespace km::shim
