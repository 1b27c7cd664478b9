/* SPDX-License-Identifier: MIT */
/*
 * kmalloc/slab.h - slab cache flags (SLAB_*), as in Linux 6.8 include/linux/slab.h.
 *
 * Usable from C11 and C++. Supported: SLAB_HWCACHE_ALIGN, SLAB_CACHE_DMA, SLAB_RECLAIM_ACCOUNT,
 * SLAB_PANIC, SLAB_CONSISTENCY_CHECKS, SLAB_NO_MERGE (caches are never merged), SLAB_ACCOUNT
 * (no memcg: accepted, changes nothing). SLAB_RED_ZONE, SLAB_POISON, SLAB_STORE_USER, SLAB_TRACE,
 * SLAB_TYPESAFE_BY_RCU and SLAB_CACHE_DMA32 are not implemented yet: kmem_cache_create rejects
 * them with a report naming the flag, never ignores them.
 */
#ifndef KMALLOC_SLAB_H
#define KMALLOC_SLAB_H

typedef unsigned int slab_flags_t;

#define SLAB_CONSISTENCY_CHECKS ((slab_flags_t)0x00000100u)
#define SLAB_RED_ZONE ((slab_flags_t)0x00000400u)
#define SLAB_POISON ((slab_flags_t)0x00000800u)
#define SLAB_KMALLOC ((slab_flags_t)0x00001000u)
#define SLAB_HWCACHE_ALIGN ((slab_flags_t)0x00002000u)
#define SLAB_CACHE_DMA ((slab_flags_t)0x00004000u)
#define SLAB_CACHE_DMA32 ((slab_flags_t)0x00008000u)
#define SLAB_STORE_USER ((slab_flags_t)0x00010000u)
#define SLAB_RECLAIM_ACCOUNT ((slab_flags_t)0x00020000u)
#define SLAB_PANIC ((slab_flags_t)0x00040000u)
#define SLAB_TYPESAFE_BY_RCU ((slab_flags_t)0x00080000u)
#define SLAB_TRACE ((slab_flags_t)0x00200000u)
#define SLAB_NO_MERGE ((slab_flags_t)0x01000000u)
#define SLAB_ACCOUNT ((slab_flags_t)0x04000000u)

/* Flags kmem_cache_create accepts. */
#define SLAB_SUPPORTED_FLAGS                                                                       \
  (SLAB_CONSISTENCY_CHECKS | SLAB_KMALLOC | SLAB_HWCACHE_ALIGN | SLAB_CACHE_DMA |                  \
   SLAB_RECLAIM_ACCOUNT | SLAB_PANIC | SLAB_NO_MERGE | SLAB_ACCOUNT)

struct kmem_cache;

#endif /* KMALLOC_SLAB_H */
