// capi/kmalloc_c.cpp - the C API of kmalloc/kmalloc.h: thin calls into one default Heap, which
// is never destroyed, plus the C side of reports (a bridge handler that counts every report and
// forwards it to the C handler) and kmalloc_stats().
#include "kmalloc/kmalloc.h"

#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "kmalloc/heap.h"
#include "platform/lock.h"
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

// ---- reports: every report of the default heap goes through bridge(), which counts it
// (kmalloc_stats().reports) and hands it to the user's handler or to the default one. The
// user's handler lives here, not in the heap, so it can be set before the heap is built.

struct ReportRoute {
  kmalloc_report_handler fn = nullptr; // nullptr: km::default_report_handler
  void* arg = nullptr;
  std::size_t count = 0;
};
constinit ReportRoute g_route;

void bridge(void*, const km::ErrorReport& report) {
  ++g_route.count;
  const kmalloc_report_handler fn = g_route.fn;
  if (fn == nullptr) {
    km::default_report_handler(nullptr, report);
    return;
  }
  const kmalloc_report c_report{static_cast<kmalloc_report_kind>(report.kind), report.address,
                                report.message};
  fn(g_route.arg, &c_report);
}

// The C constants are the ErrorKind values: a kind added to km::ErrorKind without its
// KMALLOC_REPORT_* constant (or in another place) stops the build here.
#define KM_SAME_KIND(c_kind, cpp_kind)                                                             \
  static_assert(static_cast<unsigned>(c_kind) == static_cast<unsigned>(km::ErrorKind::cpp_kind),   \
                #c_kind " is not km::ErrorKind::" #cpp_kind)
KM_SAME_KIND(KMALLOC_REPORT_ORDER_TOO_LARGE, OrderTooLarge);
KM_SAME_KIND(KMALLOC_REPORT_INVALID_GFP, InvalidGfp);
KM_SAME_KIND(KMALLOC_REPORT_PAGE_DOUBLE_FREE, PageDoubleFree);
KM_SAME_KIND(KMALLOC_REPORT_PAGE_INVALID_FREE, PageInvalidFree);
KM_SAME_KIND(KMALLOC_REPORT_PAGE_ORDER_MISMATCH, PageOrderMismatch);
KM_SAME_KIND(KMALLOC_REPORT_PAGE_OWNER_MISMATCH, PageOwnerMismatch);
KM_SAME_KIND(KMALLOC_REPORT_CACHE_CREATE_FAILED, CacheCreateFailed);
KM_SAME_KIND(KMALLOC_REPORT_SLAB_PANIC, SlabPanic);
KM_SAME_KIND(KMALLOC_REPORT_OBJECTS_REMAINING, ObjectsRemaining);
KM_SAME_KIND(KMALLOC_REPORT_INVALID_CACHE, InvalidCache);
KM_SAME_KIND(KMALLOC_REPORT_INVALID_OBJECT_POINTER, InvalidObjectPointer);
KM_SAME_KIND(KMALLOC_REPORT_WRONG_CACHE, WrongCache);
KM_SAME_KIND(KMALLOC_REPORT_OBJECT_DOUBLE_FREE, ObjectDoubleFree);
KM_SAME_KIND(KMALLOC_REPORT_FREELIST_CORRUPT, FreelistCorrupt);
KM_SAME_KIND(KMALLOC_REPORT_SIZE_TOO_LARGE, SizeTooLarge);
KM_SAME_KIND(KMALLOC_REPORT_KMALLOC_DISABLED, KmallocDisabled);
KM_SAME_KIND(KMALLOC_REPORT_HEAP_UNINITIALIZED, HeapUninitialized);
KM_SAME_KIND(KMALLOC_REPORT_CORRUPTION, Corruption);
#undef KM_SAME_KIND
static_assert(static_cast<unsigned>(KMALLOC_REPORT_NR_KINDS) == km::kErrorKindCount,
              "km::ErrorKind has a kind without a KMALLOC_REPORT_* constant");

// ---- building the default heap

int fail(const char* function, const km::Status& st) {
  char msg[320];
  std::snprintf(msg, sizeof msg, "%s: %s\n", function, st.message);
  km::platform::print(msg);
  return -kEinval;
}

// Parses the options over the defaults and builds the heap over a fresh mapping (region ==
// nullptr and bytes == 0) or over the caller's region.
int build(const char* function, const char* options, void* region, std::size_t bytes,
          bool use_region) {
  km::Config cfg;
  km::Status st;
  if (!km::parse_options(kDefaultOptions, cfg, st) || !km::parse_options(options, cfg, st))
    return fail(function, st);
  st = use_region ? g_heap.init(cfg, region, bytes) : g_heap.init(cfg);
  if (!st.ok)
    return fail(function, st);
  g_heap.set_report_handler(bridge, nullptr);
  return 0;
}

km::Heap& heap() {
  if (!g_heap.initialized() &&
      build("kmalloc_init", std::getenv("KMALLOC_OPTIONS"), nullptr, 0, false) != 0)
    km::platform::fatal(); // the message names the bad option
  return g_heap;
}

} // namespace

