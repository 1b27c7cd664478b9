/* c_api_linux4_test.c - the C API from C11 over kmalloc_init("profile=linux-4-slab"): the seed's
 * SLAB view (Linux 4.19). KMALLOC_SHIFT_LOW 5 (kmalloc-32 is the smallest cache), 96 and 192
 * caches, caches up to KMALLOC_SHIFT_HIGH = min(MAX_ORDER + PAGE_SHIFT - 1, 25) = 22 (4 MiB,
 * named kmalloc-4194304: no k/M names before 4.20), no kmalloc-rcl-* caches, kmalloc_index()
 * up to 64 MiB. Prints "N passed, M failed"; exits non-zero on a failure. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kmalloc/kmalloc.h"

#include "c_check.h"

static char* slabinfo(void) {
  const size_t n = kmalloc_slabinfo(NULL, 0);
  char* text = malloc(n + 1);
  if (text != NULL && kmalloc_slabinfo(text, n + 1) != n) {
    free(text);
    text = NULL;
  }
  return text;
}

/* num_objs of a cache in /proc/slabinfo, or -1 when the cache is not listed. */
static long slab_objects(const char* cache) {
  char* text = slabinfo();
  char key[80];
  const char* at;
  long active = -1, total = -1;
  if (text == NULL)
    return -1;
  snprintf(key, sizeof key, "\n%s ", cache);
  at = strstr(text, key);
  if (at == NULL || sscanf(at + strlen(key), "%ld %ld", &active, &total) != 2)
    total = -1;
  free(text);
  return total;
}

static void test_size_classes(void) {
  static const struct {
    size_t size, ksize;
    const char* cache;
  } rows[] = {
      {1, 32, "kmalloc-32"},
      {8, 32, "kmalloc-32"},
      {30, 32, "kmalloc-32"},
      {33, 64, "kmalloc-64"},
      {65, 96, "kmalloc-96"},
      {96, 96, "kmalloc-96"},
      {100, 128, "kmalloc-128"},
      {129, 192, "kmalloc-192"},
      {193, 256, "kmalloc-256"},
      {1000, 1024, "kmalloc-1024"},
      {8193, 16384, "kmalloc-16384"},
      {100000, 131072, "kmalloc-131072"},
      {MiB + 1, 2 * MiB, "kmalloc-2097152"},
      {4 * MiB, 4 * MiB, "kmalloc-4194304"},
  };
  size_t i;
  for (i = 0; i < sizeof rows / sizeof rows[0]; ++i) {
    void* p = kmalloc(rows[i].size, GFP_KERNEL);
    CHECK(p != NULL);
    if (p == NULL)
      continue;
    CHECK(ksize(p) == rows[i].ksize);
    CHECK(kmalloc_size_roundup(rows[i].size) == rows[i].ksize);
    CHECK(slab_objects(rows[i].cache) > 0); /* from a cache, even at 4 MiB */
    CHECK((uintptr_t)p % 32 == 0);
    if ((rows[i].size & (rows[i].size - 1)) == 0)
      CHECK((uintptr_t)p % rows[i].size == 0);
    memset(p, 0x3c, rows[i].size);
    kfree(p);
  }
  /* KMALLOC_MAX_SIZE is 4 MiB: beyond it, NULL; kmalloc_size_roundup() returns the size. */
  CHECK(kmalloc(4 * MiB + 1, GFP_KERNEL | __GFP_NOWARN) == NULL);
  CHECK(kmalloc_size_roundup(4 * MiB + 1) == 4 * MiB + 1);
  CHECK(kmalloc_size_roundup(0) == 0);
  CHECK(kmalloc(0, GFP_KERNEL) == ZERO_SIZE_PTR);
}

