/* c_api_test.c - the C API end to end from C11, with only kmalloc/kmalloc.h from the project:
 * kmalloc_init("profile=linux-6,arena=32M,seed=1"), then every function of the header over the
 * default heap (Linux 6.x SLUB size classes, 4 KiB pages, MAX_ORDER 10, 8 MiB ZONE_DMA).
 * Misuse aborts with the default handler, so only correct use is exercised here (misuse is
 * covered by capi_death_test.cpp). Prints "N passed, M failed"; exits non-zero on a failure. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kmalloc/kmalloc.h"

#include "c_check.h"

static uintptr_t addr(const void* p) {
  return (uintptr_t)p;
}

static int all_bytes(const void* p, unsigned char value, size_t n) {
  const unsigned char* b = (const unsigned char*)p;
  size_t i;
  for (i = 0; i < n; ++i)
    if (b[i] != value)
      return 0;
  return 1;
}

static void fill(void* p, size_t n, unsigned seed) {
  unsigned char* b = (unsigned char*)p;
  size_t i;
  for (i = 0; i < n; ++i)
    b[i] = (unsigned char)(i * 7 + seed);
}

static int filled(const void* p, size_t n, unsigned seed) {
  const unsigned char* b = (const unsigned char*)p;
  size_t i;
  for (i = 0; i < n; ++i)
    if (b[i] != (unsigned char)(i * 7 + seed))
      return 0;
  return 1;
}

/* The whole of a /proc dump in a malloc'd buffer (the caller frees it). */
static char* dump(size_t (*fn)(char*, size_t)) {
  const size_t n = fn(NULL, 0);
  char* text = malloc(n + 1);
  if (text == NULL)
    return NULL;
  if (fn(text, n + 1) != n) {
    free(text);
    return NULL;
  }
  return text;
}