km::Heap& km::c_api_heap() {
  return g_heap;
}

void km::reset_c_api_heap() {
  g_heap.destroy();
  g_route.count = 0;
}

extern "C" {

int kmalloc_init(const char* options) {
  if (g_heap.initialized())
    return -kEbusy;
  return build("kmalloc_init", options, nullptr, 0, false);
}

int kmalloc_init_region(void* base, size_t bytes, const char* options) {
  if (g_heap.initialized())
    return -kEbusy;
  return build("kmalloc_init_region", options, base, bytes, true);
}

int kmalloc_set_platform(const struct kmalloc_platform* platform) {
  km::platform::PlatformHooks hooks;
  if (platform != nullptr) {
    const bool any = platform->lock_init != nullptr || platform->lock != nullptr ||
                     platform->unlock != nullptr || platform->lock_destroy != nullptr;
    const char* missing = platform->lock_init == nullptr ? "lock_init"
                          : platform->lock == nullptr    ? "lock"
                          : platform->unlock == nullptr  ? "unlock"
                                                         : nullptr;
    if (any && missing != nullptr) {
      char msg[160];
      std::snprintf(msg, sizeof msg,
                    "kmalloc_set_platform: %s is NULL (lock_init, lock and unlock go together)\n",
                    missing);
      km::platform::print(msg);
      return -kEinval;
    }
    hooks = km::platform::PlatformHooks{platform->lock_init, platform->lock_destroy, platform->lock,
                                        platform->unlock, platform->current_cpu};
  }
  return km::platform::set_platform_hooks(hooks) ? 0 : -kEbusy;
}

void kmalloc_set_report_handler(kmalloc_report_handler fn, void* arg) {
  g_route.fn = fn;
  g_route.arg = fn != nullptr ? arg : nullptr;
}

const char* kmalloc_report_kind_name(enum kmalloc_report_kind kind) {
  const auto k = static_cast<unsigned>(kind);
  return k < km::kErrorKindCount ? km::error_kind_name(static_cast<km::ErrorKind>(k)) : "Unknown";
}

int kmalloc_report_is_warning(enum kmalloc_report_kind kind) {
  const auto k = static_cast<unsigned>(kind);
  return k < km::kErrorKindCount && km::error_kind_is_warning(static_cast<km::ErrorKind>(k)) ? 1
                                                                                             : 0;
}

long kmalloc_validate(void) {
  return static_cast<long>(heap().validate());
}

int kmalloc_stats(struct kmalloc_stats* out) {
  km::Heap& h = heap();
  if (out == nullptr || out->size < sizeof out->size)
    return -kEinval;
  struct kmalloc_stats s = {};
  const km::PageCounts pages = h.page_counts();
  s.page_size = h.page_size();
  s.pages_total = pages.total;
  s.pages_free = pages.free;
  s.pages_metadata = pages.metadata;
  s.pages_slab = pages.slab;
  s.pages_large_kmalloc = pages.large_kmalloc;
  s.pages_alloc_pages = pages.page_alloc;
  struct Objects {
    const km::Heap* heap;
    std::size_t caches, active, total, free;
  } objects{&h, 0, 0, 0, 0};
  h.for_each_cache(
      [](void* context, const kmem_cache* cache) {
        auto* o = static_cast<Objects*>(context);
        const km::CacheInfo ci = o->heap->cache_info(cache);
        ++o->caches;
        o->active += ci.active_objects;
        o->total += ci.total_objects;
        o->free += ci.free_objects;
      },
      &objects);
  s.slab_objects_active = objects.active;
  s.slab_objects_total = objects.total;
  s.slab_objects_free = objects.free;
  s.caches = objects.caches;
  s.reports = g_route.count;
  // Reserved: the metadata pages as laid out at init; committed: what of them is resident.
  s.metadata_bytes_reserved = pages.metadata * s.page_size;
  s.metadata_bytes_committed = heap().metadata_info().committed;
  s.nr_cpus = h.config().nr_cpus; // resolved at init (Config::nr_cpus)
  // Every field is a size_t, so "the fields that fit" are the whole words of out->size.
  static_assert(sizeof s % sizeof s.size == 0 && offsetof(struct kmalloc_stats, size) == 0);
  std::size_t n = out->size < sizeof s ? out->size : sizeof s;
  n -= n % sizeof s.size;
  s.size = n;
  std::memcpy(out, &s, n);
  return 0;
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
