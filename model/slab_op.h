// model/slab_op.h - the operation vocabulary for the slab layer (kmem_cache_*), and its printers.
//
// Three kinds of handles name what ops create, each numbered in creation order whether the call
// succeeds or returns NULL: caches cN (the n-th CacheCreate), objects #N (the n-th CacheAlloc)
// and page blocks pN (the n-th AllocPages). Ops that name a handle use the pointer the model
// recorded for it. Misuse ops only say how the call is built; the model decides what the call
// is (a WrongCacheFree naming the object's own cache is just a free, an InteriorFree landing on
// another live object frees that object).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <variant>

#include "kmalloc/gfp.h"
#include "kmalloc/slab.h"

namespace km::model::slab {

using CacheId = std::uint32_t;  // cN
using ObjectId = std::uint32_t; // #N
using PagesId = std::uint32_t;  // pN

// c = kmem_cache_create("cN", size, align, flags, ctor ? test_ctor : NULL).
struct CacheCreate {
  unsigned size = 0;
  unsigned align = 0;
  slab_flags_t flags = 0;
  bool ctor = false;
};
// kmem_cache_alloc(cache, gfp) -> #N. Every new object is filled with its handle's pattern.
struct CacheAlloc {
  CacheId cache = 0;
  gfp_t gfp = GFP_KERNEL;
};
// kmem_cache_free(cache of #N, #N) (the fill pattern is verified first).
struct CacheFree {
  ObjectId object = 0;
};
struct SetCpu {
  unsigned cpu = 0;
};
struct Flush { // kmem_cache_flush(cache)
  CacheId cache = 0;
};
struct FlushAll {}; // flush_cpu_slabs()
struct Shrink {     // kmem_cache_shrink(cache)
  CacheId cache = 0;
};
// kmem_cache_destroy(pointer of cN); a destroyed cache's pointer makes this InvalidCache.
struct Destroy {
  CacheId cache = 0;
};
struct Fill { // rewrites #N's pattern over its whole object_size
  ObjectId object = 0;
};
struct Verify { // checks #N's pattern
  ObjectId object = 0;
};
struct InjectPageFailures { // inject_page_alloc_failures(count)
  unsigned count = 0;
};
// alloc_pages(GFP_KERNEL [| __GFP_DMA], order) -> pN: memory that is not a slab.
struct AllocPages {
  unsigned order = 0;
  bool dma = false;
};
struct FreePages { // free_pages(pN, its order)
  PagesId pages = 0;
};
// kmem_cache_free(cache, #N): #N's object freed to another cache.
struct WrongCacheFree {
  ObjectId object = 0;
  CacheId cache = 0;
};
// kmem_cache_free(cache of #N, #N + offset).
struct InteriorFree {
  ObjectId object = 0;
  unsigned offset = 1;
};
// kmem_cache_free(cache of #N, #N) again (#N was freed; generated for debug caches only).
struct DoubleFree {
  ObjectId object = 0;
};
// kmem_cache_free(cache, a pointer that no slab of the heap holds, as built by `where`).
enum class Foreign : std::uint8_t {
  PageBlock, // pages.addr + offset % block size: inside an alloc_pages block
  Below,     // arena_start - 8
  End,       // arena_end (one past the arena)
  Metadata,  // arena_start + offset % page_size: the heap's own pages
  Stack,     // an object of the checker, not in the arena
};
inline constexpr unsigned kForeignKinds = 5;
struct FreeForeign {
  CacheId cache = 0;
  Foreign where = Foreign::Below;
  PagesId pages = 0;
  unsigned offset = 0;
};
// A kmem_cache pointer that is not a live cache of the heap.
enum class BadCache : std::uint8_t {
  Stale,    // the pointer of cN (InvalidCache once cN is destroyed and its slot not reused)
  Interior, // the pointer of cN + 8
  Foreign,  // an object of the checker
};
inline constexpr unsigned kBadCacheKinds = 3;
// kmem_cache_free(bad, #N), or kmem_cache_destroy(bad) when destroy is set.
struct InvalidCache {
  BadCache kind = BadCache::Foreign;
  CacheId cache = 0;
  ObjectId object = 0;
  bool destroy = false;
};
// Full comparison: every slab's pages, every live object, every fill pattern.
struct ValidateAll {};

using Op =
    std::variant<CacheCreate, CacheAlloc, CacheFree, SetCpu, Flush, FlushAll, Shrink, Destroy, Fill,
                 Verify, InjectPageFailures, AllocPages, FreePages, WrongCacheFree, InteriorFree,
                 DoubleFree, FreeForeign, InvalidCache, ValidateAll>;

// "SLAB_HWCACHE_ALIGN|SLAB_CACHE_DMA", "0" for none; bits without a name print as hex.
std::string slab_flags_to_string(slab_flags_t flags);
// Per-op printing context: which cache an object handle was allocated from (-1: unknown).
struct PrintContext {
  std::span<const int> object_cache; // ObjectId -> CacheId
};
// One op, e.g. `kmem_cache_free(c0, #3)`; creates and allocs print without their result.
std::string to_string(const Op& op, const PrintContext& ctx = {});
// A sequence with results numbered as the checker numbers them, e.g.
// `c0 = kmem_cache_create("c0", 96, 0, SLAB_HWCACHE_ALIGN) ; kmem_cache_alloc(c0) -> #0 ;
// kmem_cache_free(c0, #0)`.
std::string format_ops(std::span<const Op> ops, const char* separator = " ; ");
// The op as a C++ initialiser for a regression test, e.g. "CacheCreate{96, 0, 0x2000, false}".
std::string to_cpp(const Op& op);
// Short name of the op kind ("cache_alloc", "double_free", ...).
const char* op_name(const Op& op);

} // namespace km::model::slab