static void test_cache_names(void) {
  char* text = slabinfo();
  void* r;
  CHECK(text != NULL);
  if (text == NULL)
    return;
  CHECK(strstr(text, "\nkmalloc-32 ") != NULL);
  CHECK(strstr(text, "\nkmalloc-96 ") != NULL);
  CHECK(strstr(text, "\nkmalloc-192 ") != NULL);
  CHECK(strstr(text, "\nkmalloc-4194304 ") != NULL);
  CHECK(strstr(text, "\ndma-kmalloc-4194304 ") != NULL);
  CHECK(strstr(text, "\nkmalloc-16 ") == NULL);
  CHECK(strstr(text, "\nkmalloc-8388608 ") == NULL);
  CHECK(strstr(text, "kmalloc-1k") == NULL);
  CHECK(strstr(text, "kmalloc-rcl-") == NULL);
  free(text);
  /* __GFP_RECLAIMABLE: no rcl caches before 4.20, the normal ones serve it. */
  r = kmalloc(300, GFP_KERNEL | __GFP_RECLAIMABLE);
  CHECK(r != NULL && ksize(r) == 512);
  kfree(r);
  r = kmalloc(300, GFP_DMA);
  CHECK(r != NULL && slab_objects("dma-kmalloc-512") > 0);
  kfree(r);
}

static void test_kmalloc_index(void) {
  static const struct {
    size_t size;
    int index;
  } rows[] = {{0, 0},
              {1, 5},
              {8, 5},
              {32, 5},
              {33, 6},
              {64, 6},
              {65, 1},
              {96, 1},
              {97, 7},
              {128, 7},
              {129, 2},
              {192, 2},
              {193, 8},
              {4096, 12},
              {8192, 13},
              {MiB, 20},
              {2 * MiB, 21},
              {4 * MiB, 22},
              {4 * MiB + 1, 23},
              {8 * MiB, 23},
              {16 * MiB, 24},
              {32 * MiB, 25},
              {32 * MiB + 1, 26},
              {64 * MiB, 26},
              {64 * MiB + 1, -1},
              {(size_t)-1, -1}};
  size_t i;
  for (i = 0; i < sizeof rows / sizeof rows[0]; ++i) {
    if (kmalloc_index(rows[i].size) != rows[i].index)
      fprintf(stderr, "kmalloc_index(%zu) = %d, expected %d\n", rows[i].size,
              kmalloc_index(rows[i].size), rows[i].index);
    CHECK(kmalloc_index(rows[i].size) == rows[i].index);
  }
}

static void test_rest(void) {
  char* p = kzalloc(40, GFP_KERNEL);
  char* q;
  struct kmem_cache* c;
  void* o;
  struct page* pg;
  CHECK(p != NULL && ksize(p) == 64 && p[0] == 0 && p[39] == 0);
  memset(p, 7, 40);
  q = krealloc(p, 64, GFP_KERNEL);
  CHECK(q == p);
  p = krealloc(q, 3 * MiB, GFP_KERNEL); /* kmalloc-4194304 */
  CHECK(p != NULL && p != q && p[39] == 7 && ksize(p) == 4 * MiB);
  kfree_sensitive(p);
  CHECK(kcalloc((size_t)-1 / 2, 3, GFP_KERNEL) == NULL);

  c = kmem_cache_create("linux4_obj", 24, 0, 0, NULL);
  o = kmem_cache_zalloc(c, GFP_KERNEL);
  CHECK(c != NULL && o != NULL);
  kmem_cache_free(c, o);
  CHECK(kmem_cache_shrink(c) == 0);
  kmem_cache_destroy(c);

  pg = alloc_pages(GFP_KERNEL, 3);
  CHECK(pg != NULL && (uintptr_t)page_address(pg) % (8 * 4096) == 0);
  CHECK(virt_to_page(page_address(pg)) == pg);
  __free_pages(pg, 3);
  CHECK(get_order(4 * MiB) == 10);
  {
    char buf[32];
    CHECK(kmalloc_buddyinfo(buf, sizeof buf) > sizeof buf);
    CHECK(strncmp(buf, "Node 0, zone      DMA ", 22) == 0 && strlen(buf) == 31);
  }
}

int main(void) {
  const int rc = kmalloc_init("profile=linux-4-slab");
  CHECK(rc == 0);
  if (rc != 0) {
    printf("%d passed, %d failed\n", passed, failed);
    return 1;
  }
  test_size_classes();
  test_cache_names();
  test_kmalloc_index();
  test_rest();
  printf("%d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
