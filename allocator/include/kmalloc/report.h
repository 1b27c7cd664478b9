// kmalloc/report.h - the kinds of misuse and corruption a Heap reports, and the handler hook.
//
// Every report goes through one function per kind (allocator/src/report.cpp) and then to the
// heap's handler. The default handler prints the message to stderr; for misuse and corruption
// it then aborts, for warnings (the kernel's WARN) it returns. Tests and fuzzers install a
// recording handler; then the heap refuses the bad operation and stays valid. The handler is
// never called with a heap lock held, so it may log through malloc or call back into the heap;
// validate() queues the reports of its walk (the first 8, then a count of the rest) and hands
// them over once it has released its locks.
#pragma once

#include <cstdint>

#include "kmalloc/export.h"

#pragma GCC visibility push(default) // exported from libkmalloc (kmalloc/export.h)
namespace km {

enum class ErrorKind : std::uint8_t {
  // Warnings: the request is refused (NULL), the program goes on.
  OrderTooLarge, // alloc_pages order > MAX_ORDER
  InvalidGfp,    // gfp bits outside __GFP_BITS_MASK
  // Misuse of the page allocator: the free is refused.
  PageDoubleFree,  // the page is already free
  PageInvalidFree, // not the head page of an allocated block (outside, misaligned, tail, metadata)
  PageOrderMismatch, // head of an allocated block, freed with another order
  PageOwnerMismatch, // the block belongs to the slab layer or large kmalloc, not to alloc_pages
  // Slab layer.
  CacheCreateFailed,    // warning: kmem_cache_create refused its arguments (NULL returned)
  SlabPanic,            // kmem_cache_create failed for a SLAB_PANIC cache
  ObjectsRemaining,     // warning: kmem_cache_destroy with live objects; the cache stays alive
  InvalidCache,         // the kmem_cache pointer is not a live cache of this heap
  InvalidObjectPointer, // not an object start of a slab of this cache
  WrongCache,           // the object belongs to another cache
  ObjectDoubleFree,     // "Object already free"
  FreelistCorrupt,      // allocation found a free pointer outside its slab; the slab is isolated
  // kmalloc front end.
  SizeTooLarge,    // warning: kmalloc size above KMALLOC_MAX_SIZE (NULL returned)
  KmallocDisabled, // warning: kmalloc on a heap built with Profile::None
  // Heap.
  HeapUninitialized, // warning: a method of a Heap that was never (successfully) initialised
  // validate() found a broken invariant.
  Corruption,
};

inline constexpr unsigned kErrorKindCount = static_cast<unsigned>(ErrorKind::Corruption) + 1;

const char* error_kind_name(ErrorKind kind);
bool error_kind_is_warning(ErrorKind kind);

struct ErrorReport {
  ErrorKind kind;
  std::uintptr_t address; // the address the report is about, or 0
  const char* message;    // full text, starting with "kmalloc: "; valid during the call only
};

using ReportHandler = void (*)(void* context, const ErrorReport& report);

// Prints the message; aborts unless the kind is a warning.
void default_report_handler(void* context, const ErrorReport& report);

} // namespace km
#pragma GCC visibility pop
