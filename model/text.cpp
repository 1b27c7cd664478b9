// model/text.cpp - hex() and the GFP / slab flag printers of model/text.h.
#include "model/text.h"

#include <cstdio>

namespace km::oracle {

namespace {

struct BitName {
  std::uint64_t bits;
  const char* name;
};

// Composites first (the first one that fits is printed), then the single bits left over.
constexpr BitName kGfpComposites[] = {
    {GFP_KERNEL, "GFP_KERNEL"}, {GFP_ATOMIC, "GFP_ATOMIC"}, {GFP_NOIO, "GFP_NOIO"}};
constexpr BitName kGfpBits[] = {
    {__GFP_DMA, "__GFP_DMA"},
    {__GFP_HIGHMEM, "__GFP_HIGHMEM"},
    {__GFP_DMA32, "__GFP_DMA32"},
    {__GFP_MOVABLE, "__GFP_MOVABLE"},
    {__GFP_RECLAIMABLE, "__GFP_RECLAIMABLE"},
    {__GFP_HIGH, "__GFP_HIGH"},
    {__GFP_IO, "__GFP_IO"},
    {__GFP_FS, "__GFP_FS"},
    {__GFP_ZERO, "__GFP_ZERO"},
    {__GFP_DIRECT_RECLAIM, "__GFP_DIRECT_RECLAIM"},
    {__GFP_KSWAPD_RECLAIM, "__GFP_KSWAPD_RECLAIM"},
    {__GFP_WRITE, "__GFP_WRITE"},
    {__GFP_NOWARN, "__GFP_NOWARN"},
    {__GFP_RETRY_MAYFAIL, "__GFP_RETRY_MAYFAIL"},
    {__GFP_NOFAIL, "__GFP_NOFAIL"},
    {__GFP_NORETRY, "__GFP_NORETRY"},
    {__GFP_MEMALLOC, "__GFP_MEMALLOC"},
    {__GFP_COMP, "__GFP_COMP"},
    {__GFP_NOMEMALLOC, "__GFP_NOMEMALLOC"},
    {__GFP_HARDWALL, "__GFP_HARDWALL"},
    {__GFP_THISNODE, "__GFP_THISNODE"},
    {__GFP_ACCOUNT, "__GFP_ACCOUNT"},
};
constexpr BitName kSlabFlags[] = {
    {SLAB_CONSISTENCY_CHECKS, "SLAB_CONSISTENCY_CHECKS"},
    {SLAB_RED_ZONE, "SLAB_RED_ZONE"},
    {SLAB_POISON, "SLAB_POISON"},
    {SLAB_KMALLOC, "SLAB_KMALLOC"},
    {SLAB_HWCACHE_ALIGN, "SLAB_HWCACHE_ALIGN"},
    {SLAB_CACHE_DMA, "SLAB_CACHE_DMA"},
    {SLAB_CACHE_DMA32, "SLAB_CACHE_DMA32"},
    {SLAB_STORE_USER, "SLAB_STORE_USER"},
    {SLAB_RECLAIM_ACCOUNT, "SLAB_RECLAIM_ACCOUNT"},
    {SLAB_PANIC, "SLAB_PANIC"},
    {SLAB_TYPESAFE_BY_RCU, "SLAB_TYPESAFE_BY_RCU"},
    {SLAB_TRACE, "SLAB_TRACE"},
    {SLAB_NO_MERGE, "SLAB_NO_MERGE"},
    {SLAB_ACCOUNT, "SLAB_ACCOUNT"},
};

template <std::size_t N, std::size_t M>
std::string bits_to_string(std::uint64_t v, const BitName (&composites)[N],
                           const BitName (&bits)[M]) {
  std::string out;
  auto add = [&](const std::string& name) { out += (out.empty() ? "" : "|") + name; };
  for (const BitName& c : composites) {
    if (c.bits != 0 && (v & c.bits) == c.bits) {
      add(c.name);
      v &= ~c.bits;
      break;
    }
  }
  for (const BitName& b : bits) {
    if ((v & b.bits) != 0) {
      add(b.name);
      v &= ~b.bits;
    }
  }
  if (v != 0)
    add(hex(v));
  return out.empty() ? "0" : out;
}

constexpr BitName kNoComposites[] = {{0, ""}};

} // namespace

std::string hex(std::uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "%#llx", static_cast<unsigned long long>(v));
  return buf;
}

std::string gfp_to_string(gfp_t gfp) {
  return bits_to_string(gfp, kGfpComposites, kGfpBits);
}

std::string slab_flags_to_string(slab_flags_t flags) {
  return bits_to_string(flags, kNoComposites, kSlabFlags);
}

} // namespace km::oracle
