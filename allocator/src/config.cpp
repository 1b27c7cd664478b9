// config.cpp - Config validation: every rejection names the field.
#include <cstdio>
#include <cstring>

#include "kmalloc/config.h"

static_assert(km::kMaxCpus == 8192, "validate_config's nr_cpus message states the limit");

namespace km {

namespace {

struct FieldKey {
  const char* field;
  const char* option;
};

// Config fields whose parse_options() key differs from the field name.
constexpr FieldKey kRenamedFields[] = {
    {"arena_size", "arena"},           {"dma_zone_size", "dma"}, {"kmalloc_min_size", "min_size"},
    {"freelist_hardened", "hardened"}, {"random_seed", "seed"},
};

bool fail(Status& out, const char* field, const char* text, unsigned long long value) {
  out.ok = false;
  out.field = field;
  out.option = option_key_of(field);
  if (std::strcmp(out.option, field) != 0)
    std::snprintf(out.message, sizeof out.message, "%s (Config::%s): %s (got %llu)", out.option,
                  field, text, value);
  else
    std::snprintf(out.message, sizeof out.message, "%s: %s (got %llu)", field, text, value);
  return false;
}

} // namespace

const char* option_key_of(const char* field) {
  if (field == nullptr)
    return "";
  for (const FieldKey& k : kRenamedFields)
    if (std::strcmp(k.field, field) == 0)
      return k.option;
  return field;
}

std::size_t effective_dma_zone_size(const Config& cfg, std::size_t arena_bytes) {
  if (cfg.dma_zone_size != kDmaZoneDefault)
    return cfg.dma_zone_size;
  const std::size_t page_size = std::size_t{1} << (cfg.page_shift & 31);
  std::size_t dma = arena_bytes / 4;
  if (dma > (std::size_t{16} << 20))
    dma = std::size_t{16} << 20;
  return dma / page_size * page_size;
}

bool validate_config(const Config& cfg, Status& out) {
  out = Status{};
  if (cfg.page_shift != 12 && cfg.page_shift != 14 && cfg.page_shift != 16)
    return fail(out, "page_shift", "must be 12, 14 or 16 (4, 16 or 64 KiB pages)", cfg.page_shift);
  if (cfg.max_order > kMaxOrderLimit)
    return fail(out, "max_order", "must be at most 16", cfg.max_order);
  const std::size_t page_size = std::size_t{1} << cfg.page_shift;
  if (cfg.arena_size % page_size != 0)
    return fail(out, "arena_size", "must be a multiple of the page size", cfg.arena_size);
  if (cfg.arena_size / page_size < 8)
    return fail(out, "arena_size", "must hold at least 8 pages", cfg.arena_size);
  if ((cfg.arena_size >> cfg.page_shift) > (std::size_t{1} << 31))
    return fail(out, "arena_size", "must hold at most 2^31 pages", cfg.arena_size);
  const std::size_t dma = effective_dma_zone_size(cfg, cfg.arena_size);
  if (dma % page_size != 0)
    return fail(out, "dma_zone_size", "must be a multiple of the page size", dma);
  if (dma >= cfg.arena_size)
    return fail(out, "dma_zone_size", "must be smaller than arena", dma);
  if (cfg.nr_cpus > kMaxCpus) // kNrCpusAuto (0) is resolved by Heap::init
    return fail(out, "nr_cpus", "must be at most 8192 (kMaxCpus), or 0 for auto", cfg.nr_cpus);
  if (cfg.slub_max_order > kMaxOrderLimit)
    return fail(out, "slub_max_order", "must be at most 16", cfg.slub_max_order);
  if (cfg.slub_min_order > cfg.slub_max_order)
    return fail(out, "slub_min_order", "must not exceed slub_max_order", cfg.slub_min_order);
  if (cfg.slub_min_objects > 32767)
    return fail(out, "slub_min_objects", "must be at most 32767 (MAX_OBJS_PER_PAGE)",
                cfg.slub_min_objects);
  if (cfg.cache_line_size < 8 || cfg.cache_line_size > 4096 ||
      (cfg.cache_line_size & (cfg.cache_line_size - 1)) != 0)
    return fail(out, "cache_line_size", "must be a power of two from 8 to 4096",
                cfg.cache_line_size);
  if (cfg.max_caches > 4096)
    return fail(out, "max_caches", "must be at most 4096 (0 = automatic)", cfg.max_caches);
  if (cfg.profile != Profile::None && cfg.profile != Profile::Linux6 &&
      cfg.profile != Profile::Linux4Slab)
    return fail(out, "profile", "is not a known profile", static_cast<unsigned>(cfg.profile));
  const unsigned min_size = cfg.kmalloc_min_size;
  if (min_size != 0 && (min_size < 8 || min_size > 256 || (min_size & (min_size - 1)) != 0))
    return fail(out, "kmalloc_min_size", "must be a power of two from 8 to 256 (KMALLOC_MIN_SIZE)",
                min_size);
  if (cfg.profile == Profile::Linux4Slab && min_size != 0 && min_size < 32)
    return fail(out, "kmalloc_min_size",
                "must be at least 32 for linux-4-slab (KMALLOC_SHIFT_LOW 5)", min_size);
  if (cfg.profile == Profile::Linux6 && cfg.max_order < 1)
    return fail(out, "max_order", "must be at least 1 for linux-6 (kmalloc-<2*PAGE_SIZE> cache)",
                cfg.max_order);
  return true;
}

} // namespace km
