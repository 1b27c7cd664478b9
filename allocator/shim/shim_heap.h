// shim/shim_heap.h - the heap behind libkmalloc-malloc.so: a growing set of arenas, each one
// km::Heap over its own mapping, plus huge mappings for requests above KMALLOC_MAX_SIZE.
//
// It gives malloc's contract on top of kmalloc's: every pointer is aligned to
// alignof(max_align_t) (16), any power-of-two alignment is honoured, size 0 yields a unique
// pointer, and there is no size limit but the address space. Nothing is forwarded to another
// allocator. The first call builds the set from KMALLOC_OPTIONS (shim_options.cpp); calls made
// while it is being built (by the platform's own first calls) are served from a static bootstrap
// buffer whose blocks are never reused.
//
// Threads: every function may run on any thread at once. Each arena is a thread-safe Heap; the
// arena table grows under grow_lock, the huge registry has its own lock (huge_mappings.h).
// Lock order: grow_lock -> huge lock -> the heaps' own locks (kmalloc/heap.h); fork takes the
// shim's locks before the heaps' (pthread_atfork prepare handlers run newest first).
#pragma once

#include <cstddef>

namespace km {
class Heap;
}

namespace km::shim {

inline constexpr std::size_t kMinAlign = alignof(std::max_align_t);

// The malloc family's cores. They return nullptr on failure and leave errno to the caller.
void* allocate(std::size_t size);
void* allocate_aligned(std::size_t size, std::size_t alignment); // alignment: a power of two
void* allocate_zeroed(std::size_t size);
// Frees a pointer from any of the above (nullptr: no-op). A pointer the shim never returned is
// reported on stderr ("free(): invalid pointer") and the process aborts, as glibc does.
void release(void* ptr);
// realloc(ptr, size) with size > 0: the block may move; nullptr leaves ptr untouched.
void* reallocate(void* ptr, std::size_t size);
// At least the size asked for; 0 for nullptr.
std::size_t usable_size(const void* ptr);

// Introspection for the stats dump and the tests.
unsigned nr_arenas();
km::Heap* arena(unsigned index);
std::size_t arena_bytes();
// KMALLOC_OPTIONS' stats= file ("" for none, or before the first call).
const char* stats_path();

} // namespace km::shim
