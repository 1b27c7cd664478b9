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

namespace {
// What an uninitialised heap's config() returns.
constexpr Config kNoConfig{};
const void* const kZeroSizePtr = reinterpret_cast<const void*>(16); // ZERO_SIZE_PTR

CacheInfo no_cache_info() {
  CacheInfo none{};
  none.name = "(not a live cache)";
  return none;
}

Status failure(const char* field, const char* option) {
  Status st;
  st.ok = false;
  st.field = field;
  st.option = option;
  return st;
}
} // namespace

bool Heap::uninitialized(const char* function) const {
  if (state_ != nullptr)
    return false;
  const Reporter r{handler_, handler_context_};
  warn_heap_uninitialized(r, function);
  return true;
}

Status Heap::init(const Config& cfg) {
  if (state_ != nullptr) {
    Status st = failure("heap", "heap");
    std::snprintf(st.message, sizeof st.message, "heap: already initialised");
    return st;
  }
  Status st;
  if (!validate_config(cfg, st))
    return st;
  const std::size_t alignment = std::size_t{1} << (cfg.page_shift + cfg.max_order);
  void* region = platform::map_aligned(cfg.arena_size, alignment);
  if (region == nullptr) {
    st = failure("arena_size", "arena");
    std::snprintf(st.message, sizeof st.message,
                  "arena (Config::arena_size): mmap of %zu bytes failed", cfg.arena_size);
    return st;
  }
  st = init_common(cfg, region, cfg.arena_size, true);
  if (!st.ok)
    platform::unmap(region, cfg.arena_size);
  return st;
}

