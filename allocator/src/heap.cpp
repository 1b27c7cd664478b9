// heap.cpp - Heap: builds the arena and its state, and forwards to the layers.
#include "kmalloc/heap.h"

#include <cstdio>
#include <cstring>
#include <new>

#include "heap_state.h"
#include "platform/asan.h"
#include "platform/os.h"
#include "support/bits.h"
#include "support/text_buffer.h"

namespace km {

const char* page_owner_name(PageOwner owner) {
  switch (owner) {
  case PageOwner::Free: return "free";
  case PageOwner::Metadata: return "metadata";
  case PageOwner::PageAlloc: return "alloc_pages";
  case PageOwner::Slab: return "slab";
  case PageOwner::LargeKmalloc: return "large kmalloc";
  }
  return "unknown";
}

Heap::~Heap() {
  destroy();
}

Status Heap::init(const Config& cfg) {
  Status st;
  if (state_ != nullptr) {
    st.ok = false;
    st.field = "heap";
    std::snprintf(st.message, sizeof st.message, "heap: already initialised");
    return st;
  }
  if (!validate_config(cfg, st))
    return st;
  const std::size_t alignment = std::size_t{1} << (cfg.page_shift + cfg.max_order);
  void* region = platform::map_aligned(cfg.arena_size, alignment);
  if (region == nullptr) {
    st.ok = false;
    st.field = "arena_size";
    std::snprintf(st.message, sizeof st.message, "arena_size: mmap of %zu bytes failed",
                  cfg.arena_size);
    return st;
  }
  st = init_common(cfg, region, cfg.arena_size, true);
  if (!st.ok)
    platform::unmap(region, cfg.arena_size);
  return st;
}

Status Heap::init(const Config& cfg, void* region, std::size_t bytes) {
  Status st;
  if (state_ != nullptr) {
    st.ok = false;
    st.field = "heap";
    std::snprintf(st.message, sizeof st.message, "heap: already initialised");
    return st;
  }
  Config checked = cfg;
  const std::size_t page_size = std::size_t{1} << (cfg.page_shift & 31);
  const auto begin = reinterpret_cast<std::uintptr_t>(region);
  const std::uintptr_t first = align_up(begin, page_size);
  const std::uintptr_t last = align_down(begin + bytes, page_size);
  checked.arena_size = (region != nullptr && last > first) ? last - first : 0;
  if (!validate_config(checked, st)) {
    if (st.field != nullptr && st.field[0] == 'a') { // arena_size: say it is the region
      st.field = "region";
      std::snprintf(st.message, sizeof st.message,
                    "region: %zu bytes at %p hold %zu whole pages; at least 8 are needed", bytes,
                    region, checked.arena_size / page_size);
    }
    return st;
  }
  return init_common(checked, reinterpret_cast<void*>(first), checked.arena_size, false);
}

Status Heap::init_common(const Config& cfg, void* region, std::size_t bytes, bool mapped) {
  Status st;
  const std::size_t page_size = std::size_t{1} << cfg.page_shift;
  const std::size_t npages = bytes >> cfg.page_shift;
  const MetadataLayout layout = metadata_layout(npages, cfg);
  const std::size_t metadata_pages = align_up(layout.end, page_size) / page_size;
  const std::size_t dma_pages = cfg.dma_zone_size >> cfg.page_shift;
  if (metadata_pages >= npages || (dma_pages != 0 && metadata_pages >= dma_pages)) {
    st.ok = false;
    st.field = dma_pages != 0 && metadata_pages >= dma_pages ? "dma_zone_size"
               : mapped                                      ? "arena_size"
                                                             : "region";
    std::snprintf(st.message, sizeof st.message,
                  "%s: leaves no free page after %zu metadata pages (arena %zu pages, DMA %zu)",
                  st.field, metadata_pages, npages, dma_pages);
    return st;
  }
  unpoison(region, metadata_pages * page_size);
  // The allocation bitmap must start clear; a caller's region may hold anything.
  std::memset(static_cast<unsigned char*>(region) + layout.live_bitmap, 0,
              layout.end - layout.live_bitmap);
  auto* state = new (region) HeapState{};
  state->config = cfg;
  state->config.arena_size = bytes;
  state->start = reinterpret_cast<std::uintptr_t>(region);
  state->npages = npages;
  state->metadata_pages = metadata_pages;
  auto* memmap = reinterpret_cast<page*>(state->start + layout.memmap);
  poison(reinterpret_cast<void*>(state->start + metadata_pages * page_size),
         (npages - metadata_pages) * page_size);
  state->pages.init(&state->reporter, memmap, state->start >> cfg.page_shift, npages,
                    cfg.page_shift, cfg.max_order, dma_pages, metadata_pages);
  const std::uint64_t seed = cfg.random_seed != 0 ? cfg.random_seed : platform::random_u64();
  state->slabs.init(&state->reporter, &state->pages, cfg,
                    reinterpret_cast<kmem_cache*>(state->start + layout.caches),
                    reinterpret_cast<kmem_cache_cpu*>(state->start + layout.cpu_slabs),
                    static_cast<unsigned>(cache_slots(cfg, npages)),
                    reinterpret_cast<std::uint64_t*>(state->start + layout.live_bitmap), seed);
  if (!state->front.init(&state->reporter, cfg, &state->pages, &state->slabs)) {
    state->~HeapState();
    unpoison(region, bytes);
    st.ok = false;
    st.field = "profile";
    std::snprintf(st.message, sizeof st.message,
                  "profile: a %s kmalloc cache cannot be created with this page size and max_order",
                  profile_name(cfg.profile));
    return st;
  }
  state_ = state;
  if (mapped) {
    mapping_ = region;
    mapping_size_ = bytes;
  }
  return st;
}

void Heap::destroy() {
  if (state_ == nullptr)
    return;
  const std::uintptr_t start = state_->start;
  const std::size_t bytes = state_->npages << state_->config.page_shift;
  state_->~HeapState();
  state_ = nullptr;
  unpoison(reinterpret_cast<void*>(start), bytes);
  if (mapping_ != nullptr)
    platform::unmap(mapping_, mapping_size_);
  mapping_ = nullptr;
  mapping_size_ = 0;
}

const Config& Heap::config() const {
  return state_->config;
}

void Heap::set_report_handler(ReportHandler handler, void* context) {
  state_->reporter.handler = handler != nullptr ? handler : default_report_handler;
  state_->reporter.context = handler != nullptr ? context : nullptr;
}

struct page* Heap::alloc_pages(gfp_t gfp, unsigned order) {
  return state_->pages.alloc(gfp, order, PageOwner::PageAlloc);
}

void Heap::free_pages(struct page* p, unsigned order) {
  state_->pages.free(p, order, PageOwner::PageAlloc);
}

std::uintptr_t Heap::get_free_pages(gfp_t gfp, unsigned order) {
  page* p = state_->pages.alloc(gfp, order, PageOwner::PageAlloc);
  return p != nullptr ? reinterpret_cast<std::uintptr_t>(state_->pages.page_address(p)) : 0;
}

void Heap::free_pages(std::uintptr_t addr, unsigned order) {
  state_->pages.free_address(addr, order, PageOwner::PageAlloc);
}

void* Heap::page_address(const struct page* p) const {
  return p != nullptr ? state_->pages.page_address(p) : nullptr;
}

struct page* Heap::virt_to_page(const void* addr) const {
  return state_->pages.virt_to_page(reinterpret_cast<std::uintptr_t>(addr));
}

std::uintptr_t Heap::page_to_pfn(const struct page* p) const {
  return state_->pages.page_to_pfn(p);
}

unsigned Heap::get_order(std::size_t size) const {
  return km::get_order(size, state_->config.page_shift);
}

void Heap::inject_page_alloc_failures(unsigned count) {
  state_->pages.inject_failures(count);
}

std::size_t Heap::page_size() const {
  return std::size_t{1} << state_->config.page_shift;
}
std::uintptr_t Heap::arena_start() const {
  return state_->start;
}
std::size_t Heap::arena_pages() const {
  return state_->npages;
}
unsigned Heap::nr_zones() const {
  return state_->pages.nr_zones();
}

ZoneInfo Heap::zone_info(unsigned z) const {
  const zone& zn = state_->pages.zone_at(z);
  ZoneInfo info{};
  info.name = zn.name;
  info.start_pfn = zn.zone_start_pfn;
  info.spanned_pages = zn.spanned_pages;
  info.free_pages = zn.free_pages;
  for (unsigned o = 0; o <= kMaxOrderLimit; ++o)
    info.nr_free[o] = zn.area[o].nr_free;
  return info;
}

PageInfo Heap::page_info(const void* addr) const {
  PageInfo info;
  const PageAllocator& pa = state_->pages;
  const page* p = pa.virt_to_page(reinterpret_cast<std::uintptr_t>(addr));
  if (p == nullptr)
    return info;
  info.in_arena = true;
  info.owner = p->owner;
  info.zone = p->zone;
  const page* head = p;
  if (p->owner == PageOwner::Free) {
    head = pa.free_block_of(pa.page_to_pfn(p));
    if (head == nullptr)
      head = p;
  } else if (p->owner != PageOwner::Metadata) {
    head = pa.pfn_to_page(pa.start_pfn() + p->head);
  }
  info.block = reinterpret_cast<std::uintptr_t>(pa.page_address(head));
  info.order = p->owner == PageOwner::Metadata ? 0 : head->order;
  info.cache = state_->slabs.cache_of(head);
  return info;
}

PageCounts Heap::page_counts() const {
  const PageAllocator& pa = state_->pages;
  PageCounts c;
  c.total = state_->npages;
  c.free = pa.owner_pages(PageOwner::Free);
  c.metadata = pa.owner_pages(PageOwner::Metadata);
  c.page_alloc = pa.owner_pages(PageOwner::PageAlloc);
  c.slab = pa.owner_pages(PageOwner::Slab);
  c.large_kmalloc = pa.owner_pages(PageOwner::LargeKmalloc);
  return c;
}

void Heap::for_each_free_block(void (*fn)(void*, const FreeBlock&), void* context) const {
  const PageAllocator& pa = state_->pages;
  for (unsigned z = 0; z < pa.nr_zones(); ++z)
    for (unsigned o = 0; o <= pa.max_order(); ++o)
      pa.zone_at(z).area[o].free_list.for_each([&](const page* head) {
        fn(context, FreeBlock{z, pa.page_to_pfn(head), o});
      });
}

std::size_t Heap::buddyinfo(char* buf, std::size_t size) const {
  const PageAllocator& pa = state_->pages;
  TextBuffer out{buf, size};
  for (unsigned z = 0; z < pa.nr_zones(); ++z) {
    const zone& zn = pa.zone_at(z);
    out.append("Node 0, zone %8s ", zn.name);
    for (unsigned o = 0; o <= pa.max_order(); ++o)
      out.append("%6lu ", static_cast<unsigned long>(zn.area[o].nr_free));
    out.append("\n");
  }
  return out.length();
}

std::size_t Heap::validate() const {
  return state_->pages.validate() + state_->slabs.validate();
}

struct kmem_cache* Heap::kmem_cache_create(const char* name, unsigned size, unsigned align,
                                           slab_flags_t flags, void (*ctor)(void*)) {
  return state_->slabs.create(name, size, align, flags, ctor);
}

void* Heap::kmem_cache_alloc(struct kmem_cache* cache, gfp_t gfp) {
  if (!state_->slabs.is_cache(cache)) {
    report_invalid_cache(state_->reporter, "kmem_cache_alloc",
                         reinterpret_cast<std::uintptr_t>(cache));
    return nullptr;
  }
  return state_->slabs.alloc(cache, gfp);
}

void* Heap::kmem_cache_zalloc(struct kmem_cache* cache, gfp_t gfp) {
  return kmem_cache_alloc(cache, gfp | __GFP_ZERO);
}

void Heap::kmem_cache_free(struct kmem_cache* cache, void* obj) {
  state_->slabs.free(cache, obj);
}

void Heap::kmem_cache_destroy(struct kmem_cache* cache) {
  state_->slabs.destroy(cache);
}

int Heap::kmem_cache_shrink(struct kmem_cache* cache) {
  if (!state_->slabs.is_cache(cache)) {
    report_invalid_cache(state_->reporter, "kmem_cache_shrink",
                         reinterpret_cast<std::uintptr_t>(cache));
    return 0;
  }
  return state_->slabs.shrink(cache);
}

void Heap::kmem_cache_flush(struct kmem_cache* cache) {
  if (!state_->slabs.is_cache(cache)) {
    report_invalid_cache(state_->reporter, "kmem_cache_flush",
                         reinterpret_cast<std::uintptr_t>(cache));
    return;
  }
  state_->slabs.flush(cache);
}

void Heap::flush_cpu_slabs() {
  state_->slabs.flush_all();
}

void Heap::set_cpu(unsigned cpu) {
  state_->slabs.set_cpu(cpu);
}

CacheInfo Heap::cache_info(const struct kmem_cache* cache) const {
  if (!state_->slabs.is_cache(cache)) {
    CacheInfo none{};
    none.name = "(not a live cache)";
    return none;
  }
  return state_->slabs.info(cache);
}

void Heap::for_each_cache(void (*fn)(void*, const struct kmem_cache*), void* context) const {
  for (const kmem_cache* s = state_->slabs.newest(); s != nullptr; s = s->next_cache)
    fn(context, s);
}

SlabObject Heap::slab_object(const void* addr) const {
  SlabObject out;
  const PageAllocator& pa = state_->pages;
  const page* p = pa.virt_to_page(reinterpret_cast<std::uintptr_t>(addr));
  if (p == nullptr || p->owner != PageOwner::Slab)
    return out;
  const page* head = pa.pfn_to_page(pa.start_pfn() + p->head);
  const kmem_cache* s = head->slab_cache;
  const auto base = reinterpret_cast<std::uintptr_t>(pa.page_address(head));
  const std::size_t index = (reinterpret_cast<std::uintptr_t>(addr) - base) / s->layout.size;
  if (index >= head->objects)
    return out; // the slab's tail, past its last object
  out.cache = s;
  out.slab = base;
  out.index = static_cast<unsigned>(index);
  out.object = base + index * s->layout.size;
  return out;
}

std::size_t Heap::slabinfo(char* buf, std::size_t size) const {
  return state_->slabs.slabinfo(buf, size);
}

// ---- kmalloc front end

void* Heap::kmalloc(std::size_t size, gfp_t gfp) {
  return state_->front.kmalloc(size, gfp);
}

void* Heap::kmalloc_array(std::size_t n, std::size_t size, gfp_t gfp) {
  std::size_t bytes;
  if (__builtin_mul_overflow(n, size, &bytes))
    return nullptr; // check_mul_overflow: NULL, no warning
  return state_->front.kmalloc(bytes, gfp);
}

void* Heap::krealloc(const void* obj, std::size_t new_size, gfp_t gfp) {
  return state_->front.krealloc(obj, new_size, gfp);
}

void* Heap::krealloc_array(const void* obj, std::size_t n, std::size_t size, gfp_t gfp) {
  std::size_t bytes;
  if (__builtin_mul_overflow(n, size, &bytes))
    return nullptr;
  return state_->front.krealloc(obj, bytes, gfp);
}

void Heap::kfree(const void* obj) {
  state_->front.kfree(obj);
}

void Heap::kfree_sensitive(const void* obj) {
  state_->front.kfree_sensitive(obj);
}

std::size_t Heap::ksize(const void* obj) const {
  return state_->front.ksize(obj);
}

std::size_t Heap::kmalloc_size_roundup(std::size_t size) const {
  return state_->front.kmalloc_size_roundup(size);
}

int Heap::kmalloc_index(std::size_t size) const {
  return state_->front.enabled() ? state_->front.kmalloc_index(size) : -1;
}

const struct kmem_cache* Heap::kmalloc_cache(std::size_t size, gfp_t gfp) const {
  return state_->front.enabled() ? state_->front.kmalloc_slab(size, gfp) : nullptr;
}

KmallocLimits Heap::kmalloc_limits() const {
  return state_->front.limits();
}

SlabBytes Heap::slab_bytes() const {
  SlabBytes out;
  const std::size_t page_bytes = std::size_t{1} << state_->config.page_shift;
  for (const kmem_cache* s = state_->slabs.newest(); s != nullptr; s = s->next_cache) {
    std::size_t pages = 0;
    auto add = [&](const struct page* slab) { pages += std::size_t{1} << slab->order; };
    s->partial.for_each(add);
    s->full.for_each(add);
    for (unsigned c = 0; c < state_->config.nr_cpus; ++c)
      if (s->cpu_slab[c].slab != nullptr)
        add(s->cpu_slab[c].slab);
    ((s->flags & SLAB_RECLAIM_ACCOUNT) != 0 ? out.reclaimable : out.unreclaimable) +=
        pages * page_bytes;
  }
  out.unreclaimable += state_->pages.owner_pages(PageOwner::LargeKmalloc) * page_bytes;
  return out;
}

} // namespace km
