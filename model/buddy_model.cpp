// model/buddy_model.cpp - the buddy allocator's specification; see buddy_model.h.
#include "model/buddy_model.h"

#include <algorithm>
#include <climits>
#include <cstdio>
#include <stdexcept>

namespace km::model {

namespace {

std::string hex(std::uint64_t v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%#llx", static_cast<unsigned long long>(v));
  return buf;
}

std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

std::uintptr_t pages_of(unsigned order) {
  return std::uintptr_t{1} << order;
}

} // namespace

unsigned get_order(std::size_t size, std::size_t page_size) {
  unsigned order = 0;
  std::size_t block = page_size;
  while (block < size) {
    block *= 2;
    ++order;
  }
  return order;
}

const char* free_class_name(FreeClass c) {
  switch (c) {
  case FreeClass::NoOp: return "no-op";
  case FreeClass::Success: return "freed";
  case FreeClass::OutsideArena: return "outside the arena";
  case FreeClass::Misaligned: return "not page aligned";
  case FreeClass::NotDescriptor: return "not a page descriptor";
  case FreeClass::DoubleFree: return "double free";
  case FreeClass::Metadata: return "metadata page";
  case FreeClass::NotHead: return "not the head page";
  case FreeClass::OwnerMismatch: return "owner mismatch";
  case FreeClass::OrderMismatch: return "order mismatch";
  }
  return "?";
}

void BuddyModel::init(const Config& cfg, std::uintptr_t arena_start, std::size_t npages,
                      std::size_t metadata_pages) {
  *this = BuddyModel{};
  cfg_ = cfg;
  arena_start_ = arena_start;
  npages_ = npages;
  metadata_pages_ = metadata_pages;

  // Zones start after the metadata pages, which belong to none: DMA is the next
  // dma_zone_size bytes (if any), Normal the rest. An unset dma_zone_size means a quarter of
  // the arena, at most 16 MiB, in whole pages.
  const std::uintptr_t first = start_pfn() + metadata_pages;
  std::size_t dma_bytes = cfg.dma_zone_size;
  if (dma_bytes == kDmaZoneDefault) {
    const std::size_t quarter_pages = npages / 4; // whole pages in a quarter of the arena
    const std::size_t cap_pages = (std::size_t{16} << 20) >> cfg.page_shift;
    dma_bytes = std::min(quarter_pages, cap_pages) << cfg.page_shift;
  }
  cfg_.dma_zone_size = dma_bytes;
  const std::size_t dma_pages = dma_bytes >> cfg.page_shift;
  npages -= metadata_pages; // zone pages
  if (dma_pages != 0) {
    zones_.push_back(ModelZone{"DMA", first, dma_pages, {}});
    zones_.push_back(ModelZone{"Normal", first + dma_pages, npages - dma_pages, {}});
  } else {
    zones_.push_back(ModelZone{"Normal", first, npages, {}});
  }

  // Initial free blocks: each zone's pages, carved from the bottom into the largest naturally
  // aligned blocks that fit, each freed (and so merged) in turn.
  for (unsigned z = 0; z < zones_.size(); ++z) {
    const std::uintptr_t end = zones_[z].start_pfn + zones_[z].spanned_pages;
    std::uintptr_t pfn = zones_[z].start_pfn;
    while (pfn < end) {
      unsigned order = cfg.max_order;
      while (order > 0 && (pfn % pages_of(order) != 0 || pfn + pages_of(order) > end))
        --order;
      add_free_block(z, pfn, order);
      pfn += pages_of(order);
    }
  }
  initial_ = free_blocks();
}

// Insert a free block, then the merge closure: while the buddy (pfn ^ 2^order) is a free block
// of the same order in this zone, take it out and go up one order from the lower of the two.
void BuddyModel::add_free_block(unsigned z, std::uintptr_t pfn, unsigned order) {
  std::set<ModelBlock>& free = zones_[z].free;
  while (order < cfg_.max_order) {
    const std::uintptr_t buddy = pfn ^ pages_of(order);
    const auto it = free.find(ModelBlock{buddy, order});
    if (it == free.end())
      break;
    free.erase(it);
    pfn = std::min(pfn, buddy);
    ++order;
  }
  free.insert(ModelBlock{pfn, order});
}

unsigned BuddyModel::zone_of(std::uintptr_t pfn) const {
  for (unsigned z = 0; z < zones_.size(); ++z)
    if (pfn >= zones_[z].start_pfn && pfn < zones_[z].start_pfn + zones_[z].spanned_pages)
      return z;
  return 0;
}

BuddyModel::Owner BuddyModel::owner_of(std::uintptr_t pfn) const {
  Owner o;
  if (pfn < start_pfn() || pfn >= start_pfn() + npages_)
    return o;
  o.in_arena = true;
  o.zone = zone_of(pfn);
  if (pfn < start_pfn() + metadata_pages_) {
    o.owner = PageOwner::Metadata;
    o.block = ModelBlock{pfn, 0};
    return o;
  }
  const std::set<ModelBlock>& free = zones_[o.zone].free;
  auto it = free.upper_bound(ModelBlock{pfn, UINT_MAX});
  if (it != free.begin()) {
    --it;
    if (pfn < it->pfn + pages_of(it->order)) {
      o.owner = PageOwner::Free;
      o.block = *it;
      return o;
    }
  }
  auto live = live_by_pfn_.upper_bound(pfn);
  if (live != live_by_pfn_.begin()) {
    --live;
    const Allocation& a = handles_[live->second];
    if (pfn < live->first + pages_of(a.order)) {
      o.owner = PageOwner::PageAlloc;
      o.block = ModelBlock{live->first, a.order};
      o.handle = live->second;
      return o;
    }
  }
  throw std::logic_error("model: page " + hex(pfn) + " is neither metadata, free nor allocated");
}

AllocExpect BuddyModel::expect_alloc(gfp_t gfp, unsigned order) const {
  AllocExpect e;
  const bool warn = (gfp & __GFP_NOWARN) == 0;
  if ((gfp & ~__GFP_BITS_MASK) != 0) {
    e.kind = AllocExpect::Refused;
    if (warn)
      e.warning = ErrorKind::InvalidGfp;
    return e;
  }
  if (order > cfg_.max_order) {
    e.kind = AllocExpect::Refused;
    if (warn)
      e.warning = ErrorKind::OrderTooLarge;
    return e;
  }
  if (injected_failures_ > 0 && (gfp & __GFP_NOFAIL) == 0) {
    e.kind = AllocExpect::Injected;
    return e;
  }
  // Zonelist: __GFP_DMA -> zone 0 only; otherwise the Normal zone (the last), then DMA.
  std::vector<unsigned> zonelist;
  if ((gfp & __GFP_DMA) != 0) {
    zonelist.push_back(0);
  } else {
    zonelist.push_back(nr_zones() - 1);
    if (nr_zones() == 2)
      zonelist.push_back(0);
  }
  for (unsigned z : zonelist) {
    unsigned best = UINT_MAX;
    for (const ModelBlock& b : zones_[z].free)
      if (b.order >= order && b.order < best)
        best = b.order;
    if (best != UINT_MAX) {
      e.kind = AllocExpect::Success;
      e.zone = z;
      e.block_order = best;
      return e;
    }
  }
  e.kind = AllocExpect::NoMemory;
  return e;
}

std::string BuddyModel::commit_alloc(const AllocExpect& e, gfp_t gfp, unsigned order,
                                     std::uintptr_t addr) {
  const auto h = static_cast<Handle>(handles_.size());
  Allocation a;
  a.order = order;
  a.seed = splitmix64(h);
  if (e.kind != AllocExpect::Success) {
    static const char* const kWhy[] = {"the request is out of contract",
                                       "an injected failure is pending", "no zone has memory"};
    if (addr != 0)
      return std::string("alloc_pages must return NULL (") + kWhy[e.kind] + "), heap returned " +
             hex(addr);
    if (e.kind == AllocExpect::Injected)
      --injected_failures_;
    handles_.push_back(a);
    orders_.push_back(order);
    null_.push_back(h);
    return "";
  }
  const ModelZone& zn = zones_[e.zone];
  const std::string want = "the start of a free block of order " + std::to_string(e.block_order) +
                           " (the smallest >= " + std::to_string(order) + ") in zone " + zn.name;
  if (addr == 0)
    return "alloc_pages returned NULL, the model expects " + want;
  const std::uintptr_t pfn = addr >> cfg_.page_shift;
  if ((addr & (page_size() - 1)) != 0 || pfn % pages_of(order) != 0)
    return "alloc_pages returned " + hex(addr) + ", not naturally aligned for order " +
           std::to_string(order);
  if (zn.free.count(ModelBlock{pfn, e.block_order}) == 0) {
    std::string is = "outside the arena";
    if (pfn >= start_pfn() && pfn < start_pfn() + npages_) {
      const Owner o = owner_of(pfn);
      is = std::string("in zone ") + zones_[o.zone].name + ", owner " + page_owner_name(o.owner) +
           ", in block pfn " + hex(o.block.pfn) + " order " + std::to_string(o.block.order);
    }
    return "alloc_pages returned " + hex(addr) + " (pfn " + hex(pfn) + ": " + is +
           "); the model expects " + want;
  }
  // Split: the caller gets the lowest 2^order pages; each upper half becomes a free block.
  ModelZone& z = zones_[e.zone];
  z.free.erase(ModelBlock{pfn, e.block_order});
  for (unsigned k = e.block_order; k > order;) {
    --k;
    z.free.insert(ModelBlock{pfn + pages_of(k), k});
  }
  a.addr = addr;
  a.zone = e.zone;
  a.state = HandleState::Live;
  a.zeroed = (gfp & __GFP_ZERO) != 0;
  handles_.push_back(a);
  orders_.push_back(order);
  live_by_pfn_[pfn] = h;
  live_.push_back(h);
  live_pages_ += pages_of(order);
  return "";
}

FreeExpect BuddyModel::classify_page(std::uintptr_t pfn, unsigned order) const {
  FreeExpect e;
  e.report_address = pfn << cfg_.page_shift;
  const Owner o = owner_of(pfn);
  if (o.owner == PageOwner::Free) {
    e.cls = FreeClass::DoubleFree;
    e.report = ErrorKind::PageDoubleFree;
  } else if (o.owner == PageOwner::Metadata) {
    e.cls = FreeClass::Metadata;
    e.report = ErrorKind::PageInvalidFree;
  } else if (pfn != o.block.pfn) {
    e.cls = FreeClass::NotHead;
    e.report = ErrorKind::PageInvalidFree;
  } else if (o.owner != PageOwner::PageAlloc) {
    e.cls = FreeClass::OwnerMismatch;
    e.report = ErrorKind::PageOwnerMismatch;
  } else if (order != o.block.order) {
    e.cls = FreeClass::OrderMismatch;
    e.report = ErrorKind::PageOrderMismatch;
  } else {
    e.cls = FreeClass::Success;
    e.handle = *o.handle;
  }
  return e;
}

FreeExpect BuddyModel::expect_free_address(std::uintptr_t addr, unsigned order) const {
  FreeExpect e;
  if (addr == 0)
    return e; // NoOp
  const std::uintptr_t pfn = addr >> cfg_.page_shift;
  e.report_address = addr;
  e.report = ErrorKind::PageInvalidFree;
  if (pfn < start_pfn() || pfn >= start_pfn() + npages_) {
    e.cls = FreeClass::OutsideArena;
    return e;
  }
  if ((addr & (page_size() - 1)) != 0) {
    e.cls = FreeClass::Misaligned;
    return e;
  }
  return classify_page(pfn, order);
}

FreeExpect BuddyModel::expect_free_page(bool has_page, std::uintptr_t pfn, unsigned order) const {
  if (!has_page)
    return FreeExpect{};
  return classify_page(pfn, order);
}

FreeExpect BuddyModel::expect_free_foreign() const {
  FreeExpect e;
  e.cls = FreeClass::NotDescriptor;
  e.report = ErrorKind::PageInvalidFree;
  return e;
}

void BuddyModel::commit_free(const FreeExpect& e) {
  ++free_counts_[static_cast<unsigned>(e.cls)];
  if (e.cls != FreeClass::Success)
    return;
  Allocation& a = handles_[e.handle];
  const std::uintptr_t pfn = a.addr >> cfg_.page_shift;
  a.state = HandleState::Freed;
  a.filled = false;
  live_by_pfn_.erase(pfn);
  erase_sorted(live_, e.handle);
  insert_sorted(freed_, e.handle);
  live_pages_ -= pages_of(a.order);
  add_free_block(a.zone, pfn, a.order);
}

void BuddyModel::insert_sorted(std::vector<Handle>& v, Handle h) {
  v.insert(std::lower_bound(v.begin(), v.end(), h), h);
}

void BuddyModel::erase_sorted(std::vector<Handle>& v, Handle h) {
  const auto it = std::lower_bound(v.begin(), v.end(), h);
  if (it != v.end() && *it == h)
    v.erase(it);
}

std::size_t BuddyModel::zone_free_pages(unsigned z) const {
  std::size_t n = 0;
  for (const ModelBlock& b : zones_[z].free)
    n += pages_of(b.order);
  return n;
}

std::size_t BuddyModel::nr_free(unsigned z, unsigned order) const {
  std::size_t n = 0;
  for (const ModelBlock& b : zones_[z].free)
    n += b.order == order ? 1 : 0;
  return n;
}

std::size_t BuddyModel::free_pages() const {
  std::size_t n = 0;
  for (unsigned z = 0; z < zones_.size(); ++z)
    n += zone_free_pages(z);
  return n;
}

std::vector<FreeBlock> BuddyModel::free_blocks() const {
  std::vector<FreeBlock> out;
  for (unsigned z = 0; z < zones_.size(); ++z)
    for (const ModelBlock& b : zones_[z].free)
      out.push_back(FreeBlock{z, b.pfn, b.order});
  return out;
}

std::string BuddyModel::check_invariants() const {
  const std::uintptr_t metadata_end = start_pfn() + metadata_pages_;
  std::size_t pages = metadata_pages_;
  for (unsigned z = 0; z < zones_.size(); ++z) {
    const ModelZone& zn = zones_[z];
    const std::uintptr_t zone_end = zn.start_pfn + zn.spanned_pages;
    std::uintptr_t prev_end = 0;
    for (const ModelBlock& b : zn.free) {
      auto what = [&](const std::string& text) {
        return std::string("model: free block pfn ") + hex(b.pfn) + " order " +
               std::to_string(b.order) + " in zone " + zn.name + " " + text;
      };
      if (b.order > cfg_.max_order || b.pfn % pages_of(b.order) != 0)
        return what("is not naturally aligned or above max_order");
      if (b.pfn < zn.start_pfn || b.pfn + pages_of(b.order) > zone_end || b.pfn < metadata_end)
        return what("is outside its zone or overlaps metadata");
      if (b.pfn < prev_end)
        return what("overlaps the previous free block");
      prev_end = b.pfn + pages_of(b.order);
      if (b.order < cfg_.max_order && zn.free.count(ModelBlock{b.pfn ^ pages_of(b.order), b.order}))
        return what("and its buddy are both free (not coalesced)");
      auto live = live_by_pfn_.lower_bound(b.pfn);
      if (live != live_by_pfn_.end() && live->first < prev_end)
        return what("overlaps live handle #" + std::to_string(live->second));
      if (live != live_by_pfn_.begin()) {
        --live;
        if (live->first + pages_of(handles_[live->second].order) > b.pfn)
          return what("overlaps live handle #" + std::to_string(live->second));
      }
      pages += pages_of(b.order);
    }
  }
  std::uintptr_t prev_end = metadata_end;
  for (const auto& entry : live_by_pfn_) {
    const std::uintptr_t pfn = entry.first;
    const Handle h = entry.second;
    const Allocation& a = handles_[h];
    auto what = [&](const char* text) {
      return "model: live handle #" + std::to_string(h) + " at pfn " + hex(pfn) + " " + text;
    };
    if (a.state != HandleState::Live || (a.addr >> cfg_.page_shift) != pfn)
      return what("is not recorded as live there");
    if (pfn < prev_end || pfn + pages_of(a.order) > start_pfn() + npages_)
      return what("overlaps metadata, another live block or the arena end");
    if (zone_of(pfn) != a.zone || zone_of(pfn + pages_of(a.order) - 1) != a.zone)
      return what("is not inside its zone");
    prev_end = pfn + pages_of(a.order);
    pages += pages_of(a.order);
  }
  if (live_by_pfn_.size() != live_.size())
    return "model: live map and live handle list disagree";
  if (pages != npages_)
    return "model: metadata + free + live pages = " + std::to_string(pages) +
           " != " + std::to_string(npages_);
  return "";
}

} // namespace km::model
