// shim/shim_options.cpp - KMALLOC_OPTIONS for the malloc shim (shim/shim_options.h).
#include "shim_options.h"

#include <cstdio>
#include <cstring>

#include "heap_state.h"
#include "platform/os.h"

namespace km::shim {

namespace {
constexpr unsigned kMinArenaShift = 20; // 1 MiB
constexpr unsigned kMaxArenaShift = 40;
} // namespace

bool parse_shim_options(const char* text, ShimOptions& out, char* error, std::size_t error_size) {
  out = ShimOptions{};
  out.heap.profile = Profile::Linux6;
  out.heap.dma_zone_size = 0;
  out.heap.nr_cpus = kNrCpusAuto; // each arena's heap resolves it (kmalloc/config.h)
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