Status Heap::init(const Config& cfg, void* region, std::size_t bytes) {
  if (state_ != nullptr) {
    Status st = failure("heap", "heap");
    std::snprintf(st.message, sizeof st.message, "heap: already initialised");
    return st;
  }
  Status st;
  Config checked = cfg;
  const std::size_t page_size = std::size_t{1} << (cfg.page_shift & 31);
  const auto begin = reinterpret_cast<std::uintptr_t>(region);
  const std::uintptr_t first = align_up(begin, page_size);
  const std::uintptr_t last = align_down(begin + bytes, page_size);
  checked.arena_size = (region != nullptr && last > first) ? last - first : 0;
  if (!validate_config(checked, st)) {
    if (st.field != nullptr && st.field[0] == 'a') { // arena_size: say it is the region
      st = failure("region", "region");
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
  // nr_cpus = kNrCpusAuto becomes this machine's count here (config.h), so config() and
  // everything below see the resolved value.
  Config effective =
      resolve_nr_cpus(cfg, platform::possible_cpus(~0u), platform::present_cpus(~0u));
  effective.arena_size = bytes;
  effective.dma_zone_size = effective_dma_zone_size(cfg, bytes);
  const MetadataLayout layout = metadata_layout(npages, effective);
  const std::size_t metadata_pages = align_up(layout.end, page_size) / page_size;
  const std::size_t dma_pages = effective.dma_zone_size >> cfg.page_shift;
  if (metadata_pages >= npages) {
    st = mapped ? failure("arena_size", "arena") : failure("region", "region");
    std::snprintf(st.message, sizeof st.message,
                  "%s: %zu pages leave no free page after %zu metadata pages",
                  mapped ? "arena (Config::arena_size)" : "region", npages, metadata_pages);
    return st;
  }
  if (metadata_pages + dma_pages >= npages) {
    st = failure("dma_zone_size", "dma");
    std::snprintf(st.message, sizeof st.message,
                  "dma (Config::dma_zone_size): a ZONE_DMA of %zu pages leaves no page for "
                  "ZONE_NORMAL (arena %zu pages, %zu of them metadata)",
                  dma_pages, npages, metadata_pages);
    return st;
  }
  unpoison(region, metadata_pages * page_size);
  auto* state = new (region) HeapState{};
  state->config = effective;
  state->reporter = Reporter{handler_, handler_context_};
  state->start = reinterpret_cast<std::uintptr_t>(region);
  state->npages = npages;
  state->metadata_pages = metadata_pages;
  auto* memmap = reinterpret_cast<page*>(state->start + layout.memmap);
  // A fresh mapping is zero, which is what the page allocator wants of every descriptor; a
  // caller's region may hold anything. The allocation bitmap is cleared slab by slab.
  if (!mapped)
    std::memset(memmap, 0, npages * sizeof(page));
  poison(reinterpret_cast<void*>(state->start + metadata_pages * page_size),
         (npages - metadata_pages) * page_size);
  state->pages.init(&state->reporter, memmap, state->start >> cfg.page_shift, npages,
                    cfg.page_shift, cfg.max_order, dma_pages, metadata_pages);
  const std::uint64_t seed = cfg.random_seed != 0 ? cfg.random_seed : platform::random_u64();
  state->slabs.init(&state->reporter, &state->pages, effective,
                    reinterpret_cast<kmem_cache*>(state->start + layout.caches),
                    reinterpret_cast<kmem_cache_cpu*>(state->start + layout.cpu_slabs),
                    static_cast<unsigned>(cache_slots(effective, npages)),
                    reinterpret_cast<void*>(state->start + layout.slot_area),
                    reinterpret_cast<std::uint64_t*>(state->start + layout.live_bitmap), seed);
  if (!state->front.init(&state->reporter, effective, &state->pages, &state->slabs)) {
    state->~HeapState();
    unpoison(region, bytes);
    st = failure("profile", "profile");
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
  if (uninitialized("config"))
    return kNoConfig;
  return state_->config;
}

void Heap::set_report_handler(ReportHandler handler, void* context) {
  handler_ = handler != nullptr ? handler : default_report_handler;
  handler_context_ = handler != nullptr ? context : nullptr;
  if (state_ != nullptr)
    state_->reporter = Reporter{handler_, handler_context_};
}

MetadataInfo Heap::metadata_info() const {
  MetadataInfo info;
  if (uninitialized("metadata_info"))
    return info;
  const MetadataLayout l = metadata_layout(state_->npages, state_->config);
  const std::size_t page_bytes = std::size_t{1} << state_->config.page_shift;
  info.arena_bytes = state_->npages * page_bytes;
  info.reserved = state_->metadata_pages * page_bytes;
  info.committed = platform::resident_bytes(reinterpret_cast<void*>(state_->start), info.reserved);
  info.descriptors = l.caches - l.memmap;
  info.bitmap = l.end - l.live_bitmap;
  info.caches = l.live_bitmap - l.caches;
  return info;
}

struct page* Heap::alloc_pages(gfp_t gfp, unsigned order) {
  if (uninitialized("alloc_pages"))
    return nullptr;
  return state_->pages.alloc(gfp, order, PageOwner::PageAlloc);
}

void Heap::free_pages(struct page* p, unsigned order) {
  if (state_ == nullptr && p == nullptr)
    return;
  if (uninitialized("free_pages"))
    return;
  state_->pages.free(p, order, PageOwner::PageAlloc);
}

std::uintptr_t Heap::get_free_pages(gfp_t gfp, unsigned order) {
  if (uninitialized("get_free_pages"))
    return 0;
  page* p = state_->pages.alloc(gfp, order, PageOwner::PageAlloc);
  return p != nullptr ? reinterpret_cast<std::uintptr_t>(state_->pages.page_address(p)) : 0;
}

void Heap::free_pages(std::uintptr_t addr, unsigned order) {
  if (state_ == nullptr && addr == 0)
    return;
  if (uninitialized("free_pages"))
    return;
  state_->pages.free_address(addr, order, PageOwner::PageAlloc);
}

void* Heap::page_address(const struct page* p) const {
  if (state_ == nullptr && p == nullptr)
    return nullptr;
  if (uninitialized("page_address"))
    return nullptr;
  return p != nullptr ? state_->pages.page_address(p) : nullptr;
}

struct page* Heap::virt_to_page(const void* addr) const {
  if (uninitialized("virt_to_page"))
    return nullptr;
  return state_->pages.virt_to_page(reinterpret_cast<std::uintptr_t>(addr));
}

std::uintptr_t Heap::page_to_pfn(const struct page* p) const {
  if (uninitialized("page_to_pfn"))
    return 0;
  return state_->pages.page_to_pfn(p);
}

unsigned Heap::get_order(std::size_t size) const {
  if (uninitialized("get_order"))
    return 0;
  return km::get_order(size, state_->config.page_shift);
}

void Heap::inject_page_alloc_failures(unsigned count) {
  if (uninitialized("inject_page_alloc_failures"))
    return;
  state_->pages.inject_failures(count);
}

std::size_t Heap::page_size() const {
  if (uninitialized("page_size"))
    return 0;
  return std::size_t{1} << state_->config.page_shift;
}
std::uintptr_t Heap::arena_start() const {
  if (uninitialized("arena_start"))
    return 0;
  return state_->start;
}
std::size_t Heap::arena_pages() const {
  if (uninitialized("arena_pages"))
    return 0;
  return state_->npages;
}
unsigned Heap::nr_zones() const {
  if (uninitialized("nr_zones"))
    return 0;
  return state_->pages.nr_zones();
}

ZoneInfo Heap::zone_info(unsigned z) const {
  if (uninitialized("zone_info"))
    return ZoneInfo{"", 0, 0, 0, {}};
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
  if (uninitialized("page_info"))
    return PageInfo{};
  PageInfo info;
  const PageAllocator& pa = state_->pages;
  const page* p = pa.virt_to_page(reinterpret_cast<std::uintptr_t>(addr));
  if (p == nullptr)
    return info;
  const std::uintptr_t pfn = pa.page_to_pfn(p);
  info.in_arena = true;
  info.owner = pa.owner_of(p);
  info.zone = pa.zone_index(pfn);
  std::uintptr_t block_pfn = pfn;
  unsigned order = 0;
  if (info.owner == PageOwner::Free) {
    pa.free_block_of(pfn, block_pfn, order);
  } else if (info.owner != PageOwner::Metadata) {
    const page* head = pa.pfn_to_page(pa.start_pfn() + p->head);
    block_pfn = pa.page_to_pfn(head);
    order = head->order;
    info.cache = state_->slabs.handle_of(state_->slabs.cache_of(head));
  }
  info.block = block_pfn << pa.page_shift();
  info.order = order;
  return info;
}

PageCounts Heap::page_counts() const {
  if (uninitialized("page_counts"))
    return PageCounts{};
  const PageAllocator& pa = state_->pages;
  PageCounts c;
  c.total = state_->npages;
  pa.read_owner_pages([&](const std::size_t* owned) {
    auto of = [owned](PageOwner o) { return owned[static_cast<unsigned>(o)]; };
    c.free = of(PageOwner::Free);
    c.metadata = of(PageOwner::Metadata);
    c.page_alloc = of(PageOwner::PageAlloc);
    c.slab = of(PageOwner::Slab);
    c.large_kmalloc = of(PageOwner::LargeKmalloc);
  });
  return c;
}

void Heap::for_each_free_block(void (*fn)(void*, const FreeBlock&), void* context) const {
  if (uninitialized("for_each_free_block"))
    return;
  state_->pages.for_each_free_block([&](unsigned z, std::uintptr_t pfn, unsigned o) {
    fn(context, FreeBlock{z, pfn, o});
  });
}

std::size_t Heap::buddyinfo(char* buf, std::size_t size) const {
  if (uninitialized("buddyinfo"))
    return 0;
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
  if (uninitialized("validate"))
    return 0;
  return state_->pages.validate() + state_->slabs.validate();
}

struct kmem_cache* Heap::kmem_cache_create(const char* name, unsigned size, unsigned align,
                                           slab_flags_t flags, void (*ctor)(void*)) {
  if (uninitialized("kmem_cache_create"))
    return nullptr;
  return state_->slabs.handle_of(state_->slabs.create(name, size, align, flags, ctor));
}

kmem_cache* Heap::resolve_cache(const struct kmem_cache* cache, const char* function) const {
  kmem_cache* s = state_->slabs.resolve(cache);
  if (s == nullptr)
    report_invalid_cache(state_->reporter, function, reinterpret_cast<std::uintptr_t>(cache));
  return s;
}

void* Heap::kmem_cache_alloc(struct kmem_cache* cache, gfp_t gfp) {
  if (uninitialized("kmem_cache_alloc"))
    return nullptr;
  kmem_cache* s = resolve_cache(cache, "kmem_cache_alloc");
  return s != nullptr ? state_->slabs.alloc(s, gfp) : nullptr;
}

void* Heap::kmem_cache_zalloc(struct kmem_cache* cache, gfp_t gfp) {
  if (uninitialized("kmem_cache_zalloc"))
    return nullptr;
  return kmem_cache_alloc(cache, gfp | __GFP_ZERO);
}

void Heap::kmem_cache_free(struct kmem_cache* cache, void* obj) {
  if (uninitialized("kmem_cache_free"))
    return;
  if (obj == nullptr)
    return;
  if (kmem_cache* s = resolve_cache(cache, "kmem_cache_free"))
    state_->slabs.free(s, obj);
}

void Heap::kmem_cache_destroy(struct kmem_cache* cache) {
  if (uninitialized("kmem_cache_destroy"))
    return;
  if (cache == nullptr)
    return;
  if (kmem_cache* s = resolve_cache(cache, "kmem_cache_destroy"))
    state_->slabs.destroy(s);
}

int Heap::kmem_cache_shrink(struct kmem_cache* cache) {
  if (uninitialized("kmem_cache_shrink"))
    return 0;
  kmem_cache* s = resolve_cache(cache, "kmem_cache_shrink");
  return s != nullptr ? state_->slabs.shrink(s) : 0;
}

void Heap::kmem_cache_flush(struct kmem_cache* cache) {
  if (uninitialized("kmem_cache_flush"))
    return;
  if (kmem_cache* s = resolve_cache(cache, "kmem_cache_flush"))
    state_->slabs.flush(s);
}

void Heap::flush_cpu_slabs() {
  if (uninitialized("flush_cpu_slabs"))
    return;
  state_->slabs.flush_all();
}

std::size_t Heap::set_release_threshold(std::size_t free_bytes) {
  if (uninitialized("set_release_threshold"))
    return 0;
  PageAllocator& pages = state_->pages;
  const std::size_t block = page_size() << config().max_order;
  pages.set_release_keep(free_bytes == kNeverRelease ? PageAllocator::kNeverRelease
                                                     : (free_bytes + block - 1) / block);
  return pages.released_blocks();
}

void Heap::set_cpu(unsigned cpu) {
  if (uninitialized("set_cpu"))
    return;
  state_->slabs.set_cpu(cpu);
}

CacheInfo Heap::cache_info(const struct kmem_cache* cache) const {
  if (uninitialized("cache_info"))
    return no_cache_info();
  const kmem_cache* s = state_->slabs.resolve(cache);
  if (s == nullptr)
    return no_cache_info();
  return state_->slabs.info(s);
}

void Heap::for_each_cache(void (*fn)(void*, const struct kmem_cache*), void* context) const {
  if (uninitialized("for_each_cache"))
    return;
  const SlabAllocator& slabs = state_->slabs;
  slabs.for_each_cache([&](const kmem_cache* s) { fn(context, slabs.handle_of(s)); });
}

SlabObject Heap::slab_object(const void* addr) const {
  if (uninitialized("slab_object"))
    return SlabObject{};
  SlabObject out;
  const PageAllocator& pa = state_->pages;
  const page* p = pa.virt_to_page(reinterpret_cast<std::uintptr_t>(addr));
  if (p == nullptr || pa.owner_of(p) != PageOwner::Slab)
    return out;
  const page* head = pa.pfn_to_page(pa.start_pfn() + p->head);
  const kmem_cache* s = head->slab_cache;
  const auto base = reinterpret_cast<std::uintptr_t>(pa.page_address(head));
  const std::size_t index = obj_to_index(s, reinterpret_cast<std::uintptr_t>(addr) - base);
  if (index >= head->objects)
    return out; // the slab's tail, past its last object
  out.cache = state_->slabs.handle_of(s);
  out.slab = base;
  out.index = static_cast<unsigned>(index);
  out.object = base + index * s->layout.size;
  return out;
}

std::size_t Heap::slabinfo(char* buf, std::size_t size) const {
  if (uninitialized("slabinfo"))
    return 0;
  return state_->slabs.slabinfo(buf, size);
}

// ---- kmalloc front end

void* Heap::kmalloc(std::size_t size, gfp_t gfp) {
  if (uninitialized("kmalloc"))
    return nullptr;
  return state_->front.kmalloc(size, gfp);
}

void* Heap::kmalloc_array(std::size_t n, std::size_t size, gfp_t gfp) {
  if (uninitialized("kmalloc_array"))
    return nullptr;
  std::size_t bytes;
  if (__builtin_mul_overflow(n, size, &bytes))
    return nullptr; // check_mul_overflow: NULL, no warning
  return state_->front.kmalloc(bytes, gfp);
}

void* Heap::krealloc(const void* obj, std::size_t new_size, gfp_t gfp) {
  if (uninitialized("krealloc"))
    return nullptr;
  return state_->front.krealloc(obj, new_size, gfp);
}

void* Heap::krealloc_array(const void* obj, std::size_t n, std::size_t size, gfp_t gfp) {
  if (uninitialized("krealloc_array"))
    return nullptr;
  std::size_t bytes;
  if (__builtin_mul_overflow(n, size, &bytes))
    return nullptr;
  return state_->front.krealloc(obj, bytes, gfp);
}

void Heap::kfree(const void* obj) {
  if (state_ == nullptr && (obj == nullptr || obj == kZeroSizePtr))
    return;
  if (uninitialized("kfree"))
    return;
  state_->front.kfree(obj);
}

void Heap::kfree_sensitive(const void* obj) {
  if (state_ == nullptr && (obj == nullptr || obj == kZeroSizePtr))
    return;
  if (uninitialized("kfree_sensitive"))
    return;
  state_->front.kfree_sensitive(obj);
}

std::size_t Heap::ksize(const void* obj) const {
  if (state_ == nullptr && (obj == nullptr || obj == kZeroSizePtr))
    return 0;
  if (uninitialized("ksize"))
    return 0;
  return state_->front.ksize(obj);
}

std::size_t Heap::kmalloc_size_roundup(std::size_t size) const {
  if (uninitialized("kmalloc_size_roundup"))
    return 0;
  return state_->front.kmalloc_size_roundup(size);
}

int Heap::kmalloc_index(std::size_t size) const {
  if (uninitialized("kmalloc_index"))
    return -1;
  return state_->front.enabled() ? state_->front.kmalloc_index(size) : -1;
}

const struct kmem_cache* Heap::kmalloc_cache(std::size_t size, gfp_t gfp) const {
  if (uninitialized("kmalloc_cache"))
    return nullptr;
  // kmalloc refuses unknown gfp bits before it picks a cache: so does its introspection.
  if (!state_->front.enabled() || (gfp & ~__GFP_BITS_MASK) != 0)
    return nullptr;
  return state_->slabs.handle_of(state_->front.kmalloc_slab(size, gfp));
}

KmallocLimits Heap::kmalloc_limits() const {
  if (uninitialized("kmalloc_limits"))
    return KmallocLimits{};
  return state_->front.limits();
}

SlotPathStats Heap::slot_path_stats() const {
  if (uninitialized("slot_path_stats"))
    return SlotPathStats{};
  return state_->slabs.path_stats();
}

SlabBytes Heap::slab_bytes() const {
  if (uninitialized("slab_bytes"))
    return SlabBytes{};
  SlabBytes out;
  const std::size_t page_bytes = std::size_t{1} << state_->config.page_shift;
  state_->slabs.for_each_cache([&](const kmem_cache* s) {
    std::size_t pages = 0;
    auto add = [&](const struct page* slab) { pages += std::size_t{1} << slab->order; };
    {
      platform::LockGuard guard(s->list_lock);
      s->partial.for_each(add);
      s->full.for_each(add);
    }
    for (unsigned c = 0; c < cpu_slots_per_cache(state_->config); ++c)
      if (s->cpu_slab[c].slab != nullptr)
        add(s->cpu_slab[c].slab);
    ((s->flags & SLAB_RECLAIM_ACCOUNT) != 0 ? out.reclaimable : out.unreclaimable) +=
        pages * page_bytes;
  });
  out.unreclaimable += state_->pages.owner_pages(PageOwner::LargeKmalloc) * page_bytes;
  return out;
}

} // namespace km