/* num_objs of a cache in /proc/slabinfo, or -1 when the cache is not listed. */
static long slab_objects(const char* cache) {
  char* text = dump(kmalloc_slabinfo);
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

static void test_zero_size(void) {
  void* p = kmalloc(0, GFP_KERNEL);
  void* q = kmalloc(8, GFP_KERNEL);
  CHECK(p == ZERO_SIZE_PTR);
  CHECK(ZERO_SIZE_PTR == (void*)16);
  CHECK(ZERO_OR_NULL_PTR(p));
  CHECK(ZERO_OR_NULL_PTR(NULL));
  CHECK(!ZERO_OR_NULL_PTR(q));
  CHECK(ksize(NULL) == 0);
  CHECK(ksize(ZERO_SIZE_PTR) == 0);
  kfree(NULL);
  kfree(ZERO_SIZE_PTR);
  kfree_sensitive(NULL);
  kfree(q);
  CHECK(kzalloc(0, GFP_KERNEL) == ZERO_SIZE_PTR);
}

static void test_size_classes(void) {
  static const struct {
    size_t size, ksize;
  } rows[] = {{1, 8},
              {8, 8},
              {9, 16},
              {30, 32},
              {33, 64},
              {64, 64},
              {65, 96},
              {96, 96},
              {97, 128},
              {129, 192},
              {192, 192},
              {193, 256},
              {1000, 1024},
              {4096, 4096},
              {4097, 8192},
              {8192, 8192},
              {8193, 16384},
              {20000, 32768},
              {MiB, MiB},
              {MiB + 1, 2 * MiB},
              {4 * MiB, 4 * MiB}};
  size_t i;
  for (i = 0; i < sizeof rows / sizeof rows[0]; ++i) {
    void* p = kmalloc(rows[i].size, GFP_KERNEL);
    CHECK(p != NULL);
    CHECK(ksize(p) == rows[i].ksize);
    CHECK(kmalloc_size_roundup(rows[i].size) == rows[i].ksize);
    CHECK(addr(p) % 8 == 0);
    if (rows[i].size > 8192)
      CHECK(addr(p) % 4096 == 0);
    if ((rows[i].size & (rows[i].size - 1)) == 0)
      CHECK(addr(p) % rows[i].size == 0);
    memset(p, 0x5a, rows[i].size);
    kfree(p);
  }
  CHECK(kmalloc_size_roundup(0) == 0);
  CHECK(kmalloc_size_roundup(4 * MiB + 1) == 4 * MiB + 1);
  CHECK(kmalloc(4 * MiB + 1, GFP_KERNEL | __GFP_NOWARN) == NULL);
  CHECK(kmalloc((size_t)-1, GFP_KERNEL | __GFP_NOWARN) == NULL);
  /* kmalloc(30) comes from kmalloc-32, whose slab then exists. */
  {
    void* p = kmalloc(30, GFP_KERNEL);
    CHECK(slab_objects("kmalloc-32") > 0);
    kfree(p);
  }
}

static void test_flags(void) {
  void* d = kmalloc(150, GFP_DMA);
  void* r = kmalloc(1500, GFP_KERNEL | __GFP_RECLAIMABLE);
  CHECK(d != NULL && ksize(d) == 192);
  CHECK(r != NULL && ksize(r) == 2048);
  CHECK(slab_objects("dma-kmalloc-192") > 0);
  CHECK(slab_objects("kmalloc-rcl-2k") > 0);
  kfree(d);
  kfree(r);
}

static void test_zeroing(void) {
  unsigned char* p = kmalloc(100, GFP_KERNEL);
  unsigned char* z;
  memset(p, 0xee, 100);
  kfree(p);
  z = kzalloc(100, GFP_KERNEL);
  CHECK(z != NULL && all_bytes(z, 0, 100));
  kfree(z);
  z = kmalloc(5000, GFP_KERNEL | __GFP_ZERO);
  CHECK(z != NULL && all_bytes(z, 0, 5000));
  kfree(z);
}

static void test_arrays(void) {
  unsigned* a = kmalloc_array(10, sizeof(unsigned), GFP_KERNEL);
  unsigned* c = kcalloc(25, sizeof(unsigned), GFP_KERNEL);
  CHECK(a != NULL && ksize(a) == 64);
  CHECK(c != NULL && ksize(c) == 128 && all_bytes(c, 0, 25 * sizeof(unsigned)));
  CHECK(kmalloc_array((size_t)-1 / 2 + 1, 2, GFP_KERNEL) == NULL);
  CHECK(kcalloc((size_t)-1 / 4 + 1, 4, GFP_KERNEL) == NULL);
  CHECK(kcalloc(4, (size_t)-1 / 4 + 1, GFP_KERNEL) == NULL);
  CHECK(kmalloc_array(0, 16, GFP_KERNEL) == ZERO_SIZE_PTR);
  kfree(a);
  kfree(c);
}

static void test_krealloc(void) {
  char* p = krealloc(NULL, 50, GFP_KERNEL);
  char* q;
  CHECK(p != NULL && ksize(p) == 64);
  fill(p, 50, 1);
  q = krealloc(p, 60, GFP_KERNEL); /* fits the object: in place */
  CHECK(q == p);
  q = krealloc(p, 10, GFP_KERNEL); /* shrinking never moves */
  CHECK(q == p && filled(q, 10, 1));
  q = krealloc(p, 64, GFP_KERNEL);
  CHECK(q == p);
  fill(q, 64, 2);
  p = krealloc(q, 1000, GFP_KERNEL); /* grows: moves and copies */
  CHECK(p != NULL && p != q && filled(p, 64, 2) && ksize(p) == 1024);
  q = krealloc(p, 100000, GFP_KERNEL); /* to the page allocator */
  CHECK(q != NULL && filled(q, 64, 2) && addr(q) % 4096 == 0);
  p = krealloc(q, 4 * MiB + 1, GFP_KERNEL | __GFP_NOWARN); /* fails: q intact */
  CHECK(p == NULL && filled(q, 64, 2) && ksize(q) == 131072);
  p = krealloc_array(q, (size_t)-1 / 2 + 1, 2, GFP_KERNEL);
  CHECK(p == NULL && filled(q, 64, 2));
  p = krealloc_array(q, 2, 100, GFP_KERNEL);
  CHECK(p == q);
  CHECK(krealloc(p, 0, GFP_KERNEL) == ZERO_SIZE_PTR);
  CHECK(krealloc(ZERO_SIZE_PTR, 0, GFP_KERNEL) == ZERO_SIZE_PTR);
  p = krealloc(ZERO_SIZE_PTR, 8, GFP_KERNEL);
  CHECK(p != NULL && ksize(p) == 8);
  kfree(p);
}

static void test_kfree_sensitive(void) {
  void* p = kmalloc(40, GFP_KERNEL);
  void* again;
  memset(p, 0x42, 40);
  kfree_sensitive(p);
  again = kmalloc(40, GFP_KERNEL); /* the freed object comes back first (LIFO) */
  CHECK(again == p);
  kfree(again);
  p = kmalloc(20000, GFP_KERNEL);
  kfree_sensitive(p);
}

static int ctor_calls;
static void ctor(void* obj) {
  ++ctor_calls;
  memset(obj, 0x77, 40);
}

static void test_kmem_cache(void) {
  struct kmem_cache* c = kmem_cache_create("c_api_item", 40, 8, SLAB_HWCACHE_ALIGN, ctor);
  struct kmem_cache* z = kmem_cache_create("c_api_zeroed", 100, 0, 0, NULL);
  void* objs[200];
  void* o;
  int i;
  CHECK(c != NULL && z != NULL);
  CHECK(slab_objects("c_api_item") == 0);
  for (i = 0; i < 200; ++i) {
    objs[i] = kmem_cache_alloc(c, GFP_KERNEL);
    CHECK(objs[i] != NULL && addr(objs[i]) % 64 == 0 && all_bytes(objs[i], 0x77, 40));
  }
  CHECK(ctor_calls > 0 && ctor_calls == slab_objects("c_api_item"));
  CHECK(ksize(objs[0]) == 64);
  for (i = 0; i < 100; ++i)
    kmem_cache_free(c, objs[i]);
  for (i = 100; i < 200; ++i)
    kfree(objs[i]); /* kfree takes kmem_cache objects too */
  CHECK(kmem_cache_shrink(c) == 0);
  CHECK(slab_objects("c_api_item") == 0);
  kmem_cache_destroy(c);
  CHECK(slab_objects("c_api_item") == -1);

  o = kmem_cache_alloc(z, GFP_KERNEL);
  memset(o, 0xee, 100);
  kmem_cache_free(z, o);
  o = kmem_cache_zalloc(z, GFP_KERNEL);
  CHECK(o != NULL && all_bytes(o, 0, 100));
  CHECK(kmem_cache_shrink(z) != 0); /* a live object keeps its slab */
  kmem_cache_free(z, o);
  kmem_cache_destroy(z);
  kmem_cache_destroy(NULL);
  CHECK(kmem_cache_create("c_api_bad", 40, 3, 0, NULL) == NULL); /* with a warning */
}

static void test_pages(void) {
  struct page* pg = alloc_pages(GFP_KERNEL, 2);
  unsigned char* a;
  unsigned long g;
  int on_stack = 0;
  CHECK(pg != NULL);
  a = page_address(pg);
  CHECK(a != NULL && addr(a) % (4 * 4096) == 0);
  CHECK(virt_to_page(a) == pg);
  CHECK(virt_to_page(a + 4095) == pg);
  CHECK(page_address(virt_to_page(a + 5000)) == a + 4096);
  memset(a, 0x11, 4 * 4096);
  __free_pages(pg, 2);
  CHECK(virt_to_page(&on_stack) == NULL);

  g = __get_free_pages(GFP_KERNEL | __GFP_ZERO, 3);
  CHECK(g != 0 && g % (8 * 4096) == 0 && all_bytes((void*)g, 0, 8 * 4096));
  free_pages(g, 3);
  free_pages(0, 0);
  g = __get_free_pages(GFP_DMA, 0);
  CHECK(g != 0);
  free_pages(g, 0);
  pg = alloc_pages(GFP_KERNEL, 10);
  CHECK(pg != NULL && addr(page_address(pg)) % (4 * MiB) == 0);
  __free_pages(pg, 10);
  CHECK(alloc_pages(GFP_KERNEL | __GFP_NOWARN, 11) == NULL);
  CHECK(__get_free_pages(GFP_KERNEL | __GFP_NOWARN, 11) == 0);

  CHECK(get_order(1) == 0);
  CHECK(get_order(4096) == 0);
  CHECK(get_order(4097) == 1);
  CHECK(get_order(8193) == 2);
  CHECK(get_order(4 * MiB) == 10);
}

static void test_dumps(void) {
  char small[16];
  char* slabs = dump(kmalloc_slabinfo);
  char* buddy = dump(kmalloc_buddyinfo);
  size_t n;
  CHECK(slabs != NULL && buddy != NULL);
  if (slabs == NULL || buddy == NULL) {
    free(slabs);
    free(buddy);
    return;
  }
  CHECK(strncmp(slabs, "slabinfo - version: 2.1\n", 24) == 0);
  CHECK(strstr(slabs, "\nkmalloc-96 ") != NULL);
  CHECK(strstr(slabs, "\nkmalloc-8k ") != NULL);
  CHECK(strstr(slabs, "\nkmalloc-rcl-192 ") != NULL);
  CHECK(strstr(slabs, "\ndma-kmalloc-1k ") != NULL);
  CHECK(strncmp(buddy, "Node 0, zone      DMA ", 22) == 0);
  CHECK(strstr(buddy, "\nNode 0, zone   Normal ") != NULL);

  /* snprintf style: the full length, what fits, always NUL-terminated. */
  n = strlen(slabs);
  memset(small, '#', sizeof small);
  CHECK(kmalloc_slabinfo(small, 10) == n);
  CHECK(strlen(small) == 9 && strncmp(small, slabs, 9) == 0 && small[10] == '#');
  memset(small, '#', sizeof small);
  CHECK(kmalloc_slabinfo(small, 0) == n && small[0] == '#');
  CHECK(kmalloc_slabinfo(small, 1) == n && small[0] == '\0' && small[1] == '#');
  n = strlen(buddy);
  memset(small, '#', sizeof small);
  CHECK(kmalloc_buddyinfo(small, sizeof small) == n);
  CHECK(strlen(small) == 15 && strncmp(small, buddy, 15) == 0);
  free(slabs);
  free(buddy);
}

static void test_kmalloc_index(void) {
  static const struct {
    size_t size;
    int index;
  } rows[] = {{0, 0},        {1, 3},    {8, 3},        {9, 4},        {16, 4},
              {17, 5},       {32, 5},   {33, 6},       {64, 6},       {65, 1},
              {96, 1},       {97, 7},   {128, 7},      {129, 2},      {192, 2},
              {193, 8},      {256, 8},  {257, 9},      {4096, 12},    {8192, 13},
              {8193, 14},    {MiB, 20}, {MiB + 1, 21}, {2 * MiB, 21}, {2 * MiB + 1, -1},
              {64 * MiB, -1}};
  size_t i;
  for (i = 0; i < sizeof rows / sizeof rows[0]; ++i) {
    if (kmalloc_index(rows[i].size) != rows[i].index)
      fprintf(stderr, "kmalloc_index(%zu) = %d, expected %d\n", rows[i].size,
              kmalloc_index(rows[i].size), rows[i].index);
    CHECK(kmalloc_index(rows[i].size) == rows[i].index);
  }
}

int main(void) {
  const int rc = kmalloc_init("profile=linux-6,arena=32M,seed=1");
  CHECK(rc == 0);
  if (rc != 0) {
    printf("%d passed, %d failed\n", passed, failed);
    return 1;
  }
  CHECK(kmalloc_init("profile=linux-6") == -16); /* -EBUSY */
  test_zero_size();
  test_size_classes();
  test_flags();
  test_zeroing();
  test_arrays();
  test_krealloc();
  test_kfree_sensitive();
  test_kmem_cache();
  test_pages();
  test_dumps();
  test_kmalloc_index();
  printf("%d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
