/* SPDX-License-Identifier: MIT */
/*
 * kmalloc/kmalloc.h - the C API: the kernel's kmalloc, kmem_cache and page allocator calls over
 * one default heap. Usable from C11 and C++.
 *
 * The default heap is built on first use from the options given to kmalloc_init(), else from
 * the environment variable KMALLOC_OPTIONS, else "profile=linux-6" (64 MiB arena, 4 KiB pages,
 * 16 MiB ZONE_DMA). Misuse is reported on stderr and aborts, as a kernel BUG would.
 * Not thread-safe yet: callers serialise.
 */
#ifndef KMALLOC_KMALLOC_H
#define KMALLOC_KMALLOC_H

#include <stddef.h>

#include "kmalloc/export.h"
#include "kmalloc/gfp.h"
#include "kmalloc/slab.h"

#pragma GCC visibility push(default) /* exported from libkmalloc (kmalloc/export.h) */
#ifdef __cplusplus
extern "C" {
#endif

struct page;
struct kmem_cache;

/* What kmalloc(0) returns: not NULL, and faults when dereferenced. */
#define ZERO_SIZE_PTR ((void*)16)
#define ZERO_OR_NULL_PTR(x) ((unsigned long)(x) <= (unsigned long)ZERO_SIZE_PTR)

/**
 * kmalloc_init - build the default heap from an option string.
 * @options: "key=value,..." (keys: profile, arena, dma, page_shift, max_order, min_size,
 *           nr_cpus, slub_min_order, slub_max_order, slub_min_objects, cache_line_size,
 *           max_caches, hardened, seed); NULL means the defaults.
 *
 * Must come before any other call. On a bad key or value nothing is built and a message naming
 * it is printed.
 *
 * Return: 0 on success; -EINVAL (-22) for a bad option or config; -EBUSY (-16) if the default
 * heap already exists.
 */
int kmalloc_init(const char* options);

/**
 * kmalloc - allocate memory.
 * @size: bytes required.
 * @flags: GFP flags; __GFP_DMA takes from dma-kmalloc-*, __GFP_RECLAIMABLE from kmalloc-rcl-*
 *         (linux-6 only; linux-4-slab has no such caches and uses kmalloc-*), __GFP_ZERO zeroes
 *         the object.
 *
 * The object comes from the smallest kmalloc cache that fits (kmalloc_index()); larger
 * requests (above KMALLOC_MAX_CACHE_SIZE) come straight from the page allocator at order
 * get_order(size) and are page aligned. The result is aligned to at least
 * ARCH_KMALLOC_MINALIGN, and to @size when @size is a power of two.
 *
 * Return: the object; ZERO_SIZE_PTR for @size 0; NULL, silently, when out of memory; NULL
 * with a warning (unless __GFP_NOWARN) when @size exceeds KMALLOC_MAX_SIZE.
 */
void* kmalloc(size_t size, gfp_t flags);

/** kzalloc - kmalloc() with __GFP_ZERO. Return: as kmalloc(). */
void* kzalloc(size_t size, gfp_t flags);

/**
 * kmalloc_array - allocate an array.
 * @n: number of elements. @size: element size. @flags: as kmalloc().
 * Return: as kmalloc(n * size); NULL, without a warning, when n * size overflows.
 */
void* kmalloc_array(size_t n, size_t size, gfp_t flags);

/** kcalloc - kmalloc_array() with __GFP_ZERO. Return: as kmalloc_array(). */
void* kcalloc(size_t n, size_t size, gfp_t flags);

/**
 * krealloc - resize an object.
 * @p: object from kmalloc (or NULL / ZERO_SIZE_PTR, then this is kmalloc(@new_size)).
 * @new_size: bytes required; 0 frees @p and returns ZERO_SIZE_PTR.
 * @flags: as kmalloc(); with __GFP_ZERO the bytes past @new_size in the object are zeroed.
 *
 * Stays in place when @new_size fits the object (so shrinking never moves); otherwise copies
 * the object into a new one and frees @p.
 *
 * Return: the object; NULL on failure, when @p is left intact.
 */
void* krealloc(const void* p, size_t new_size, gfp_t flags);

/** krealloc_array - krealloc(p, n * size); NULL when n * size overflows (p intact). */
void* krealloc_array(const void* p, size_t n, size_t size, gfp_t flags);

/**
 * kfree - free an object from kmalloc() or kmem_cache_alloc().
 * @objp: the object; NULL and ZERO_SIZE_PTR are ignored.
 * A pointer that is not an object start is reported ("Invalid object pointer"), and so is a
 * second free of one object ("Object already free"); neither is freed.
 */
void kfree(const void* objp);

/** kfree_sensitive - zero the whole object (ksize() bytes), then kfree() it. */
void kfree_sensitive(const void* objp);

/**
 * ksize - the usable size of an object (reporting only: it does not make the slack usable;
 * use kmalloc_size_roundup() before allocating for that).
 * Return: the cache's object stride (the object size rounded up to the cache's alignment; for
 * kmalloc caches the class size), or PAGE_SIZE << order for a large kmalloc; 0 for NULL and
 * ZERO_SIZE_PTR, and 0 (with a report) for a pointer that is not an allocated object.
 */
size_t ksize(const void* objp);

/**
 * kmalloc_size_roundup - the size kmalloc(@size) really hands out.
 * Return: 0 for 0; ksize(kmalloc(@size)) up to KMALLOC_MAX_SIZE; @size itself beyond.
 */
size_t kmalloc_size_roundup(size_t size);

/**
 * kmalloc_index - the kmalloc cache index of @size, as include/linux/slab.h computes it: 0 for
 * 0; KMALLOC_SHIFT_LOW for sizes up to KMALLOC_MIN_SIZE; 1 for 65..96 if KMALLOC_MIN_SIZE <= 32;
 * 2 for 129..192 if KMALLOC_MIN_SIZE <= 64; otherwise n for 2^(n-1)+1 .. 2^n.
 * Return: the index; -1 above 2 MiB (linux-6) or 64 MiB (linux-4-slab), where the kernel BUG()s.
 */
int kmalloc_index(size_t size);

/**
 * kmem_cache_create - create a slab cache.
 * @name: shown in slabinfo (at most 63 characters). @size: object size. @align: minimum
 * alignment (0 or a power of two). @flags: SLAB_* flags (see kmalloc/slab.h). @ctor: called on
 * every object when its slab is created, or NULL.
 * Return: the cache, or NULL (with a warning) for bad arguments or unsupported flags; with
 * SLAB_PANIC such a failure is fatal instead.
 */
struct kmem_cache* kmem_cache_create(const char* name, unsigned int size, unsigned int align,
                                     slab_flags_t flags, void (*ctor)(void*));
/** kmem_cache_alloc - an object of @cachep, or NULL. */
void* kmem_cache_alloc(struct kmem_cache* cachep, gfp_t flags);
/** kmem_cache_zalloc - kmem_cache_alloc() with __GFP_ZERO. */
void* kmem_cache_zalloc(struct kmem_cache* cachep, gfp_t flags);
/**
 * kmem_cache_free - free @objp to @cachep; misuse (another cache's object, a pointer that is not
 * an object start, a double free) is reported and nothing is freed.
 */
void kmem_cache_free(struct kmem_cache* cachep, void* objp);
/** kmem_cache_destroy - destroy an empty cache; with live objects it is reported and kept. */
void kmem_cache_destroy(struct kmem_cache* cachep);
/** kmem_cache_shrink - release empty slabs. Return: 0 iff no slab remains. */
int kmem_cache_shrink(struct kmem_cache* cachep);

/**
 * alloc_pages - 2^@order naturally aligned pages. Return: the first page's descriptor or NULL
 * (with a warning for @order > MAX_ORDER unless __GFP_NOWARN).
 */
struct page* alloc_pages(gfp_t gfp_mask, unsigned int order);
/** __free_pages - free pages from alloc_pages() with the same @order. */
void __free_pages(struct page* page, unsigned int order);
/** __get_free_pages - alloc_pages() returning the address. Return: the address or 0. */
unsigned long __get_free_pages(gfp_t gfp_mask, unsigned int order);
/** free_pages - free by address; 0 is ignored. */
void free_pages(unsigned long addr, unsigned int order);
/** page_address - the address of a page. */
void* page_address(const struct page* page);
/** virt_to_page - the page holding an address of the heap, or NULL. */
struct page* virt_to_page(const void* addr);
/** get_order - the smallest order whose block holds @size bytes (@size > 0). */
int get_order(unsigned long size);

/**
 * kmalloc_slabinfo - /proc/slabinfo (version 2.1) of the default heap into @buf, snprintf-style.
 * Return: the full length (a return value >= @size means the text was cut).
 */
size_t kmalloc_slabinfo(char* buf, size_t size);
/** kmalloc_buddyinfo - /proc/buddyinfo of the default heap, snprintf-style. */
size_t kmalloc_buddyinfo(char* buf, size_t size);

#ifdef __cplusplus
}
#endif
#pragma GCC visibility pop

#endif /* KMALLOC_KMALLOC_H */
