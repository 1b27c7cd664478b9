// model/kmalloc_op.h - the operation vocabulary for the kmalloc front end, and its printers.
//
// Handles #N name allocations: the n-th Kmalloc / Kzalloc / Kcalloc of a sequence creates #n,
// whether it returns an object, ZERO_SIZE_PTR or NULL. Krealloc updates its handle in place (the
// handle follows the data when krealloc moves it); krealloc(#n, 0) frees it and leaves #n holding
// ZERO_SIZE_PTR. Ops naming a handle use the pointer the model recorded; misuse ops only say how
// the call is built and the model decides what it is (a KfreeTwice whose address now starts
// another live allocation frees that allocation).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <variant>

#include "kmalloc/gfp.h"

namespace km::model::front {

using Handle = std::uint32_t;

// kmalloc(size, gfp) -> #n.
struct Kmalloc {
  std::uint64_t size = 0;
  gfp_t gfp = GFP_KERNEL;
};
// kzalloc(size, gfp) -> #n.
struct Kzalloc {
  std::uint64_t size = 0;
  gfp_t gfp = GFP_KERNEL;
};
// kcalloc(n, size, gfp) (zero = true) or kmalloc_array(n, size, gfp) -> #n; n * size may
// overflow (NULL, no report).
struct Kcalloc {
  std::uint64_t n = 0;
  std::uint64_t size = 0;
  gfp_t gfp = GFP_KERNEL;
  bool zero = true;
};
// krealloc(#h, new_size, gfp); #h may hold NULL or ZERO_SIZE_PTR (then it is a kmalloc).
// fail: inject_page_alloc_failures(fail) first (reset to 0 afterwards).
struct Krealloc {
  Handle handle = 0;
  std::uint64_t new_size = 0;
  gfp_t gfp = GFP_KERNEL;
  unsigned fail = 0;
};
struct Kfree { // kfree(#h) (a no-op for NULL / ZERO_SIZE_PTR handles)
  Handle handle = 0;
};
struct KfreeSensitive { // kfree_sensitive(#h)
  Handle handle = 0;
};
struct Ksize { // ksize(#h) == the model's
  Handle handle = 0;
};
struct Fill { // writes #h's pattern over its requested bytes
  Handle handle = 0;
};
struct Verify { // checks #h's pattern and known zeros over its requested bytes
  Handle handle = 0;
};
// The next allocating op runs with inject_page_alloc_failures(count) (reset afterwards).
struct FailNext {
  unsigned count = 0;
};
// kfree(#h + offset) for a live #h; offset is reduced to 1 .. ksize - 1.
struct KfreeInterior {
  Handle handle = 0;
  std::uint64_t offset = 1;
};
// kfree(#h) again after #h was freed (skipped where the allocator cannot detect it).
struct KfreeTwice {
  Handle handle = 0;
};
enum class Foreign : std::uint8_t {
  Stack,     // an object of the checker (outside the heap)
  Below,     // arena_start - 64
  End,       // arena_end
  Metadata,  // arena_start (+ offset % page_size): heap metadata
  PageBlock, // a fresh alloc_pages(GFP_KERNEL, 0) block + offset (freed afterwards)
};
inline constexpr unsigned kForeignKinds = 5;
struct KfreeForeign {
  Foreign where = Foreign::Stack;
  std::uint32_t offset = 0;
};
// Static comparisons for one size: kmalloc_index, kmalloc_size_roundup, kmalloc_cache name.
struct CheckSize {
  std::uint64_t size = 0;
  gfp_t gfp = GFP_KERNEL;
};

using Op = std::variant<Kmalloc, Kzalloc, Kcalloc, Krealloc, Kfree, KfreeSensitive, Ksize, Fill,
                        Verify, FailNext, KfreeInterior, KfreeTwice, KfreeForeign, CheckSize>;

// "GFP_KERNEL|__GFP_DMA|__GFP_ZERO"; bits without a name print as hex.
std::string gfp_to_string(gfp_t gfp);
// One op, e.g. "kfree(#3)"; allocations print without their result handle.
std::string to_string(const Op& op);
// A sequence, with " -> #n" after each allocation, e.g.
// "kmalloc(96, GFP_KERNEL) -> #0; kfree(#0); kfree(#0) [twice]".
std::string format_ops(std::span<const Op> ops, const char* separator = "; ");
// The op as a C++ initialiser for a regression test, e.g. "Kmalloc{96, 0xcc0}".
std::string to_cpp(const Op& op);
const char* op_name(const Op& op);
// True for the ops that create a handle.
bool creates_handle(const Op& op);

} // namespace km::model::front
