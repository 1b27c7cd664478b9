// front/kmalloc_caches.cpp - kmalloc size classes and the kmalloc family; see kmalloc_caches.h.
#include "front/kmalloc_caches.h"

#include <cstdio>
#include <cstring>

#include "platform/asan.h"
#include "support/bits.h"
#include "support/check.h"

namespace km {

namespace {

bool zero_or_null(const void* p) {
  return addr_of(p) <= 16;
}

void* zero_size_ptr() {
  return reinterpret_cast<void*>(std::uintptr_t{16});
}

KmallocLimits compute_limits(const Config& cfg) {
  KmallocLimits l{};
  l.profile = cfg.profile;
  const unsigned default_min = cfg.profile == Profile::Linux4Slab ? 32 : 8;
  l.min_size = cfg.kmalloc_min_size != 0 ? cfg.kmalloc_min_size : default_min;
  // ARCH_KMALLOC_MINALIGN: 8, or the architecture's KMALLOC_MIN_SIZE when it sets one (DMA
  // alignment). linux-4-slab's default 32 comes from KMALLOC_SHIFT_LOW, not from alignment.
  l.minalign = cfg.kmalloc_min_size > 8 ? cfg.kmalloc_min_size : 8;
  l.shift_low = ilog2(l.min_size);
  if (cfg.profile == Profile::Linux4Slab) {
    // SLAB 4.x: min(MAX_ORDER + PAGE_SHIFT - 1, 25) with MAX_ORDER exclusive (= ours + 1).
    const unsigned high = cfg.max_order + cfg.page_shift;
    l.shift_high = high < 25 ? high : 25;
    l.shift_max = l.shift_high;
  } else {
    l.shift_high = cfg.page_shift + 1;
    l.shift_max = cfg.max_order + cfg.page_shift;
  }
  l.max_cache_size = std::size_t{1} << l.shift_high;
  l.max_size = std::size_t{1} << l.shift_max;
  return l;
}

// "kmalloc-96", "kmalloc-rcl-1k", "dma-kmalloc-8k"; linux-4-slab: "kmalloc-1024".
void cache_name(char* out, std::size_t size, Profile profile, unsigned type, std::size_t bytes) {
  const char* prefix = type == KMALLOC_DMA       ? "dma-kmalloc-"
                       : type == KMALLOC_RECLAIM ? "kmalloc-rcl-"
                                                 : "kmalloc-";
  if (profile == Profile::Linux6 && bytes >= (1u << 20))
    std::snprintf(out, size, "%s%zuM", prefix, bytes >> 20);
  else if (profile == Profile::Linux6 && bytes >= 1024)
    std::snprintf(out, size, "%s%zuk", prefix, bytes >> 10);
  else
    std::snprintf(out, size, "%s%zu", prefix, bytes);
}

std::size_t index_size(unsigned index) {
  return index == 1 ? 96 : index == 2 ? 192 : std::size_t{1} << index;
}

} // namespace

unsigned kmalloc_cache_count(const Config& cfg) {
  if (cfg.profile == Profile::None)
    return 0;
  const KmallocLimits l = compute_limits(cfg);
  unsigned per_type = l.shift_high >= l.shift_low ? l.shift_high - l.shift_low + 1 : 0;
  if (l.min_size <= 32 && l.shift_low <= 6 && l.shift_high >= 6) // 96, created after index 6
    ++per_type;
  if (l.min_size <= 64 && l.shift_low <= 7 && l.shift_high >= 7) // 192, created after index 7
    ++per_type;
  return per_type * (cfg.profile == Profile::Linux6 ? 3u : 2u);
}

bool KmallocFrontEnd::init(const Reporter* reporter, const Config& cfg, PageAllocator* pages,
                           SlabAllocator* slabs) {
  reporter_ = reporter;
  pages_ = pages;
  slabs_ = slabs;
  enabled_ = cfg.profile != Profile::None;
  if (!enabled_)
    return true;
  limits_ = compute_limits(cfg);
  has_reclaim_type_ = cfg.profile == Profile::Linux6;
  for (unsigned i = 0; i < 24; ++i)
    size_index_[i] = static_cast<std::uint8_t>(kmalloc_index((i + 1) * 8));
  // create_kmalloc_caches(): for each type, indexes SHIFT_LOW..SHIFT_HIGH, with 96 created
  // right after 64 and 192 right after 128 when KMALLOC_MIN_SIZE allows them.
  for (unsigned type = 0; type < kKmallocTypes; ++type) {
    if (type == KMALLOC_RECLAIM && !has_reclaim_type_)
      continue;
    for (unsigned i = limits_.shift_low; i <= limits_.shift_high; ++i) {
      unsigned todo[2] = {i, 0};
      if (i == 6 && limits_.min_size <= 32)
        todo[1] = 1;
      if (i == 7 && limits_.min_size <= 64)
        todo[1] = 2;
      for (unsigned index : todo) {
        if (index == 0)
          continue;
        const std::size_t bytes = index_size(index);
        char name[kCacheNameMax + 1];
        cache_name(name, sizeof name, cfg.profile, type, bytes);
        // Natural alignment: 6.11+ aligns to the largest power-of-two divisor (96 -> 32,
        // 192 -> 64); SLAB 4.x only to ARCH_KMALLOC_MINALIGN for 96/192.
        std::size_t align = limits_.minalign;
        const std::size_t pow2_divisor = bytes & (~bytes + 1);
        if ((cfg.profile == Profile::Linux6 || is_pow2(bytes)) && pow2_divisor > align)
          align = pow2_divisor;
        slab_flags_t flags = SLAB_KMALLOC | SLAB_NO_MERGE;
        if (type == KMALLOC_DMA)
          flags |= SLAB_CACHE_DMA;
        if (type == KMALLOC_RECLAIM)
          flags |= SLAB_RECLAIM_ACCOUNT;
        kmem_cache* s = slabs_->create(name, static_cast<unsigned>(bytes),
                                       static_cast<unsigned>(align), flags, nullptr);
        if (s == nullptr)
          return false;
        caches_[type][index] = s;
      }
    }
  }
  return true;
}

int KmallocFrontEnd::kmalloc_index(std::size_t size) const {
  if (size == 0)
    return 0;
  if (size <= limits_.min_size)
    return static_cast<int>(limits_.shift_low);
  if (limits_.min_size <= 32 && size > 64 && size <= 96)
    return 1;
  if (limits_.min_size <= 64 && size > 128 && size <= 192)
    return 2;
  const unsigned top = limits_.profile == Profile::Linux4Slab ? kKmallocIndexMax : 21;
  const unsigned index = size <= 8 ? 3 : fls64(size - 1);
  return index <= top ? static_cast<int>(index) : -1;
}

kmem_cache* KmallocFrontEnd::kmalloc_slab(std::size_t size, gfp_t gfp) const {
  if (size == 0 || size > limits_.max_cache_size)
    return nullptr;
  const unsigned index = size <= 192 ? size_index_[(size - 1) / 8] : fls64(size - 1);
  unsigned type = KMALLOC_NORMAL;
  if ((gfp & __GFP_DMA) != 0)
    type = KMALLOC_DMA;
  else if ((gfp & __GFP_RECLAIMABLE) != 0 && has_reclaim_type_)
    type = KMALLOC_RECLAIM;
  return caches_[type][index];
}

std::size_t KmallocFrontEnd::kmalloc_size_roundup(std::size_t size) const {
  if (size == 0 || !enabled_)
    return 0;
  if (size <= limits_.max_cache_size)
    return kmalloc_slab(size, 0)->layout.object_size;
  if (size <= limits_.max_size)
    return std::size_t{1} << (pages_->page_shift() + get_order(size, pages_->page_shift()));
  return size;
}

void* KmallocFrontEnd::kmalloc(std::size_t size, gfp_t gfp) {
  if (!enabled_) {
    warn_kmalloc_disabled(*reporter_);
    return nullptr;
  }
  if ((gfp & ~__GFP_BITS_MASK) != 0) {
    if ((gfp & __GFP_NOWARN) == 0)
      warn_invalid_gfp(*reporter_, gfp);
    return nullptr;
  }
  if (size > limits_.max_cache_size)
    return kmalloc_large(size, gfp);
  if (size == 0)
    return zero_size_ptr();
  kmem_cache* s = kmalloc_slab(size, gfp);
  auto* obj = static_cast<unsigned char*>(slabs_->slab_alloc(s, gfp & ~__GFP_ZERO));
  if (obj == nullptr)
    return nullptr;
  const std::size_t object_size = s->layout.object_size;
  if ((gfp & __GFP_ZERO) != 0)
    std::memset(obj, 0, object_size);
  poison(obj + size, object_size - size); // KASAN: only the requested bytes are addressable
  return obj;
}

void* KmallocFrontEnd::kmalloc_large(std::size_t size, gfp_t gfp) {
  if (size > limits_.max_size) {
    if ((gfp & __GFP_NOWARN) == 0)
      warn_kmalloc_too_large(*reporter_, size, limits_.max_size);
    return nullptr;
  }
  const unsigned order = get_order(size, pages_->page_shift());
  page* head = pages_->alloc(gfp | __GFP_COMP, order, PageOwner::LargeKmalloc);
  if (head == nullptr)
    return nullptr;
  auto* addr = static_cast<unsigned char*>(pages_->page_address(head));
  poison(addr + size, (std::size_t{1} << (pages_->page_shift() + order)) - size);
  return addr;
}

bool KmallocFrontEnd::lookup(const void* obj, const char* function, bool freeing,
                             kmem_cache*& cache, page*& head) const {
  cache = nullptr;
  head = nullptr;
  const std::uintptr_t addr = addr_of(obj);
  page* p = pages_->virt_to_page(addr);
  if (p == nullptr) {
    report_invalid_object_pointer(*reporter_, function, addr, "outside the heap");
    return false;
  }
  const PageOwner owner = pages_->owner_of(p);
  page* h = owner == PageOwner::Free || owner == PageOwner::Metadata
                ? p
                : pages_->pfn_to_page(pages_->start_pfn() + p->head);
  switch (owner == PageOwner::Metadata ? owner : h->owner) {
  case PageOwner::Slab: {
    kmem_cache* s = h->slab_cache;
    const std::uintptr_t base = addr_of(pages_->page_address(h));
    const unsigned index = obj_to_index(s, addr - base);
    if (std::size_t{index} * s->layout.size != addr - base || index >= h->objects) {
      report_invalid_object_pointer(*reporter_, function, addr, "not at an object boundary");
      return false;
    }
    if (!freeing && !slabs_->object_live(obj)) {
      report_invalid_object_pointer(*reporter_, function, addr, "the object is free");
      return false;
    }
    cache = s;
    head = h;
    return true;
  }
  case PageOwner::LargeKmalloc:
    if (addr != addr_of(pages_->page_address(h))) {
      report_invalid_object_pointer(*reporter_, function, addr, "not the start of a large kmalloc");
      return false;
    }
    head = h;
    return true;
  case PageOwner::Free:
    report_invalid_object_pointer(*reporter_, function, addr, "in a free page");
    return false;
  default:
    report_invalid_object_pointer(*reporter_, function, addr,
                                  owner == PageOwner::Metadata ? "heap metadata"
                                                               : "in an alloc_pages block");
    return false;
  }
}

std::size_t KmallocFrontEnd::object_size(const kmem_cache* cache, const page* head) const {
  return cache == nullptr ? std::size_t{1} << (pages_->page_shift() + head->order)
                          : cache->layout.object_size;
}

void KmallocFrontEnd::kfree(const void* obj) {
  if (zero_or_null(obj))
    return;
  kmem_cache* cache;
  page* head;
  if (!lookup(obj, "kfree", true, cache, head))
    return;
  if (cache == nullptr)
    pages_->free(head, head->order, PageOwner::LargeKmalloc);
  else
    slabs_->free_object(cache, head, const_cast<void*>(obj)); // only the double-free checks left
}

std::size_t KmallocFrontEnd::ksize(const void* obj) const {
  if (zero_or_null(obj))
    return 0;
  kmem_cache* cache;
  page* head;
  if (!lookup(obj, "ksize", false, cache, head))
    return 0;
  // slab_ksize(): the stride for caches without red zones or poisoning.
  return cache == nullptr ? object_size(cache, head) : cache->layout.size;
}

void* KmallocFrontEnd::krealloc(const void* obj, std::size_t new_size, gfp_t gfp) {
  if (new_size == 0) {
    kfree(obj);
    return zero_size_ptr();
  }
  if (zero_or_null(obj))
    return kmalloc(new_size, gfp);
  if ((gfp & ~__GFP_BITS_MASK) != 0) {
    if ((gfp & __GFP_NOWARN) == 0)
      warn_invalid_gfp(*reporter_, gfp);
    return nullptr;
  }
  kmem_cache* cache;
  page* head;
  if (!lookup(obj, "krealloc", false, cache, head))
    return nullptr;
  auto* p = static_cast<unsigned char*>(const_cast<void*>(obj));
  const std::size_t ks = object_size(cache, head);
  if (new_size <= ks) {
    // In place: shrinking never moves. With __GFP_ZERO the bytes past new_size are zeroed so
    // that a later growth in place reads zeros (the kernel without orig_size tracking).
    unpoison(p, ks);
    if ((gfp & __GFP_ZERO) != 0)
      std::memset(p + new_size, 0, ks - new_size);
    poison(p + new_size, ks - new_size);
    return p;
  }
  void* ret = kmalloc(new_size, gfp);
  if (ret == nullptr)
    return nullptr;
  unpoison(p, ks);
  std::memcpy(ret, p, ks);
  kfree(p);
  return ret;
}

void KmallocFrontEnd::kfree_sensitive(const void* obj) {
  if (zero_or_null(obj))
    return;
  kmem_cache* cache;
  page* head;
  if (!lookup(obj, "kfree_sensitive", true, cache, head))
    return;
  auto* p = static_cast<unsigned char*>(const_cast<void*>(obj));
  if (cache != nullptr && !slabs_->check_not_free(cache, head, p))
    return; // a detected double free: do not touch the free object
  const std::size_t ks = cache == nullptr ? object_size(cache, head) : cache->layout.size;
  unpoison(p, ks);
  volatile unsigned char* v = p;
  for (std::size_t i = 0; i < ks; ++i)
    v[i] = 0;
  if (cache == nullptr)
    pages_->free(head, head->order, PageOwner::LargeKmalloc);
  else
    slabs_->free_object(cache, head, p);
}

} // namespace km
