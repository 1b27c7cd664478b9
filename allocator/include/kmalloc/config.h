// kmalloc/config.h - the runtime Config a Heap is built from, and its validation.
//
// Every tunable lives here, with the kernel value it defaults to. One binary serves every
// configuration, so tests and fuzzers can sweep the space. MAX_ORDER has the Linux 6.4+
// inclusive meaning: the largest block is 2^max_order pages (default 10: 4 MiB with 4 KiB pages).
#pragma once

#include <cstddef>
#include <cstdint>

#include "kmalloc/export.h"

#pragma GCC visibility push(default) // exported from libkmalloc (kmalloc/export.h)
namespace km {

// Orders 0..kMaxOrderLimit are representable; Config::max_order may be anything up to it.
inline constexpr unsigned kMaxOrderLimit = 16;
inline constexpr unsigned kMaxZones = 2;
// Config::nr_cpus. kNrCpusAuto (the default) is "the machine's possible CPUs", resolved when a
// heap is built (Heap::config() and kmalloc_stats() show the resolved count; see Config). The
// limit, kMaxCpus, is CONFIG_NR_CPUS of distribution kernels (x86-64 MAXSMP: 8192), so every
// nr_cpu_ids a real kernel can have fits. It costs nothing by itself: a heap's per-cpu state is
// sized by its own nr_cpus, in its metadata pages (about 16 bytes per cache descriptor and 84
// bytes more per cpu slot), so a small region with thousands of cpus is refused as too small.
inline constexpr unsigned kNrCpusAuto = 0;
inline constexpr unsigned kMaxCpus = 8192;
// Config::dma_zone_size default: min(16 MiB, arena / 4), in whole pages.
inline constexpr std::size_t kDmaZoneDefault = ~std::size_t{0};

// Which kernel's kmalloc front end the heap reproduces (see kmalloc/kmalloc.h).
enum class Profile : std::uint8_t {
  None,       // no kmalloc caches: a page allocator and kmem_caches only
  Linux6,     // SLUB 6.x: caches 8 B .. 2*PAGE_SIZE plus 96/192; large requests to the buddy
  Linux4Slab, // the seed's SLAB view (4.x): caches 32 B .. min(MAX_ORDER+PAGE_SHIFT-1, 25) bits
};

struct Config {
  unsigned page_shift = 12;           // 12, 14 or 16 (4, 16 or 64 KiB pages)
  unsigned max_order = 10;            // inclusive, as MAX_PAGE_ORDER in Linux 6.8+
  std::size_t arena_size = 64u << 20; // bytes; a multiple of the page size
  // ZONE_DMA: the first dma_zone_size bytes of usable pages (after the metadata); 0 = none.
  // kDmaZoneDefault: min(16 MiB, arena_size / 4) rounded down to whole pages (the kernel's is
  // the first 16 MiB of a much larger machine).
  std::size_t dma_zone_size = kDmaZoneDefault;

  // Slab layer (Linux 6.8 mm/slub.c). nr_cpus is the number of cpu slots (the kernel's
  // nr_cpu_ids: one kmem_cache_cpu each, plus the slot threads beyond them share) and sets
  // min_objects = 4 * (fls(nr_cpus) + 1) in calculate_order(). 1..kMaxCpus, or kNrCpusAuto
  // (0, the default; "nr_cpus=auto" or "nr_cpus=0"), which a heap resolves when it is built:
  //   nr_cpus = nr_cpu_ids of this machine, the highest CPU in /sys/devices/system/cpu/possible
  //             plus one (else the number of CPUs this thread may run on; if the platform
  //             cannot tell: 1), clamped to kMaxCpus;
  //   and, when slub_min_objects is 0 and the kernel would size min_objects by another count
  //   (calculate_order uses num_present_cpus(), or nr_cpu_ids when that is <= 1: they differ on
  //   machines with hot-pluggable CPUs, and above kMaxCpus), slub_min_objects = 4 * (fls(that
  //   count) + 1), so slab orders are the ones a kernel on the same machine picks.
  // Set nr_cpus explicitly for reproducible layouts (tests, fuzz inputs, firmware that hands
  // out its own cpu numbers through kmalloc_set_platform's current_cpu).
  unsigned nr_cpus = kNrCpusAuto;
  unsigned slub_min_order = 0;   // slab_min_order= boot parameter
  unsigned slub_max_order = 3;   // slab_max_order= (PAGE_ALLOC_COSTLY_ORDER); clamped to max_order
  unsigned slub_min_objects = 0; // slab_min_objects=; 0 = 4 * (fls(nr_cpus) + 1)
  unsigned cache_line_size = 64; // for SLAB_HWCACHE_ALIGN; a power of two, 8..4096
  unsigned max_caches = 0;       // kmem_cache descriptors for kmem_cache_create, reserved in the
                                 // metadata pages; 0 = clamp(arena pages / 16, 4, 128)
  bool freelist_hardened = true; // CONFIG_SLAB_FREELIST_HARDENED: ptr ^ random ^ swab(addr)
  std::uint64_t random_seed = 0; // seeds the per-cache freelist keys; 0 = getrandom()

  // kmalloc front end. kmalloc_min_size is KMALLOC_MIN_SIZE (= ARCH_KMALLOC_MINALIGN when above
  // 8): 0 takes the profile's (8 for linux-6, 32 for linux-4-slab); 64 or 128 model arm64 with
  // DMA alignment (no 96 and/or 192 caches).
  Profile profile = Profile::None;
  unsigned kmalloc_min_size = 0;
};

// The outcome of Heap::init. On failure `field` names the offending Config field, `option` the
// key of parse_options() that sets it, and `message` says what is wrong, naming both, e.g.
// "dma (Config::dma_zone_size): must be smaller than arena (got 33554432)".
struct Status {
  bool ok = true;
  const char* field = nullptr;
  const char* option = nullptr;
  char message[240] = {};
};

// The ZONE_DMA size a heap of arena_bytes gets from cfg: cfg.dma_zone_size, or for
// kDmaZoneDefault min(16 MiB, arena_bytes / 4) rounded down to whole pages.
std::size_t effective_dma_zone_size(const Config& cfg, std::size_t arena_bytes);
// The option key of parse_options() that sets a Config field ("arena" for "arena_size").
const char* option_key_of(const char* field);

// Checks `cfg` on its own (without a region). Fills `out` and returns out.ok.
bool validate_config(const Config& cfg, Status& out);

// Parses "key=value,key=value" into cfg, starting from cfg's current values. Keys: profile
// (linux-6, linux-4-slab, none), arena, dma (sizes with optional K/M/G suffix), page_shift,
// max_order, min_size, nr_cpus (a number or auto), slub_min_order, slub_max_order,
// slub_min_objects, cache_line_size, max_caches, hardened (0/1), seed. profile= applies its
// defaults first, wherever it stands. On error `out` names the key and cfg is unchanged.
bool parse_options(const char* text, Config& cfg, Status& out);
const char* profile_name(Profile profile);

} // namespace km
#pragma GCC visibility pop
