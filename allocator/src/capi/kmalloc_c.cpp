// capi/kmalloc_c.cpp - the C API of kmalloc/kmalloc.h: thin calls into one default Heap.
#include "kmalloc/kmalloc.h"

#include <cstdio>
#include <cstdlib>

#include "kmalloc/heap.h"
#include "platform/os.h"

namespace {

constexpr int kEinval = 22;
constexpr int kEbusy = 16;
constexpr const char* kDefaultOptions = "profile=linux-6";

// The default heap lives until the process ends: its storage is a union whose destructor does
// nothing, so no static destructor unmaps the arena while a later destructor or atexit handler
// still calls kfree. It is constant-initialised (no dynamic initialiser, no guard variable), so
// it is usable from any static constructor too.
union DefaultHeap {
  constexpr DefaultHeap() : heap() {}
  ~DefaultHeap() {} // never destroys `heap`
  km::Heap heap;
};
constinit DefaultHeap g_default;
constinit km::Heap& g_heap = g_default.heap;

int build(const char* options) {
  km::Config cfg;
  km::Status st;
  if (!km::parse_options(kDefaultOptions, cfg, st) || !km::parse_options(options, cfg, st)) {
    char msg[320];
    std::snprintf(msg, sizeof msg, "kmalloc_init: %s\n", st.message);
    km::platform::print(msg);
    return -kEinval;
  }
  st = g_heap.init(cfg);
  if (!st.ok) {
    char msg[320];
    std::snprintf(msg, sizeof msg, "kmalloc_init: %s\n", st.message);
    km::platform::print(msg);
    return -kEinval;
  }
  return 0;
}

km::Heap& heap() {
  if (!g_heap.initialized() && build(std::getenv("KMALLOC_OPTIONS")) != 0)
    km::platform::fatal(); // the message names the bad option
  return g_heap;
}

} // namespace

extern "C" {

int kmalloc_init(const char* options) {
  if (g_heap.initialized())
    return -kEbusy;
  return build(options);
}

void* kmalloc(size_t size, gfp_t flags) {
  return heap().kmalloc(size, flags);
}
void* kzalloc(size_t size, gfp_t flags) {
  return heap().kzalloc(size, flags);
}
void* kmalloc_array(size_t n, size_t size, gfp_t flags) {
  return heap().kmalloc_array(n, size, flags);
}
void* kcalloc(size_t n, size_t size, gfp_t flags) {
  return heap().kcalloc(n, size, flags);
}
void* krealloc(const void* p, size_t new_size, gfp_t flags) {
  return heap().krealloc(p, new_size, flags);
}
void* krealloc_array(const void* p, size_t n, size_t size, gfp_t flags) {
  return heap().krealloc_array(p, n, size, flags);
}
void kfree(const void* objp) {
  heap().kfree(objp);
}
void kfree_sensitive(const void* objp) {
  heap().kfree_sensitive(objp);
}
size_t ksize(const void* objp) {
  return heap().ksize(objp);
}
size_t kmalloc_size_roundup(size_t size) {
  return heap().kmalloc_size_roundup(size);
}
int kmalloc_index(size_t size) {
  return heap().kmalloc_index(size);
}

struct kmem_cache* kmem_cache_create(const char* name, unsigned int size, unsigned int align,
                                     slab_flags_t flags, void (*ctor)(void*)) {
  return heap().kmem_cache_create(name, size, align, flags, ctor);
}
void* kmem_cache_alloc(struct kmem_cache* cachep, gfp_t flags) {
  return heap().kmem_cache_alloc(cachep, flags);
}
void* kmem_cache_zalloc(struct kmem_cache* cachep, gfp_t flags) {
  return heap().kmem_cache_zalloc(cachep, flags);
}
void kmem_cache_free(struct kmem_cache* cachep, void* objp) {
  heap().kmem_cache_free(cachep, objp);
}
void kmem_cache_destroy(struct kmem_cache* cachep) {
  heap().kmem_cache_destroy(cachep);
}
int kmem_cache_shrink(struct kmem_cache* cachep) {
  return heap().kmem_cache_shrink(cachep);
}

struct page* alloc_pages(gfp_t gfp_mask, unsigned int order) {
  return heap().alloc_pages(gfp_mask, order);
}
void __free_pages(struct page* page, unsigned int order) {
  heap().free_pages(page, order);
}
unsigned long __get_free_pages(gfp_t gfp_mask, unsigned int order) {
  return heap().get_free_pages(gfp_mask, order);
}
void free_pages(unsigned long addr, unsigned int order) {
  heap().free_pages(addr, order);
}
void* page_address(const struct page* page) {
  return heap().page_address(page);
}
struct page* virt_to_page(const void* addr) {
  return heap().virt_to_page(addr);
}
int get_order(unsigned long size) {
  return static_cast<int>(heap().get_order(size));
}

size_t kmalloc_slabinfo(char* buf, size_t size) {
  return heap().slabinfo(buf, size);
}
size_t kmalloc_buddyinfo(char* buf, size_t size) {
  return heap().buddyinfo(buf, size);
}

} // extern "C"
