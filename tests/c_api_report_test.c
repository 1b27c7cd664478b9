/* c_api_report_test.c - misuse from C with a report handler installed, end to end with only
 * kmalloc/kmalloc.h: a recording handler is set before the default heap is built
 * (kmalloc_init("profile=linux-6,arena=32M,seed=1")), then a double kfree, a kfree of an
 * interior pointer, a kmem_cache_free to the wrong cache and page misuse each give exactly one
 * report of the right KMALLOC_REPORT_* kind with a message, are refused, and leave the heap
 * valid (kmalloc_validate() == 0); kmalloc_stats() agrees with what was done and counts the
 * reports. Prints "N passed, M failed"; exits non-zero on a failure (ctest: c_api.report). */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "kmalloc/kmalloc.h"

#include "c_check.h"

/* ---- the recording handler: the message is copied, it is valid only during the call */

#define MAX_SEEN 16

struct seen {
  enum kmalloc_report_kind kind;
  uintptr_t addr;
  char message[320];
};

struct recording {
  struct seen seen[MAX_SEEN];
  int count;
  int overflow;
};

static struct recording rec;

static void record(void* arg, const struct kmalloc_report* report) {
  struct recording* r = arg;
  if (r->count == MAX_SEEN) {
    r->overflow = 1;
    return;
  }
  r->seen[r->count].kind = report->kind;
  r->seen[r->count].addr = report->addr;
  snprintf(r->seen[r->count].message, sizeof r->seen[r->count].message, "%s",
           report->message != NULL ? report->message : "");
  ++r->count;
}

/* Exactly one report since the last call, of `kind` about `addr`, with a message naming
 * `text`; forgets it. */
static int one_report(enum kmalloc_report_kind kind, uintptr_t addr, const char* text) {
  int ok = rec.count == 1 && !rec.overflow && rec.seen[0].kind == kind &&
           rec.seen[0].addr == addr && strncmp(rec.seen[0].message, "kmalloc: ", 9) == 0 &&
           strstr(rec.seen[0].message, text) != NULL;
  if (!ok) {
    int i;
    fprintf(stderr, "expected one %s report (\"%s\"), got %d:\n", kmalloc_report_kind_name(kind),
            text, rec.count);
    for (i = 0; i < rec.count; ++i)
      fprintf(stderr, "  [%s] %s\n", kmalloc_report_kind_name(rec.seen[i].kind),
              rec.seen[i].message);
  }
  rec.count = 0;
  rec.overflow = 0;
  return ok;
}

static struct kmalloc_stats stats(void) {
  struct kmalloc_stats s;
  memset(&s, 0, sizeof s);
  s.size = sizeof s;
  CHECK(kmalloc_stats(&s) == 0);
  CHECK(s.size == sizeof s);
  return s;
}

static int pages_add_up(const struct kmalloc_stats* s) {
  return s->pages_total == s->pages_free + s->pages_metadata + s->pages_slab +
                               s->pages_large_kmalloc + s->pages_alloc_pages;
}

static size_t allocated(const struct kmalloc_stats* s) {
  return s->slab_objects_total - s->slab_objects_free;
}

static void test_double_kfree(void) {
  char* p = kmalloc(64, GFP_KERNEL);
  char* q;
  CHECK(p != NULL);
  kfree(p);
  kfree(p);
  CHECK(one_report(KMALLOC_REPORT_OBJECT_DOUBLE_FREE, (uintptr_t)p, "Object already free"));
  CHECK(kmalloc_validate() == 0);
  /* The object was freed once: it comes back once. */
  p = kmalloc(64, GFP_KERNEL);
  q = kmalloc(64, GFP_KERNEL);
  CHECK(p != NULL && q != NULL && p != q);
  kfree(p);
  kfree(q);
  CHECK(rec.count == 0);
}

static void test_interior_kfree(void) {
  char* p = kmalloc(100, GFP_KERNEL);
  CHECK(p != NULL);
  memset(p, 0x33, 100);
  kfree(p + 16);
  CHECK(one_report(KMALLOC_REPORT_INVALID_OBJECT_POINTER, (uintptr_t)(p + 16),
                   "Invalid object pointer"));
  CHECK(kmalloc_validate() == 0);
  CHECK(ksize(p) == 128 && p[99] == 0x33); /* still allocated, intact */
  kfree(p);
  CHECK(rec.count == 0);
}

