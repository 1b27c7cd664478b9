// fuzz/heap_decode.cpp - bytes -> config and op list for fuzz_heap (see heap_decode.h).
#include "fuzz/heap_decode.h"

#include <algorithm>
#include <cstring>

namespace km::fuzz {

namespace {

using oracle::BadPointer;
using oracle::FreeRoute;
using oracle::Op;
using oracle::OpKind;

// Which kind each value of byte 0 % 32 decodes to: the mix the fuzzer starts from.
constexpr OpKind kOpTable[32] = {
    OpKind::Kmalloc,     OpKind::Kmalloc,     OpKind::Kmalloc,      OpKind::Kmalloc,
    OpKind::Kmalloc,     OpKind::Kzalloc,     OpKind::KmallocArray, OpKind::Kcalloc,
    OpKind::Krealloc,    OpKind::Krealloc,    OpKind::Free,         OpKind::Free,
    OpKind::Free,        OpKind::Free,        OpKind::Free,         OpKind::Free,
    OpKind::CacheCreate, OpKind::CacheAlloc,  OpKind::CacheAlloc,   OpKind::CacheAlloc,
    OpKind::CacheZalloc, OpKind::CacheShrink, OpKind::CacheDestroy, OpKind::AllocPages,
    OpKind::AllocPages,  OpKind::Ksize,       OpKind::Verify,       OpKind::FreeAt,
    OpKind::BadCache,    OpKind::Flush,       OpKind::SetCpu,       OpKind::FailNext,
};
// Record byte 0 values 32..255 repeat the table, except these rarer ops.
constexpr std::uint8_t kCheckSizeCode = 0xfd, kValidateCode = 0xfe;

std::uint16_t u16(const std::uint8_t* r, unsigned i) {
  return static_cast<std::uint16_t>(r[i] | r[i + 1] << 8);
}

std::uint64_t decode_size(std::uint8_t sel, std::uint8_t a, std::uint8_t b) {
  const auto delta = static_cast<std::int64_t>(static_cast<std::int8_t>(b));
  switch (sel % 8) {
  case 0:
  case 1: return a; // 0..255, exact
  case 2: {         // a power of two and its neighbours: the class boundaries
    const std::int64_t v = (std::int64_t{1} << (a % 24)) + delta % 4;
    return static_cast<std::uint64_t>(std::max<std::int64_t>(v, 0));
  }
  case 3:
  case 4: // log-uniform below 16 KiB
    return (std::uint64_t{1} << (a % 14)) + ((std::uint64_t{b} << 8 | a) & ((1u << (a % 14)) - 1));
  case 5: // the 96 and 192 classes
    return static_cast<std::uint64_t>((a & 1 ? 192 : 96) + delta % 8);
  case 6: // up to 64 MiB: the large path and past KMALLOC_MAX_SIZE
    return (std::uint64_t{1} << (a % 27)) + b;
  default: // overflow territory
    return b % 2 ? ~std::uint64_t{0} - a : std::uint64_t{1} << (a % 64);
  }
}

gfp_t decode_gfp(std::uint8_t b) {
  static constexpr gfp_t kBase[4] = {GFP_KERNEL, GFP_ATOMIC, GFP_NOWAIT, GFP_KERNEL};
  gfp_t g = kBase[b & 3];
  if (b & 0x04)
    g |= __GFP_ZERO;
  if ((b & 0x18) == 0x08)
    g |= __GFP_DMA;
  if ((b & 0x18) == 0x10)
    g |= __GFP_RECLAIMABLE;
  if (b & 0x20)
    g |= __GFP_NOWARN;
  if (b & 0x40)
    g |= __GFP_ACCOUNT;
  if (b & 0x80)
    g |= (b & 3) == 3 ? gfp_t{0x800000} : __GFP_NOFAIL; // a bit outside __GFP_BITS_MASK
  return g;
}

// largest: the config's largest buddy block, 2^(page_shift + max_order) bytes.
unsigned decode_object_size(std::uint8_t a, std::uint8_t b, unsigned largest) {
  switch (a >> 6) {
  case 0: return 1u + b;
  case 1: return 8u * (b + 1u);
  case 2: // a power of two and its neighbours; b % 16 == 15: the largest block and its neighbours
    return (b % 16 == 15 ? largest : 1u << (b % 16)) + (a & 7) - 3;
  default: return a == 0xff ? 0xffffffffu - b : ((a & 63u) << 8 | b);
  }
}

unsigned decode_align(std::uint8_t b) {
  static constexpr unsigned kAlign[8] = {0, 0, 0, 8, 16, 64, 4096, 24};
  return kAlign[b % 8];
}

slab_flags_t decode_slab_flags(std::uint8_t b) {
  slab_flags_t f = 0;
  if (b & 0x01)
    f |= SLAB_HWCACHE_ALIGN;
  if ((b & 0x06) == 0x02)
    f |= SLAB_CACHE_DMA;
  if ((b & 0x06) == 0x04)
    f |= SLAB_RECLAIM_ACCOUNT;
  if (b & 0x08)
    f |= SLAB_CONSISTENCY_CHECKS;
  if ((b & 0x30) == 0x30)
    f |= (b & 0x40) ? SLAB_RED_ZONE : SLAB_POISON; // not supported: create must refuse
  if ((b & 0xc0) == 0xc0)
    f |= SLAB_PANIC;
  if ((b & 0x30) == 0x10)
    f |= SLAB_ACCOUNT | SLAB_NO_MERGE;
  return f;
}

} // namespace

Config decode_config(const std::uint8_t* h, std::size_t region_bytes) {
  Config cfg;
  const unsigned p = h[0] % 8;
  cfg.profile = p < 5 ? Profile::Linux6 : p < 7 ? Profile::Linux4Slab : Profile::None;
  static constexpr unsigned kShift[8] = {12, 12, 12, 12, 12, 12, 14, 16};
  cfg.page_shift = kShift[h[1] % 8];
  cfg.max_order = std::max(1u, 10u - h[2] % 8u);
  const std::size_t page = std::size_t{1} << cfg.page_shift;
  // Mostly small arenas: a heap's init and the full walk cost grow with its pages.
  static constexpr std::size_t kPages[8] = {64, 64, 128, 128, 256, 512, 1024, 8192};
  // Two inputs in 32: the smallest arenas, 8 pages and 7 (which the heap must refuse).
  const std::size_t pages = (h[2] >> 3) >= 30 ? 7 + (h[2] >> 3) % 2 : kPages[h[3] % 8];
  cfg.arena_size = std::min(region_bytes, page * pages);
  static constexpr unsigned kMinSize[8] = {0, 0, 0, 0, 0, 32, 64, 128};
  cfg.kmalloc_min_size = kMinSize[h[4] % 8];
  switch (h[5] % 4) {
  case 2: cfg.dma_zone_size = 0; break;
  case 3: cfg.dma_zone_size = cfg.arena_size / 64 * (h[5] >> 2) / page * page; break;
  default: cfg.dma_zone_size = kDmaZoneDefault; break;
  }
  static constexpr unsigned kCpus[8] = {1, 2, 4, 8, 1, 2, 3, 6};
  cfg.nr_cpus = kCpus[h[6] % 8];
  cfg.freelist_hardened = (h[7] & 1) != 0;
  static constexpr unsigned kMinObjects[4] = {0, 0, 4, 16};
  cfg.slub_min_objects = kMinObjects[(h[7] >> 1) & 3];
  if (h[7] & 8)
    cfg.slub_max_order = 1;
  // slub_min_order: 0 but for three inputs in 32; 4 is above the default slub_max_order (the
  // heap must refuse it). Rare, so that the seeds written before this field keep their meaning.
  static constexpr unsigned kSlubMinOrder[3] = {1, 2, 4};
  cfg.slub_min_order = (h[6] >> 3) >= 29 ? kSlubMinOrder[(h[6] >> 3) - 29] : 0;
  cfg.random_seed = 0x6b6d616c6c6f63; // fixed: every input replays byte for byte
  return cfg;
}

Op decode_op(const std::uint8_t* r, std::uint32_t handles, std::uint32_t caches, unsigned max_order,
             unsigned page_shift) {
  Op op;
  op.kind = r[0] == kCheckSizeCode  ? OpKind::CheckSize
            : r[0] == kValidateCode ? OpKind::Validate
                                    : kOpTable[r[0] % 32];
  auto handle = [&](unsigned i) { return handles == 0 ? 0u : u16(r, i) % handles; };
  auto cache = [&](unsigned i) { return caches == 0 ? 0u : r[i] % caches; };
  switch (op.kind) {
  case OpKind::Kmalloc:
  case OpKind::Kzalloc:
  case OpKind::CheckSize:
    op.size = decode_size(r[1], r[2], r[3]);
    op.gfp = decode_gfp(r[4]);
    break;
  case OpKind::KmallocArray:
  case OpKind::Kcalloc:
    op.size = decode_size(r[1], r[2], r[3]);
    op.gfp = decode_gfp(r[4]);
    op.n = r[5] == 0xff ? (~std::uint64_t{0} >> 1) + r[6] : std::uint64_t{r[5]} % 64;
    break;
  case OpKind::Krealloc:
    op.handle = handle(1);
    op.size = decode_size(r[3], r[4], r[5]);
    op.gfp = decode_gfp(r[6] & 0x7f);
    op.arg = (r[6] & 0x80) != 0 ? 1 + (r[7] & 1) : 0;
    break;
  case OpKind::Ksize:
  case OpKind::Verify: op.handle = handle(1); break;
  case OpKind::CacheCreate:
    op.size = decode_object_size(r[1], r[2], 1u << (page_shift + max_order));
    op.n = decode_align(r[3]);
    op.flags = decode_slab_flags(r[4]);
    op.arg = r[5] & 1;
    // One create in eight gets a name at the 63-character limit (62..65), "" or NULL.
    if (const unsigned v = r[5] >> 1; v >= 112)
      op.name_len = v == 112   ? oracle::kNullName
                    : v == 113 ? oracle::kEmptyName
                               : static_cast<std::uint16_t>(62 + (v - 114) % 4);
    break;
  case OpKind::CacheAlloc:
  case OpKind::CacheZalloc:
    op.cache = cache(1);
    op.gfp = decode_gfp(r[2]);
    break;
  case OpKind::CacheShrink:
  case OpKind::CacheDestroy: op.cache = cache(1); break;
  case OpKind::AllocPages:
    op.arg = r[1] % (max_order + 2);
    op.gfp = decode_gfp(r[2]);
    break;
  case OpKind::Free: {
    op.handle = handle(1);
    // Mostly the route the object came from; sometimes another one, an interior pointer, a
    // wrong order or a wrong cache.
    op.route = r[3] < 0xc0 ? FreeRoute::Own : static_cast<FreeRoute>(r[3] % oracle::kFreeRoutes);
    if ((r[4] & 0xc0) == 0xc0)
      op.size = std::uint64_t{r[5]} | std::uint64_t{r[6]} << 8;
    if ((r[4] & 0x30) == 0x30)
      op.arg = 1 + (r[4] & 1);
    if ((r[4] & 0x0c) == 0x0c && caches != 0) {
      op.route = FreeRoute::CacheFree;
      op.cache = cache(7);
    }
    break;
  }
  case OpKind::FreeAt:
    op.route = static_cast<FreeRoute>(r[1] % oracle::kFreeRoutes);
    op.arg = r[2] % oracle::kWheres;
    op.size = std::uint64_t{u16(r, 3)} | std::uint64_t{u16(r, 5)} << 16;
    op.cache = caches == 0 || r[7] < 0x80 ? oracle::kNoCache : r[7] % caches;
    break;
  case OpKind::BadCache:
    op.arg = r[1] % oracle::kBadPointers;
    op.cache = cache(2);
    op.n = r[3] % 4;
    op.handle = handle(4);
    break;
  case OpKind::SetCpu: op.arg = r[1]; break;
  case OpKind::FailNext: op.arg = 1 + r[1] % 3; break;
  case OpKind::Flush:
  case OpKind::Validate: break;
  }
  return op;
}

namespace {

// One item the option grammar refuses (it comes last, so a duplicate key does not hide it).
constexpr const char* kBadItems[] = {
    "cache_line_size=7", "bogus=1", "page_shift=13", "max_order=99", "min_size=48", "nr_cpus=8193",
    "hardened=2",        "=1",      "dma=12345",     "seed=-1",      "arena=1T",    "profile=linux",
    "slub_min_order=9"};

} // namespace

std::string options_of(const Config& cfg) {
  const char* profile = cfg.profile == Profile::Linux6       ? "linux-6"
                        : cfg.profile == Profile::Linux4Slab ? "linux-4-slab"
                                                             : "none";
  std::string out = std::string("profile=") + profile +
                    ",page_shift=" + std::to_string(cfg.page_shift) +
                    ",max_order=" + std::to_string(cfg.max_order) +
                    ",min_size=" + std::to_string(cfg.kmalloc_min_size) +
                    ",nr_cpus=" + std::to_string(cfg.nr_cpus) +
                    ",slub_min_order=" + std::to_string(cfg.slub_min_order) +
                    ",slub_max_order=" + std::to_string(cfg.slub_max_order) +
                    ",slub_min_objects=" + std::to_string(cfg.slub_min_objects) +
                    ",hardened=" + (cfg.freelist_hardened ? "1" : "0") +
                    ",seed=" + std::to_string(cfg.random_seed);
  if (cfg.dma_zone_size != kDmaZoneDefault)
    out += ",dma=" + std::to_string(cfg.dma_zone_size);
  return out;
}

HeapInput decode_heap_input(const std::uint8_t* data, std::size_t size, std::size_t region_bytes) {
  HeapInput in;
  std::uint8_t header[kHeaderBytes] = {};
  std::memcpy(header, data, std::min(size, kHeaderBytes));
  in.cfg = decode_config(header, region_bytes);
  in.via_c = (header[0] >> 3) % 16 == 0;
  if (in.via_c) {
    in.options = options_of(in.cfg);
    if ((header[7] >> 4) == 15)
      in.bad_options = in.options + "," + kBadItems[header[3] % std::size(kBadItems)];
  }
  std::uint32_t handles = 0, caches = 0;
  for (std::size_t at = kHeaderBytes; at < size && in.ops.size() < kMaxHeapOps;
       at += kRecordBytes) {
    std::uint8_t r[kRecordBytes] = {};
    std::memcpy(r, data + at, std::min(kRecordBytes, size - at));
    const Op op = decode_op(r, handles, caches, in.cfg.max_order, in.cfg.page_shift);
    handles += oracle::creates_handle(op.kind) ? 1 : 0;
    caches += op.kind == OpKind::CacheCreate ? 1 : 0;
    in.ops.push_back(op);
  }
  return in;
}

} // namespace km::fuzz
