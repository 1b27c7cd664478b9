// model/heap_op.h - the one operation vocabulary of the whole heap, and its printers.
//
// One Op is one call (or one check) that the HeapChecker runs on the heap and the model. Ops of
// every layer mix in one sequence: the kmalloc family, the kmem_cache family, the page
// allocator, fill/verify, flush, set_cpu, fail-next and misuse.
//
// Names are stable under insertion: the n-th allocating op of a sequence (kmalloc, kzalloc,
// kmalloc_array, kcalloc, kmem_cache_alloc/zalloc, alloc_pages) creates #n whether it succeeds or
// not, and the n-th kmem_cache_create creates cN. Ops name their victims by these numbers; an op
// whose victim does not exist (yet) is skipped. krealloc(#h) updates #h in place: #h follows its
// data. The model, not the op, decides what a free is: Free{kfree, #h} of a live kmalloc object
// is a free, of a freed one a double free, of an alloc_pages block an invalid pointer.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "kmalloc/gfp.h"
#include "kmalloc/slab.h"

namespace km::oracle {

using Handle = std::uint32_t;  // #n
using CacheId = std::uint32_t; // cN

enum class OpKind : std::uint8_t {
  Kmalloc,      // kmalloc(size, gfp) -> #n
  Kzalloc,      // kzalloc(size, gfp) -> #n
  KmallocArray, // kmalloc_array(n, size, gfp) -> #n (n * size may overflow: NULL)
  Kcalloc,      // kcalloc(n, size, gfp) -> #n
  Krealloc,     // krealloc(#h, size, gfp); arg: inject that many page allocation failures
  Ksize,        // ksize(#h)
  CacheCreate,  // cN = kmem_cache_create(name, size, n (align), flags, arg ? ctor : NULL); name:
                //   "cN", or name_len characters ("cN" padded with '_'), "" or NULL
  CacheAlloc,   // kmem_cache_alloc(cN, gfp) -> #n
  CacheZalloc,  // kmem_cache_zalloc(cN, gfp) -> #n
  CacheShrink,  // kmem_cache_shrink(cN)
  CacheDestroy, // kmem_cache_destroy(cN)
  AllocPages,   // alloc_pages(gfp, arg) -> #n; n != 0: __get_free_pages(gfp, arg)
  Free,         // route(#h + size, order of #h + arg, cN when cache != kNoCache); see FreeRoute
  FreeAt,       // route(an address built by where = arg, offset size); see Where; __free_pages
                //   of an odd address in the arena: of a pointer 1..7 bytes into a descriptor
  BadCache,     // kmem_cache_{alloc,free,shrink,destroy} (n) on a bad pointer (arg: BadPointer)
  Verify,       // checks #h's fill pattern and known zeros
  Flush,        // flush_cpu_slabs()
  SetCpu,       // set_cpu(arg)
  FailNext,     // the next op's page allocations fail: inject_page_alloc_failures(arg)
  CheckSize,    // kmalloc_index, kmalloc_size_roundup, kmalloc_cache(size, gfp) against the model
  Validate,     // the full walk, now
};
inline constexpr unsigned kOpKinds = static_cast<unsigned>(OpKind::Validate) + 1;

// How a Free / FreeAt frees.
enum class FreeRoute : std::uint8_t {
  Kfree,          // kfree(p)
  KfreeSensitive, // kfree_sensitive(p)
  CacheFree,      // kmem_cache_free(cache, p): #h's own cache, or cN
  FreePages,      // free_pages(p, order)
  PageFree,       // __free_pages(virt_to_page(p), order)
  Own,            // the way #h was allocated: kfree, kmem_cache_free(its cache) or free_pages
};
inline constexpr unsigned kFreeRoutes = 5; // the explicit ones, before Own

// Where a FreeAt points.
enum class Where : std::uint8_t {
  Outside,   // an object of the checker, not in the arena
  Below,     // arena_start - 64
  End,       // arena_end
  ArenaPage, // arena page (offset / page_size) % pages, byte offset % page_size: metadata,
             // free, slab or allocated pages, whatever the model says is there; an offset of
             // 0xf0000000 or more: the start of a metadata page
  SlabTail,  // the slack of a live slab (offset picks it) past its last object
};
inline constexpr unsigned kWheres = 5;

// The kmem_cache pointer of a BadCache.
enum class BadPointer : std::uint8_t {
  Stale,    // the pointer cN had (valid only while cN lives: a live cN makes the op legal)
  Interior, // the pointer of cN + 8
  Foreign,  // an object of the checker
};
inline constexpr unsigned kBadPointers = 3;

inline constexpr CacheId kNoCache = 0xffffffffu;
// Op::name_len: 0 names cN "cN"; these two pass "" and NULL; any other n, n characters.
inline constexpr std::uint16_t kEmptyName = 0xffff, kNullName = 0xfffe;

struct Op {
  OpKind kind = OpKind::Kmalloc;
  std::uint64_t size = 0; // bytes; Free: interior offset; FreeAt: offset
  std::uint64_t n = 0;    // array count; CacheCreate: align; BadCache: which call
  gfp_t gfp = GFP_KERNEL;
  Handle handle = 0;
  CacheId cache = kNoCache;
  slab_flags_t flags = 0;
  std::uint32_t arg = 0; // order, cpu, count, route, where: see OpKind
  FreeRoute route = FreeRoute::Kfree;
  std::uint16_t name_len = 0; // CacheCreate: see kEmptyName
};

// True for the ops that create #n.
bool creates_handle(OpKind kind);
const char* op_name(OpKind kind);
const char* route_name(FreeRoute route);
// One op, e.g. "kfree(#3)" or "kmem_cache_alloc(c0, GFP_KERNEL)".
std::string to_string(const Op& op);
// A sequence with results, e.g. "kmalloc(96, GFP_KERNEL) -> #0; kfree(#0); kfree(#0)".
std::string format_ops(std::span<const Op> ops, const char* separator = "; ");
// The op as a C++ designated initialiser for a regression test.
std::string to_cpp(const Op& op);

} // namespace km::oracle