static void test_wrong_cache(void) {
  struct kmem_cache* a = kmem_cache_create("c_report_a", 48, 0, 0, NULL);
  struct kmem_cache* b = kmem_cache_create("c_report_b", 48, 0, 0, NULL);
  void* o;
  CHECK(a != NULL && b != NULL);
  o = kmem_cache_alloc(a, GFP_KERNEL);
  CHECK(o != NULL);
  kmem_cache_free(b, o);
  CHECK(one_report(KMALLOC_REPORT_WRONG_CACHE, (uintptr_t)o, "c_report_a"));
  CHECK(kmalloc_validate() == 0);
  kmem_cache_destroy(a); /* o is still live in a: reported, a is kept */
  CHECK(one_report(KMALLOC_REPORT_OBJECTS_REMAINING, 0, "c_report_a"));
  kmem_cache_free(a, o);
  kmem_cache_destroy(a);
  kmem_cache_destroy(b);
  CHECK(rec.count == 0);
  CHECK(kmalloc_validate() == 0);
}

static void test_page_misuse(void) {
  struct page* pg = alloc_pages(GFP_KERNEL, 2);
  const size_t before = stats().pages_alloc_pages;
  void* at;
  CHECK(pg != NULL);
  at = page_address(pg);
  __free_pages(pg, 1);
  CHECK(one_report(KMALLOC_REPORT_PAGE_ORDER_MISMATCH, (uintptr_t)at, "Bad page order"));
  CHECK(stats().pages_alloc_pages == before); /* not freed */
  __free_pages(pg, 2);
  __free_pages(pg, 2);
  CHECK(one_report(KMALLOC_REPORT_PAGE_DOUBLE_FREE, (uintptr_t)at, "double free"));
  CHECK(kmalloc_validate() == 0);
  CHECK(alloc_pages(GFP_KERNEL, 11) == NULL);
  CHECK(one_report(KMALLOC_REPORT_ORDER_TOO_LARGE, 0, "MAX_ORDER"));
  CHECK(kmalloc_report_is_warning(KMALLOC_REPORT_ORDER_TOO_LARGE) == 1);
  CHECK(kmalloc_report_is_warning(KMALLOC_REPORT_PAGE_DOUBLE_FREE) == 0);
}

static void test_stats(void) {
  struct kmalloc_stats s0 = stats();
  struct kmalloc_stats s1;
  void* p;
  void* big;
  struct page* pg;
  CHECK(s0.page_size == 4096);
  CHECK(s0.pages_total == 32 * MiB / 4096);
  CHECK(pages_add_up(&s0));
  CHECK(s0.caches == 39); /* 13 linux-6 sizes: kmalloc-*, kmalloc-rcl-*, dma-kmalloc-* */
  CHECK(s0.metadata_bytes_reserved == s0.pages_metadata * s0.page_size);

  p = kmalloc(64, GFP_KERNEL);
  s1 = stats();
  CHECK(allocated(&s1) == allocated(&s0) + 1);
  CHECK(s1.slab_objects_active >= allocated(&s1)); /* cpu slab objects all count as active */
  CHECK(pages_add_up(&s1));
  kfree(p);
  s1 = stats();
  CHECK(allocated(&s1) == allocated(&s0));

  big = kmalloc(3 * MiB, GFP_KERNEL);
  pg = alloc_pages(GFP_DMA, 4);
  s1 = stats();
  CHECK(s1.pages_large_kmalloc == s0.pages_large_kmalloc + 1024);
  CHECK(s1.pages_alloc_pages == s0.pages_alloc_pages + 16);
  CHECK(s1.pages_free == s0.pages_free - 1024 - 16);
  CHECK(pages_add_up(&s1));
  kfree(big);
  __free_pages(pg, 4);
  s1 = stats();
  CHECK(s1.pages_large_kmalloc == s0.pages_large_kmalloc);
  CHECK(s1.pages_alloc_pages == s0.pages_alloc_pages);
  CHECK(pages_add_up(&s1));
  CHECK(s1.reports == s0.reports);
}

static void test_report_kinds(void) {
  CHECK(strcmp(kmalloc_report_kind_name(KMALLOC_REPORT_WRONG_CACHE), "WrongCache") == 0);
  CHECK(strcmp(kmalloc_report_kind_name(KMALLOC_REPORT_CORRUPTION), "Corruption") == 0);
  CHECK(strcmp(kmalloc_report_kind_name(KMALLOC_REPORT_NR_KINDS), "Unknown") == 0);
  CHECK(KMALLOC_REPORT_NR_KINDS == 18);
}

int main(void) {
  size_t reports;
  /* Set before the heap is built: it applies once kmalloc_init builds it. */
  kmalloc_set_report_handler(record, &rec);
  CHECK(kmalloc_init("profile=linux-6,arena=32M,seed=1") == 0);
  CHECK(stats().reports == 0);
  test_report_kinds();
  test_double_kfree();
  test_interior_kfree();
  test_wrong_cache();
  test_page_misuse();
  reports = stats().reports;
  CHECK(reports == 7); /* one for each report checked above */
  test_stats();
  CHECK(kmalloc_validate() == 0);
  CHECK(stats().reports == reports && rec.count == 0);
  printf("%d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
