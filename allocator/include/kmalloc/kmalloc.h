/* SPDX-License-Identifier: MIT */
/*
 * kmalloc/kmalloc.h - the C API: the kernel's kmalloc, kmem_cache and page allocator calls over
 * one default heap. Usable from C11 and C++.
 *
 * The default heap is built on first use from the options given to kmalloc_init(), else from
 * the environment variable KMALLOC_OPTIONS, else "profile=linux-6" (64 MiB arena, 4 KiB pages,
 * MAX_ORDER 10, a ZONE_DMA of min(16 MiB, arena / 4) after the heap's metadata).
 * kmalloc_init_region() builds it over memory the caller owns instead. The default heap is never
 * destroyed: it lives until the process ends, so static destructors and atexit handlers may still
 * use it. Misuse is reported on stderr and aborts, as a kernel BUG would, unless a handler is
 * installed with kmalloc_set_report_handler(). Thread-safe: the allocation and free calls may
 * run on any thread at once (kmalloc/heap.h says how); kmalloc_init*, the report handler and
 * the introspection calls (validate, slabinfo, stats) expect no concurrent allocation.
 */
#ifndef KMALLOC_KMALLOC_H
#define KMALLOC_KMALLOC_H

#include <stddef.h>
#include <stdint.h>

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
 *           max_caches, hardened, seed); NULL means the defaults. nr_cpus is a count or
 *           "auto" (the default: this machine's possible CPUs, see kmalloc/config.h).
 *
 * Must come before any other call, except kmalloc_set_report_handler(),
 * kmalloc_report_kind_name() and kmalloc_report_is_warning(), which do not build the heap. On a
 * bad key or value nothing is built and a message naming it is printed.
 *
 * Return: 0 on success; -EINVAL (-22) for a bad option or config; -EBUSY (-16) if the default
 * heap already exists.
 */
int kmalloc_init(const char* options);

/**
 * kmalloc_init_region - build the default heap over memory the caller owns, with no mmap.
 * @base: the first byte of the region; it need not be aligned: the heap uses the whole pages
 *        inside [@base, @base + @bytes).
 * @bytes: the size of the region.
 * @options: as kmalloc_init(), except that arena= is ignored: the heap spans the region.
 *
 * The heap's metadata and every page it hands out lie inside the region. The default ZONE_DMA is
 * a quarter of the region, at most 16 MiB (dma=0: no ZONE_DMA). The region
 * must stay valid, and be touched only through the heap, until the process ends. Must come
 * before any other call, as kmalloc_init().
 *
 * Return: 0 on success; -EINVAL (-22) for a bad option or config, a NULL @base, or a region too
 * small for the metadata and one free page (nothing is built and a message naming the problem is
 * printed); -EBUSY (-16) if the default heap already exists.
 */
int kmalloc_init_region(void* base, size_t bytes, const char* options);

/**
 * enum kmalloc_report_kind - what a report is about: the values of km::ErrorKind
 * (kmalloc/report.h), in the same order.
 * Warnings (see kmalloc_report_is_warning()) refuse the call and let the program go on; the
 * other kinds are misuse or corruption, on which the default handler aborts.
 */
enum kmalloc_report_kind {
  KMALLOC_REPORT_ORDER_TOO_LARGE = 0,     /* warning: alloc_pages order > MAX_ORDER */
  KMALLOC_REPORT_INVALID_GFP = 1,         /* warning: gfp bits outside __GFP_BITS_MASK */
  KMALLOC_REPORT_PAGE_DOUBLE_FREE = 2,    /* the page is already free */
  KMALLOC_REPORT_PAGE_INVALID_FREE = 3,   /* not the head page of an allocated block */
  KMALLOC_REPORT_PAGE_ORDER_MISMATCH = 4, /* freed with another order than allocated */
  KMALLOC_REPORT_PAGE_OWNER_MISMATCH = 5, /* a slab's or large kmalloc's page, not alloc_pages */
  KMALLOC_REPORT_CACHE_CREATE_FAILED = 6, /* warning: kmem_cache_create refused (NULL) */
  KMALLOC_REPORT_SLAB_PANIC = 7,          /* kmem_cache_create failed for a SLAB_PANIC cache */
  KMALLOC_REPORT_OBJECTS_REMAINING = 8,   /* warning: kmem_cache_destroy with live objects */
  KMALLOC_REPORT_INVALID_CACHE = 9,       /* not a live kmem_cache of the heap */
  KMALLOC_REPORT_INVALID_OBJECT_POINTER = 10, /* not an object start */
  KMALLOC_REPORT_WRONG_CACHE = 11,            /* the object belongs to another cache */
  KMALLOC_REPORT_OBJECT_DOUBLE_FREE = 12,     /* "Object already free" */
  KMALLOC_REPORT_FREELIST_CORRUPT = 13,       /* a free pointer outside its slab */
  KMALLOC_REPORT_SIZE_TOO_LARGE = 14,         /* warning: kmalloc size above KMALLOC_MAX_SIZE */
  KMALLOC_REPORT_KMALLOC_DISABLED = 15,       /* warning: kmalloc with profile=none */
  KMALLOC_REPORT_HEAP_UNINITIALIZED = 16,     /* warning: a heap never built (not from C) */
  KMALLOC_REPORT_CORRUPTION = 17,             /* kmalloc_validate() found a broken invariant */
  KMALLOC_REPORT_NR_KINDS = 18                /* the number of kinds; not a kind */
};

/**
 * struct kmalloc_report - one report, as a handler receives it.
 * @kind: what it is about.
 * @addr: the address it is about (the object, page or cache pointer), or 0.
 * @message: the text the default handler prints, starting with "kmalloc: " (no newline); valid
 *           only during the handler call.
 */
struct kmalloc_report {
  enum kmalloc_report_kind kind;
  uintptr_t addr;
  const char* message;
};

/** kmalloc_report_handler - called once per report, with the @arg given with it. */
typedef void (*kmalloc_report_handler)(void* arg, const struct kmalloc_report* report);

/**
 * kmalloc_set_report_handler - send the default heap's reports to @fn.
 * @fn: the handler; NULL restores the default (print the message on stderr, then abort unless
 *      the kind is a warning).
 * @arg: passed to @fn as it is.
 *
 * With a handler installed, misuse is refused (nothing is freed, created or destroyed), the call
 * returns after the report as it does after a warning, and the heap stays valid: the program
 * goes on. @fn may call kmalloc_report_kind_name() and kmalloc_report_is_warning(), but nothing
 * that uses the heap. This call does not build the default heap, so it may come before
 * kmalloc_init() or kmalloc_init_region(): a handler set before the heap is built receives its
 * reports from the start. The handler stays until the next kmalloc_set_report_handler().
 */
void kmalloc_set_report_handler(kmalloc_report_handler fn, void* arg);

/**
 * kmalloc_report_kind_name - the name of @kind as the C++ API spells it (km::error_kind_name()),
 * e.g. "ObjectDoubleFree" for KMALLOC_REPORT_OBJECT_DOUBLE_FREE.
 * Return: the name; "Unknown" for KMALLOC_REPORT_NR_KINDS or another value that is not a kind.
 */
const char* kmalloc_report_kind_name(enum kmalloc_report_kind kind);

/**
 * kmalloc_report_is_warning - whether the default handler returns after a report of @kind (a
 * kernel WARN) rather than aborting (a BUG).
 * Return: 1 for a warning kind; 0 for the others and for a value that is not a kind.
 */
int kmalloc_report_is_warning(enum kmalloc_report_kind kind);

/* KMALLOC_PLATFORM_LOCK_BYTES - the storage a platform lock gets: 64 bytes, 16-byte aligned. */
#define KMALLOC_PLATFORM_LOCK_BYTES 64

/**
 * struct kmalloc_platform - locks and cpu identity from the embedder, for firmware, an RTOS or a
 * teaching kernel without POSIX threads, or with cpus of its own.
 * @lock_init: makes the KMALLOC_PLATFORM_LOCK_BYTES at @lock an unlocked lock.
 * @lock_destroy: ends a lock (a heap's destroy); may be NULL.
 * @lock: takes the lock, waiting as long as needed (a spinlock with interrupts off is fine: no
 *        heap lock is held across anything but heap code and the report handler).
 * @unlock: gives it back.
 * @current_cpu: may be NULL; the caller's cpu, 0..nr_cpus-1, which must not change and whose
 *        slot no other caller may use during one heap call (preemption off, as the kernel's
 *        this_cpu_ptr needs). Every call then uses that cpu's slab, with no lock on the fast
 *        path; a value >= nr_cpus takes the shared slot, under a lock. Without it, every thread
 *        claims a slot of its own (kmalloc/heap.h). With it, a flush (kmem_cache_shrink,
 *        kmalloc_flush_cpu_slabs) empties only the calling cpu's slab and the shared one: run it
 *        on each cpu, as the kernel's flush_all does.
 *
 * @lock_init, @lock and @unlock are given together or not at all (then: pthread mutexes).
 */
struct kmalloc_platform {
  void (*lock_init)(void* lock);
  void (*lock_destroy)(void* lock);
  void (*lock)(void* lock);
  void (*unlock)(void* lock);
  unsigned (*current_cpu)(void);
};

/**
 * kmalloc_set_platform - use @platform's locks and cpu identity in every heap built from now on
 * (the default heap and every km::Heap). NULL restores the defaults.
 *
 * Must come before the first heap of the process is built (before kmalloc_init*, the first
 * kmalloc call, or the first km::Heap::init), and not concurrently with anything.
 *
 * Return: 0 on success; -EINVAL (-22) when only some of lock_init, lock and unlock are given (a
 * message naming the missing one is printed); -EBUSY (-16) once a heap has been built.
 */
int kmalloc_set_platform(const struct kmalloc_platform* platform);

/**
 * kmalloc_validate - check every invariant of the default heap: free lists and free areas, page
 * descriptors and page accounting, slab lists and counters, the allocation bitmap.
 * Each broken invariant is reported as KMALLOC_REPORT_CORRUPTION; with the default handler the
 * first one aborts. The heap is not changed.
 * Return: the number of broken invariants; 0 when the heap is consistent.
 */
long kmalloc_validate(void);

/**
 * struct kmalloc_stats - a snapshot of the default heap, filled by kmalloc_stats(). Fields are
 * only ever added at the end, and all of them are size_t.
 * @size: set by the caller to sizeof(struct kmalloc_stats); on return, the bytes filled.
 * @page_size: bytes per page.
 * @pages_total: pages of the heap; always pages_free + pages_metadata + pages_slab +
 *               pages_large_kmalloc + pages_alloc_pages.
 * @pages_free: pages in free buddy blocks.
 * @pages_metadata: pages holding the heap's own state at the start of the arena (page and cache
 *                  descriptors, per-cpu slabs, the allocation bitmap).
 * @pages_slab: pages of the slabs of every kmem_cache, the kmalloc caches included.
 * @pages_large_kmalloc: pages of kmalloc() objects above KMALLOC_MAX_CACHE_SIZE.
 * @pages_alloc_pages: pages from alloc_pages() and __get_free_pages().
 * @slab_objects_active: the sum of /proc/slabinfo's active_objs: every object of a per-cpu slab
 *                       counts as active, allocated or not (no per-cpu slab is flushed first).
 * @slab_objects_total: the sum of /proc/slabinfo's num_objs: the objects of every slab.
 * @slab_objects_free: the free objects of every slab, per-cpu freelists included, so
 *                     slab_objects_total - slab_objects_free objects are allocated.
 * @caches: the live caches, the kmalloc caches included (the lines of /proc/slabinfo).
 * @reports: the reports the default heap has made so far, warnings included, whichever handler
 *           received them; warnings silenced by __GFP_NOWARN and kmalloc_init()'s messages are
 *           not reports.
 * @metadata_bytes_reserved: bytes of the arena set aside for metadata (pages_metadata pages).
 * @metadata_bytes_committed: the part of that reservation backed by memory now (the metadata is
 *                            committed lazily, so a large arena reserves far more than it
 *                            commits).
 * @nr_cpus: the heap's cpu slots, as resolved when it was built: nr_cpus=auto (the default)
 *           gives this machine's possible CPUs (the kernel's nr_cpu_ids; kmalloc/config.h).
 */
struct kmalloc_stats {
  size_t size;
  size_t page_size;
  size_t pages_total;
  size_t pages_free;
  size_t pages_metadata;
  size_t pages_slab;
  size_t pages_large_kmalloc;
  size_t pages_alloc_pages;
  size_t slab_objects_active;
  size_t slab_objects_total;
  size_t slab_objects_free;
  size_t caches;
  size_t reports;
  size_t metadata_bytes_reserved;
  size_t metadata_bytes_committed;
  size_t nr_cpus;
};

/**
 * kmalloc_stats - fill @out with a snapshot of the default heap.
 * @out: the snapshot; the caller sets @out->size first.
 *
 * Only the fields lying wholly within the first @out->size bytes are written, so a program built
 * against an older, smaller struct keeps working when fields are added; bytes past the fields
 * this library knows are left as they are. On return @out->size is the number of bytes filled:
 * the end of the last field written.
 *
 * Return: 0 on success; -EINVAL (-22), writing nothing, when @out is NULL or @out->size is
 * smaller than the size field itself.
 */
int kmalloc_stats(struct kmalloc_stats* out);

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
/**
 * kmem_cache_alloc - an object of @cachep, or NULL: out of memory (silently), or @flags with
 * bits outside __GFP_BITS_MASK (refused whether or not a free object is at hand, with a
 * KMALLOC_REPORT_INVALID_GFP warning unless __GFP_NOWARN, as kmalloc() refuses them).
 */
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
