/* c_api_region_test.c - the default heap over a static buffer, from C with only
 * kmalloc/kmalloc.h: kmalloc_init_region() on an 8 MiB static array (page aligned, "dma=1M"),
 * then every kind of allocation lies inside the buffer, and the allocator never calls mmap or
 * munmap: the program is linked with -Wl,--wrap=mmap,--wrap=munmap, so every call the static
 * library makes goes through the counting wrappers below. An atexit handler frees after main
 * returns: the heap, and so the buffer, is used until the process ends.
 * Prints "N passed, M failed"; exits non-zero on a failure (ctest: c_api.region). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "kmalloc/kmalloc.h"

#include "c_check.h"

/* ---- counting wrappers (ld --wrap): calls to mmap/munmap from the objects linked in */

void* __real_mmap(void* addr, size_t len, int prot, int flags, int fd, off_t off);
int __real_munmap(void* addr, size_t len);
void* __wrap_mmap(void* addr, size_t len, int prot, int flags, int fd, off_t off);
int __wrap_munmap(void* addr, size_t len);

static int mmap_calls;
static int munmap_calls;

void* __wrap_mmap(void* addr, size_t len, int prot, int flags, int fd, off_t off) {
  ++mmap_calls;
  return __real_mmap(addr, len, prot, flags, fd, off);
}

int __wrap_munmap(void* addr, size_t len) {
  ++munmap_calls;
  return __real_munmap(addr, len);
}

/* ---- the region */

#define REGION_BYTES (8 * MiB)
static _Alignas(4096) unsigned char region[REGION_BYTES];

static int inside(const void* p, size_t n) {
  const uintptr_t a = (uintptr_t)p;
  return a >= (uintptr_t)region && a + n <= (uintptr_t)region + REGION_BYTES;
}

static void* freed_at_exit;

static void at_exit(void) {
  void* p;
  kfree(freed_at_exit);
  p = kmalloc(200, GFP_KERNEL);
  if (p == NULL || !inside(p, 200) || kmalloc_validate() != 0 || mmap_calls != 0) {
    fprintf(stderr, "at_exit: the region heap failed after main\n");
    _Exit(1);
  }
  kfree(p);
}

static void test_allocations_inside(void) {
  static const size_t sizes[] = {1, 8, 96, 100, 192, 1000, 4096, 8192, 8193, 100000, MiB};
  void* objs[sizeof sizes / sizeof sizes[0]];
  struct kmem_cache* c = kmem_cache_create("region_item", 72, 0, SLAB_HWCACHE_ALIGN, NULL);
  void* items[100];
  struct page* pg;
  unsigned long a;
  size_t i;
  for (i = 0; i < sizeof sizes / sizeof sizes[0]; ++i) {
    objs[i] = kmalloc(sizes[i], GFP_KERNEL);
    CHECK(objs[i] != NULL && inside(objs[i], sizes[i]));
    memset(objs[i], 0x6b, sizes[i]);
  }
  CHECK(c != NULL); /* an opaque handle (never reused); its descriptor is in the metadata */
  for (i = 0; i < 100; ++i) {
    items[i] = kmem_cache_alloc(c, GFP_KERNEL);
    CHECK(items[i] != NULL && inside(items[i], 72));
  }
  pg = alloc_pages(GFP_KERNEL, 3);
  CHECK(pg != NULL && inside(pg, 1) && inside(page_address(pg), 8 * 4096));
  a = __get_free_pages(GFP_DMA, 0);
  CHECK(a != 0 && inside((void*)a, 4096));
  CHECK(virt_to_page(region + REGION_BYTES / 2) != NULL);
  CHECK(kmalloc_validate() == 0);
  for (i = 0; i < sizeof sizes / sizeof sizes[0]; ++i)
    kfree(objs[i]);
  for (i = 0; i < 100; ++i)
    kmem_cache_free(c, items[i]);
  kmem_cache_destroy(c);
  __free_pages(pg, 3);
  free_pages(a, 0);
}

/* Allocate every page: all of them lie in the region, and there are as many as the stats say. */
static void test_every_page_inside(void) {
  struct kmalloc_stats s;
  static unsigned long pages[REGION_BYTES / 4096];
  size_t n = 0, i;
  memset(&s, 0, sizeof s);
  s.size = sizeof s;
  CHECK(kmalloc_stats(&s) == 0);
  CHECK(s.pages_total == REGION_BYTES / 4096);
  while ((pages[n] = __get_free_pages(GFP_KERNEL | __GFP_NOWARN, 0)) != 0) {
    CHECK(inside((void*)pages[n], 4096));
    ++n;
  }
  CHECK(n == s.pages_free);
  CHECK(kmalloc(100000, GFP_KERNEL) == NULL); /* out of pages: no fallback to mmap */
  for (i = 0; i < n; ++i)
    free_pages(pages[i], 0);
  CHECK(kmalloc_validate() == 0);
}

int main(void) {
  int rc;
  CHECK(kmalloc_init_region(region, sizeof region, "dma=16M") == -22); /* DMA as big as it */
  rc = kmalloc_init_region(region, sizeof region, "profile=linux-6,dma=1M,seed=1");
  CHECK(rc == 0);
  if (rc != 0) {
    printf("%d passed, %d failed\n", passed, failed);
    return 1;
  }
  CHECK(kmalloc_init_region(region, sizeof region, NULL) == -16);
  CHECK(kmalloc_init(NULL) == -16);
  test_allocations_inside();
  test_every_page_inside();
  CHECK(mmap_calls == 0);
  CHECK(munmap_calls == 0);
  freed_at_exit = kmalloc(3000, GFP_KERNEL);
  CHECK(freed_at_exit != NULL && inside(freed_at_exit, 3000));
  CHECK(atexit(at_exit) == 0);
  printf("%d passed, %d failed (mmap calls %d, munmap calls %d)\n", passed, failed, mmap_calls,
         munmap_calls);
  return failed == 0 ? 0 : 1;
}
