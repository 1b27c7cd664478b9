/* hello_kmalloc.c - kernel-style C code against the installed C API (kmalloc/kmalloc.h). */
#include <stdio.h>
#include <string.h>

#include "kmalloc/kmalloc.h"

struct item {
  int id;
  char name[20];
};

int main(void) {
  if (kmalloc_init("profile=linux-6,arena=32M") != 0)
    return 1;
  char* s = kmalloc(30, GFP_KERNEL); /* served by kmalloc-32 */
  if (s == NULL)
    return 1;
  strcpy(s, "hello from kmalloc-32");
  printf("%s (ksize %zu)\n", s, ksize(s));

  struct kmem_cache* items =
      kmem_cache_create("item", sizeof(struct item), 0, SLAB_HWCACHE_ALIGN, NULL);
  struct item* it = kmem_cache_zalloc(items, GFP_KERNEL);
  if (items == NULL || it == NULL)
    return 1;
  it->id = 7;
  kmem_cache_free(items, it);
  kmem_cache_destroy(items);

  unsigned long pages = __get_free_pages(GFP_KERNEL, 2);
  if (pages == 0 || pages % (4 * 4096) != 0)
    return 1;
  free_pages(pages, 2);
  kfree(s);

  char info[4096];
  kmalloc_buddyinfo(info, sizeof info);
  fputs(info, stdout);
  return kmalloc(0, GFP_KERNEL) == ZERO_SIZE_PTR ? 0 : 1;
}
