// model/op.h - the operation vocabulary for the buddy allocator, and its printers.
//
// One Op is one call (or one check) that the checker runs on the heap and the model. Handles
// name allocations: the n-th AllocPages of a sequence creates handle #n, whether it succeeds or
// returns NULL (a NULL handle frees as address 0). Ops that name a handle use its address and
// order as the model recorded them; misuse ops only say how the call is built, the model decides
// what the call is (so a "DoubleFree" of a live handle is just a free).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <variant>

#include "kmalloc/gfp.h"

namespace km::model {

using Handle = std::uint32_t;

// alloc_pages(gfp, order) -> handle #n.
struct AllocPages {
  unsigned order = 0;
  gfp_t gfp = GFP_KERNEL;
};
// free_pages(addr, order) of a handle with its own order; by_page: __free_pages(page, order).
struct FreePages {
  Handle handle = 0;
  bool by_page = false;
};
// Stamps the handle's pattern into the first and last 16 bytes of every page of its block.
struct Fill {
  Handle handle = 0;
};
// Checks the stamps (or zeros for an unfilled __GFP_ZERO block).
struct Verify {
  Handle handle = 0;
};
// inject_page_alloc_failures(count): the next `count` allocations without __GFP_NOFAIL fail.
struct InjectFailures {
  unsigned count = 0;
};
// free_pages(addr, order) of a handle that was freed already.
struct DoubleFree {
  Handle handle = 0;
};
// free_pages(addr, order + delta) of a handle (order + delta is clamped at 0).
struct FreeWrongOrder {
  Handle handle = 0;
  int delta = 1;
};
// free_pages(addr + offset, order) of a handle; offset in bytes (page multiple: a tail page).
struct FreeInterior {
  Handle handle = 0;
  std::uint64_t offset = 0;
};
// free_pages(arena_start + (page % arena_pages) * page_size, order): any page of the arena.
struct FreeRaw {
  std::uint64_t page = 0;
  unsigned order = 0;
};
// A free that does not name a page of this heap.
enum class Outside : std::uint8_t {
  Below,       // free_pages(arena_start - page_size, 0)
  End,         // free_pages(arena_end, 0)
  Unaligned,   // free_pages(arena_end + 1, 0)
  ForeignPage, // __free_pages(pointer to memory that is no page descriptor, 0)
};
inline constexpr unsigned kOutsideKinds = 4;
struct FreeOutside {
  Outside where = Outside::Below;
};
// Full-arena comparison: page_info of every page, buddyinfo text, get_order, live fills.
struct ValidateAll {};

using Op = std::variant<AllocPages, FreePages, Fill, Verify, InjectFailures, DoubleFree,
                        FreeWrongOrder, FreeInterior, FreeRaw, FreeOutside, ValidateAll>;

// "GFP_KERNEL|__GFP_DMA|__GFP_ZERO"; bits without a name print as hex.
std::string gfp_to_string(gfp_t gfp);
// One op, e.g. "free_pages(#0, order=2) [double free]" (AllocPages prints without its handle).
// handle_orders[h] is the order handle h was allocated with; without it orders print as "?".
std::string to_string(const Op& op, std::span<const unsigned> handle_orders = {});
// A sequence, with "-> #n" after each AllocPages, e.g.
// "alloc_pages(order=2, GFP_KERNEL) -> #0; free_pages(#0, order=2); free_pages(#0, order=2)
// [double free]". Handle orders come from the sequence's own AllocPages.
std::string format_ops(std::span<const Op> ops, const char* separator = "; ");
// The op as a C++ initialiser for a regression test, e.g. "AllocPages{2, GFP_KERNEL}".
std::string to_cpp(const Op& op);
// Short name of the op kind ("alloc_pages", "double_free", ...).
const char* op_name(const Op& op);

} // namespace km::model
