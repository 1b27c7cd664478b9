// page/page_alloc.cpp - buddy allocation, splitting and coalescing; see page_alloc.h.
#include "page/page_alloc.h"

#include <cstring>

#include "platform/asan.h"
#include "platform/os.h"
#include "support/bits.h"
#include "support/check.h"

namespace km {

namespace {

std::size_t& owner_slot(std::size_t* counts, PageOwner o) {
  return counts[static_cast<unsigned>(o)];
}

} // namespace

void PageAllocator::init(const Reporter* reporter, page* memmap, std::uintptr_t start_pfn,
                         std::size_t npages, unsigned page_shift, unsigned max_order,
                         std::size_t dma_pages, std::size_t metadata_pages) {
  KM_DCHECK(metadata_pages + dma_pages < npages);
  zone_lock_.init();
  platform::LockGuard guard(zone_lock_);
  reporter_ = reporter;
  memmap_ = memmap;
  start_pfn_ = start_pfn;
  npages_ = npages;
  metadata_pages_ = metadata_pages;
  page_shift_ = page_shift;
  max_order_ = max_order;
  injected_failures_ = 0;
  for (std::size_t& c : owner_pages_)
    c = 0;

  nr_zones_ = dma_pages != 0 ? 2 : 1;
  std::size_t begin = metadata_pages;
  for (unsigned z = 0; z < nr_zones_; ++z) {
    const bool is_dma = dma_pages != 0 && z == 0;
    const std::size_t end = is_dma ? metadata_pages + dma_pages : npages;
    zone& zn = zones_[z];
    zn = zone{};
    zn.name = is_dma ? "DMA" : "Normal";
    zn.zone_start_pfn = start_pfn + begin;
    zn.spanned_pages = end - begin;
    begin = end;
  }
  owner_slot(owner_pages_, PageOwner::Metadata) = metadata_pages;

  // Hand every zone page to the buddy allocator in maximal naturally aligned blocks, as
  // memblock_free_all() does. The unaligned ends go on the lists now (free_one_block() merges
  // them); the MAX_ORDER-aligned middle is deferred (see struct zone).
  const std::uintptr_t block = std::uintptr_t{1} << max_order_;
  for (unsigned z = 0; z < nr_zones_; ++z) {
    zone& zn = zones_[z];
    const std::uintptr_t first = zn.zone_start_pfn;
    const std::uintptr_t end = first + zn.spanned_pages;
    std::uintptr_t mid_begin = align_up(first, block);
    std::uintptr_t mid_end = align_down(end, block);
    if (mid_begin >= mid_end)
      mid_begin = mid_end = end; // no whole MAX_ORDER block: everything goes on the lists
    auto free_range = [&](std::uintptr_t pfn, std::uintptr_t last) KM_REQUIRES(zone_lock_) {
      while (pfn < last) {
        unsigned order = max_order_;
        while (order > 0 && ((pfn & ((std::uintptr_t{1} << order) - 1)) != 0 ||
                             pfn + (std::uintptr_t{1} << order) > last))
          --order;
        page* head = pfn_to_page(pfn);
        for (std::size_t i = 0; i < (std::size_t{1} << order); ++i)
          head[i].zone = static_cast<std::uint8_t>(z);
        free_one_block(head, order);
        pfn += std::uintptr_t{1} << order;
      }
    };
    // The top kListedMaxBlocks whole blocks go on the list, the rest below them is deferred.
    // rmqueue() takes the list's front first (the highest block), then the deferred top: the
    // order in which a fully listed zone would hand them out.
    std::uintptr_t listed_begin = mid_begin;
    if ((mid_end - mid_begin) >> max_order_ > kListedMaxBlocks)
      listed_begin = mid_end - (std::uintptr_t{kListedMaxBlocks} << max_order_);
    free_range(first, mid_begin);
    free_range(listed_begin, end);
    zn.deferred_start_pfn = mid_begin;
    zn.deferred_end_pfn = listed_begin;
    const std::size_t deferred = listed_begin - mid_begin;
    zn.area[max_order_].nr_free += deferred >> max_order_;
    zn.free_pages += deferred;
    owner_slot(owner_pages_, PageOwner::Free) += deferred;
  }
}

// The top deferred block of z, its descriptors set up (zone), off the deferred range. The
// caller has already counted it out of nr_free[MAX_ORDER] or will.
page* PageAllocator::take_deferred_block(zone& z) {
  if (z.deferred_end_pfn == z.deferred_start_pfn)
    return nullptr;
  z.deferred_end_pfn -= std::uintptr_t{1} << max_order_;
  page* head = pfn_to_page(z.deferred_end_pfn);
  const auto zi = static_cast<std::uint8_t>(&z - zones_);
  for (std::size_t i = 0; i < (std::size_t{1} << max_order_); ++i)
    head[i].zone = zi;
  return head;
}

page* PageAllocator::checked_descriptor(const page* p) const {
  const auto addr = reinterpret_cast<std::uintptr_t>(p);
  const auto base = reinterpret_cast<std::uintptr_t>(memmap_);
  if (addr < base || addr >= base + npages_ * sizeof(page) || (addr - base) % sizeof(page) != 0)
    return nullptr;
  return const_cast<page*>(p);
}

page* PageAllocator::alloc(gfp_t gfp, unsigned order, PageOwner owner) {
  if ((gfp & ~__GFP_BITS_MASK) != 0) {
    if ((gfp & __GFP_NOWARN) == 0)
      warn_invalid_gfp(*reporter_, gfp);
    return nullptr;
  }
  if (order > max_order_) {
    if ((gfp & __GFP_NOWARN) == 0)
      warn_order_too_large(*reporter_, order, max_order_);
    return nullptr;
  }
  page* block = nullptr;
  {
    platform::LockGuard guard(zone_lock_);
    if (injected_failures_ > 0 && (gfp & __GFP_NOFAIL) == 0) {
      --injected_failures_;
      return nullptr;
    }
    // Zonelist: __GFP_DMA -> {DMA}; otherwise {Normal, DMA}. With one zone, just that zone.
    const unsigned normal = nr_zones_ - 1;
    if ((gfp & __GFP_DMA) != 0) {
      block = rmqueue(zones_[0], order);
    } else {
      block = rmqueue(zones_[normal], order);
      if (block == nullptr && normal != 0)
        block = rmqueue(zones_[0], order);
    }
    if (block == nullptr)
      return nullptr;
    mark_allocated(block, order, owner);
  }
  // The block is the caller's now: unpoisoned and zeroed outside the lock.
  void* addr = page_address(block);
  const std::size_t bytes = std::size_t{1} << (page_shift_ + order);
  unpoison(addr, bytes);
  if ((gfp & __GFP_ZERO) != 0)
    std::memset(addr, 0, bytes);
  return block;
}

// __rmqueue_smallest: the first block of the smallest order that has one.
page* PageAllocator::rmqueue(zone& z, unsigned order) {
  for (unsigned current = order; current <= max_order_; ++current) {
    free_area& area = z.area[current];
    page* block = area.free_list.front();
    if (block != nullptr) {
      area.free_list.remove(block);
      if (current == max_order_ && z.resident_max_blocks > 0)
        --z.resident_max_blocks;
    } else if (current == max_order_)
      block = take_deferred_block(z);
    if (block == nullptr)
      continue;
    --area.nr_free;
    block->flags = 0;
    z.free_pages -= std::size_t{1} << order;
    expand(z, block, order, current);
    return block;
  }
  return nullptr;
}

// expand: splits a block of order `high` down to `low`, putting each upper half on the free
// list of its order. Example: order 0 from an order-2 block at pfn 8 frees 10 (order 1) and
// 9 (order 0), and returns 8.
void PageAllocator::expand(zone& z, page* block, unsigned low, unsigned high) {
  std::size_t size = std::size_t{1} << high;
  while (high > low) {
    --high;
    size >>= 1;
    add_to_free_area(z, block + size, high);
  }
}

void PageAllocator::add_to_free_area(zone& z, page* head, unsigned order, bool to_tail) {
  head->flags = PG_buddy;
  head->order = static_cast<std::uint8_t>(order);
  if (to_tail)
    z.area[order].free_list.push_back(head);
  else
    z.area[order].free_list.push_front(head);
  ++z.area[order].nr_free;
}

void PageAllocator::mark_allocated(page* head, unsigned order, PageOwner owner) {
  const std::size_t count = std::size_t{1} << order;
  const auto index = static_cast<std::uint32_t>(head - memmap_);
  for (std::size_t i = 0; i < count; ++i) {
    page& p = head[i];
    p.flags = 0;
    p.owner = owner;
    p.head = index;
  }
  head->flags = PG_head;
  head->order = static_cast<std::uint8_t>(order);
  owner_slot(owner_pages_, PageOwner::Free) -= count;
  owner_slot(owner_pages_, owner) += count;
}

bool PageAllocator::free_address(std::uintptr_t addr, unsigned order, PageOwner expected) {
  if (addr == 0)
    return false;
  page* p = virt_to_page(addr);
  if (p == nullptr) {
    report_page_invalid_free(*reporter_, addr, "outside the arena");
    return false;
  }
  if ((addr & ((std::uintptr_t{1} << page_shift_) - 1)) != 0) {
    report_page_invalid_free(*reporter_, addr, "not page aligned");
    return false;
  }
  return free(p, order, expected);
}

bool PageAllocator::free(page* head, unsigned order, PageOwner expected) {
  if (head == nullptr)
    return false;
  if (checked_descriptor(head) == nullptr) {
    report_page_invalid_free(*reporter_, reinterpret_cast<std::uintptr_t>(head),
                             "not a page descriptor of this heap");
    return false;
  }
  const auto addr = reinterpret_cast<std::uintptr_t>(page_address(head));
  // Judged and done under the zone lock (the descriptors of free blocks are the zone's); a
  // refusal is reported after it is released, so a report handler may call into the heap.
  enum class Refusal { None, Metadata, DoubleFree, NotHead, Owner, Order } why = Refusal::None;
  PageOwner actual_owner = PageOwner::Free;
  unsigned actual_order = 0;
  {
    platform::LockGuard guard(zone_lock_);
    actual_owner = head->owner;
    actual_order = head->order;
    if (owner_of(head) == PageOwner::Metadata) {
      why = Refusal::Metadata;
    } else if (head->owner == PageOwner::Free) {
      why = Refusal::DoubleFree;
    } else if ((head->flags & PG_head) == 0) {
      why = Refusal::NotHead;
    } else if (head->owner != expected) {
      why = Refusal::Owner;
    } else if (head->order != order) {
      why = Refusal::Order;
    } else {
      const std::size_t count = std::size_t{1} << order;
      for (std::size_t i = 0; i < count; ++i) {
        head[i].flags = 0;
        head[i].owner = PageOwner::Free;
      }
      owner_slot(owner_pages_, expected) -= count;
      poison(page_address(head), count << page_shift_);
      free_one_block(head, order);
    }
  }
  switch (why) {
  case Refusal::None: return true;
  case Refusal::Metadata: report_page_invalid_free(*reporter_, addr, "heap metadata page"); break;
  case Refusal::DoubleFree: report_page_double_free(*reporter_, addr, order); break;
  case Refusal::NotHead:
    report_page_invalid_free(*reporter_, addr, "not the first page of its block");
    break;
  case Refusal::Owner:
    report_page_owner_mismatch(*reporter_, addr, page_owner_name(actual_owner));
    break;
  case Refusal::Order: report_page_order_mismatch(*reporter_, addr, order, actual_order); break;
  }
  return false;
}

// __free_one_page: the pages are already marked Free. Merge with the buddy at pfn ^ (1 << order)
// while it is a free block of the same order in the same zone. Example: freeing pfn 10 at
// order 1 while 8 is free at order 1 merges into 8 at order 2 (parent = 10 & 8 = 8).
void PageAllocator::free_one_block(page* head, unsigned order) {
  zone& z = zones_[head->zone];
  KM_DCHECK_EQ(head->zone, zone_index(page_to_pfn(head)));
  std::uintptr_t pfn = page_to_pfn(head);
  KM_DCHECK_EQ(pfn & ((std::uintptr_t{1} << order) - 1), 0u);
  const std::size_t count = std::size_t{1} << order;
  z.free_pages += count;
  owner_slot(owner_pages_, PageOwner::Free) += count;
  while (order < max_order_) {
    const std::uintptr_t buddy_pfn = pfn ^ (std::uintptr_t{1} << order);
    page* buddy = pfn_to_page(buddy_pfn);
    // The owner first: an allocated page's flags are its owner's (a slab's fields change
    // under the cache's lock or its freelist pair's compare-and-swap, not this lock); only a Free
    // page's flags are the zone's.
    if (buddy == nullptr || buddy->owner != PageOwner::Free || (buddy->flags & PG_buddy) == 0 ||
        buddy->order != order || buddy->zone != head->zone)
      break;
    z.area[order].free_list.remove(buddy);
    --z.area[order].nr_free;
    buddy->flags = 0;
    pfn &= buddy_pfn;
    ++order;
  }
  // A whole MAX_ORDER block beyond the ones the zone keeps resident: its memory goes back to
  // the OS (under the lock, so nobody takes the block meanwhile; free pages are never written),
  // and it waits at the tail of its list, behind the resident ones rmqueue takes first.
  bool released = false;
  if (order == max_order_ && release_keep_blocks_ != kNeverRelease) {
    released = z.resident_max_blocks >= release_keep_blocks_;
    if (released) {
      platform::release_pages(reinterpret_cast<void*>(pfn << page_shift_),
                              std::size_t{1} << (order + page_shift_));
      ++released_blocks_;
    } else {
      ++z.resident_max_blocks;
    }
  }
  add_to_free_area(z, pfn_to_page(pfn), order, released);
}

bool PageAllocator::free_block_of(std::uintptr_t pfn, std::uintptr_t& block_pfn,
                                  unsigned& order) const {
  platform::LockGuard guard(zone_lock_);
  const page* p = pfn_to_page(pfn);
  if (p == nullptr || owner_of(p) != PageOwner::Free)
    return false;
  const zone& z = zones_[zone_index(pfn)];
  if (pfn >= z.deferred_start_pfn && pfn < z.deferred_end_pfn) {
    block_pfn = pfn & ~((std::uintptr_t{1} << max_order_) - 1);
    order = max_order_;
    return true;
  }
  for (unsigned o = 0; o <= max_order_; ++o) {
    const page* head = pfn_to_page(pfn & ~((std::uintptr_t{1} << o) - 1));
    if (head != nullptr && (head->flags & PG_buddy) != 0 && head->order == o) {
      block_pfn = page_to_pfn(head);
      order = o;
      return true;
    }
  }
  return false;
}

std::size_t PageAllocator::validate_zone(unsigned zi, const Reporter& r) const {
  const zone& z = zones_unlocked()[zi]; // (the caller holds zone_lock_)
  std::size_t errors = 0;
  std::size_t free_pages = 0;
  const std::uintptr_t zone_end = z.zone_start_pfn + z.spanned_pages;
  const std::uintptr_t block = std::uintptr_t{1} << max_order_;
  if (z.deferred_start_pfn > z.deferred_end_pfn ||
      (z.deferred_start_pfn != z.deferred_end_pfn &&
       (z.deferred_start_pfn < z.zone_start_pfn || z.deferred_end_pfn > zone_end ||
        (z.deferred_start_pfn & (block - 1)) != 0 || (z.deferred_end_pfn & (block - 1)) != 0))) {
    report_corruption(r, "AC3", 0,
                      "zone %s: deferred range [%#lx, %#lx) is not MAX_ORDER-aligned inside the "
                      "zone",
                      z.name, static_cast<unsigned long>(z.deferred_start_pfn),
                      static_cast<unsigned long>(z.deferred_end_pfn));
    ++errors;
  }
  for (unsigned order = 0; order <= kMaxOrderLimit; ++order) {
    const free_area& area = z.area[order];
    if (order > max_order_ && !area.free_list.empty()) {
      report_corruption(r, "AC3", 0, "zone %s: free_area[%u] above MAX_ORDER %u is not empty",
                        z.name, order, max_order_);
      ++errors;
    }
    if (!area.free_list.consistent(npages_)) {
      report_corruption(r, "LIST", 0, "zone %s: free_area[%u] list is broken", z.name, order);
      ++errors;
      continue; // walking it further is not safe
    }
    const std::size_t deferred = order == max_order_ ? deferred_blocks(z, max_order_) : 0;
    if (area.nr_free != area.free_list.length() + deferred) {
      report_corruption(r, "LIST", 0,
                        "zone %s: free_area[%u].nr_free %zu != list length %zu + %zu deferred",
                        z.name, order, area.nr_free, area.free_list.length(), deferred);
      ++errors;
    }
    free_pages += deferred << order;
    const std::size_t size = std::size_t{1} << order;
    area.free_list.for_each([&](const page* head) {
      free_pages += size;
      if (checked_descriptor(head) == nullptr) { // before any arithmetic on the pointer
        report_corruption(r, "LIST", 0, "zone %s: free_area[%u] holds a foreign descriptor", z.name,
                          order);
        ++errors;
        return;
      }
      const std::uintptr_t pfn = page_to_pfn(head);
      const auto addr = pfn << page_shift_;
      if ((head->flags & PG_buddy) == 0 || head->order != order ||
          owner_of(head) != PageOwner::Free) {
        report_corruption(r, "AC3", addr,
                          "free block %#lx on free_area[%u] has flags %#x order %u owner %s",
                          static_cast<unsigned long>(addr), order, head->flags, head->order,
                          page_owner_name(owner_of(head)));
        ++errors;
      }
      if ((pfn & (size - 1)) != 0) {
        report_corruption(r, "AC3", addr, "free block %#lx of order %u is not naturally aligned",
                          static_cast<unsigned long>(addr), order);
        ++errors;
      }
      if (pfn < z.zone_start_pfn || pfn + size > zone_end ||
          (pfn + size > z.deferred_start_pfn && pfn < z.deferred_end_pfn)) {
        report_corruption(r, "AC3", addr,
                          "free block %#lx of order %u is outside zone %s or in its deferred range",
                          static_cast<unsigned long>(addr), order, z.name);
        ++errors;
        return;
      }
      for (std::size_t i = 1; i < size; ++i) {
        const page& t = head[i];
        if (t.owner != PageOwner::Free || (t.flags & (PG_buddy | PG_head)) != 0) {
          report_corruption(r, "AC3", addr,
                            "page %zu of free block %#lx (order %u) is owned by %s with flags %#x",
                            i, static_cast<unsigned long>(addr), order, page_owner_name(t.owner),
                            t.flags);
          ++errors;
          break;
        }
      }
      if (order < max_order_) {
        const page* buddy = pfn_to_page(pfn ^ size);
        if (buddy != nullptr && (buddy->flags & PG_buddy) != 0 && buddy->order == order &&
            buddy->zone == zi) {
          report_corruption(
              r, "AC3", addr,
              "free block %#lx and its buddy are both free at order %u (not coalesced)",
              static_cast<unsigned long>(addr), order);
          ++errors;
        }
      }
    });
  }
  if (free_pages != z.free_pages) {
    report_corruption(r, "AC2", 0, "zone %s: sum(nr_free[o] << o) = %zu != free_pages %zu", z.name,
                      free_pages, z.free_pages);
    ++errors;
  }
  return errors;
}

// The walk runs under the zone lock; its reports reach the handler after the lock is released.
std::size_t PageAllocator::validate() const {
  return report_after(*reporter_, [this](const Reporter& r) {
    platform::LockGuard guard(zone_lock_);
    return validate_locked(r);
  });
}

std::size_t PageAllocator::validate_locked(const Reporter& r) const {
  std::size_t errors = 0;
  for (unsigned z = 0; z < nr_zones_; ++z)
    errors += validate_zone(z, r);

  // Walk the memmap: count pages by owner and check every allocated block's shape.
  std::size_t counted[kOwnerKinds] = {};
  std::size_t buddy_heads = 0;
  std::size_t listed = 0;
  for (unsigned z = 0; z < nr_zones_; ++z)
    for (unsigned o = 0; o <= max_order_; ++o)
      listed += zones_[z].area[o].nr_free;
  for (std::size_t i = 0; i < npages_;) {
    const zone& zn = zones_[zone_index(start_pfn_ + i)];
    if (start_pfn_ + i == zn.deferred_start_pfn && zn.deferred_end_pfn > zn.deferred_start_pfn) {
      // Deferred blocks: free, never touched, one PG_buddy-equivalent head each.
      const std::size_t pages = zn.deferred_end_pfn - zn.deferred_start_pfn;
      counted[static_cast<unsigned>(PageOwner::Free)] += pages;
      buddy_heads += pages >> max_order_;
      i += pages;
      continue;
    }
    const page& p = memmap_[i];
    const auto addr = static_cast<std::uintptr_t>(start_pfn_ + i) << page_shift_;
    const auto owner = static_cast<unsigned>(owner_of(&p));
    if (owner >= kOwnerKinds) {
      report_corruption(r, "DESC", addr, "page %#lx has an unknown owner %u",
                        static_cast<unsigned long>(addr), owner);
      ++errors;
      ++i;
      continue;
    }
    const unsigned zone_expected = zone_index(start_pfn_ + i);
    if (p.zone != zone_expected) {
      report_corruption(r, "DESC", addr, "page %#lx records zone %u, lies in zone %u",
                        static_cast<unsigned long>(addr), p.zone, zone_expected);
      ++errors;
    }
    const PageOwner who = static_cast<PageOwner>(owner);
    if (who == PageOwner::Free || who == PageOwner::Metadata) {
      if ((p.flags & PG_buddy) != 0)
        ++buddy_heads;
      if (who == PageOwner::Metadata && p.flags != 0) {
        report_corruption(r, "DESC", addr, "metadata page %#lx has flags %#x",
                          static_cast<unsigned long>(addr), p.flags);
        ++errors;
      }
      // Metadata pages are known by position; their descriptors are never written.
      if (who == PageOwner::Metadata && p.owner != PageOwner::Free) {
        report_corruption(r, "DESC", addr,
                          "metadata page %#lx has a written descriptor (owner %u); metadata "
                          "descriptors are never written",
                          static_cast<unsigned long>(addr), static_cast<unsigned>(p.owner));
        ++errors;
      }
      ++counted[owner];
      ++i;
      continue;
    }
    // An allocated page must start a block here (tails are consumed with their head).
    if ((p.flags & PG_head) == 0 || p.order > max_order_) {
      report_corruption(r, "DESC", addr, "%s page %#lx is not inside any allocated block",
                        page_owner_name(p.owner), static_cast<unsigned long>(addr));
      ++errors;
      ++counted[owner];
      ++i;
      continue;
    }
    const std::size_t size = std::size_t{1} << p.order;
    if ((i + start_pfn_) % size != 0 || i + size > npages_) {
      report_corruption(r, "DESC", addr,
                        "allocated block %#lx of order %u is misaligned or past the arena",
                        static_cast<unsigned long>(addr), p.order);
      ++errors;
      ++counted[owner];
      ++i;
      continue;
    }
    for (std::size_t t = 0; t < size; ++t) {
      const page& tail = memmap_[i + t];
      if (tail.owner != p.owner || tail.head != i || (t != 0 && tail.flags != 0)) {
        report_corruption(r, "DESC", addr,
                          "page %zu of %s block %#lx (order %u) has owner %s head %u flags %#x", t,
                          page_owner_name(p.owner), static_cast<unsigned long>(addr), p.order,
                          page_owner_name(tail.owner), tail.head, tail.flags);
        ++errors;
        break;
      }
    }
    counted[owner] += size;
    i += size;
  }
  if (buddy_heads != listed) {
    report_corruption(r, "LIST", 0, "%zu pages are marked PG_buddy but the lists hold %zu blocks",
                      buddy_heads, listed);
    ++errors;
  }
  for (unsigned o = 0; o < kOwnerKinds; ++o) {
    if (counted[o] != owner_pages_[o]) {
      report_corruption(r, "AC2", 0, "%zu pages are owned by %s but the counter says %zu",
                        counted[o], page_owner_name(static_cast<PageOwner>(o)), owner_pages_[o]);
      ++errors;
    }
  }
  std::size_t zone_free = 0;
  for (unsigned z = 0; z < nr_zones_; ++z)
    zone_free += zones_[z].free_pages;
  if (zone_free != counted[static_cast<unsigned>(PageOwner::Free)]) {
    report_corruption(r, "AC2", 0, "zones count %zu free pages, descriptors %zu", zone_free,
                      counted[static_cast<unsigned>(PageOwner::Free)]);
    ++errors;
  }
  return errors;
}

} // namespace km
