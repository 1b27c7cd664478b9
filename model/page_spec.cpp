// model/page_spec.cpp - the buddy specification of page_spec.h.
#include "model/page_spec.h"

#include <algorithm>

#include "model/text.h"

namespace km::oracle {

void PageSpec::init(const Config& cfg, std::uintptr_t arena_start, std::size_t npages,
                    std::size_t metadata_pages) {
  std::fill(std::begin(by_use_), std::end(by_use_), 0);
  page_shift_ = cfg.page_shift;
  max_order_ = cfg.max_order;
  start_pfn_ = arena_start >> page_shift_;
  npages_ = npages;
  metadata_pages_ = metadata_pages;
  std::size_t dma_pages = cfg.dma_zone_size >> page_shift_;
  if (cfg.dma_zone_size == kDmaZoneDefault)
    dma_pages = std::min(npages / 4, (std::size_t{16} << 20) >> page_shift_);
  const std::uintptr_t first = start_pfn_ + metadata_pages;
  const std::uintptr_t end = start_pfn_ + npages;
  if (dma_pages != 0) {
    zone_start_ = {first, first + dma_pages};
    zone_end_ = {first + dma_pages, end};
  } else {
    zone_start_ = {first};
    zone_end_ = {end};
  }
  nr_free_.assign(nr_zones() * (max_order_ + 1), 0);
  zone_free_.assign(nr_zones(), 0);
  use_.assign(npages, PageUse{Use::Metadata, 0});
  by_use_[static_cast<unsigned>(Use::Metadata)] = npages;
  for (unsigned z = 0; z < nr_zones(); ++z) {
    for (std::uintptr_t pfn = zone_start_[z]; pfn < zone_end_[z];) {
      unsigned order = max_order_;
      while (order > 0 && (pfn % pages_in(order) != 0 || pfn + pages_in(order) > zone_end_[z]))
        --order;
      by_use_[static_cast<unsigned>(Use::Metadata)] -= pages_in(order);
      by_use_[static_cast<unsigned>(Use::Free)] += pages_in(order);
      insert_free(z, pfn, order);
      pfn += pages_in(order);
    }
  }
}

unsigned PageSpec::zone_of(std::uintptr_t pfn) const {
  for (unsigned z = 0; z < nr_zones(); ++z)
    if (pfn >= zone_start_[z] && pfn < zone_end_[z])
      return z;
  return nr_zones();
}

void PageSpec::mark(std::uintptr_t pfn, unsigned order, Use use, std::uint32_t id) {
  for (std::uintptr_t i = 0; i < pages_in(order); ++i) {
    PageUse& u = use_[pfn - start_pfn_ + i];
    --by_use_[static_cast<unsigned>(u.use)];
    ++by_use_[static_cast<unsigned>(use)];
    u = PageUse{use, id};
  }
}

bool PageSpec::is_free_block(unsigned zone, std::uintptr_t pfn, unsigned order) const {
  return pfn >= zone_start_[zone] && pfn + pages_in(order) <= zone_end_[zone] &&
         use(pfn).use == Use::Free && use(pfn).id == order;
}

// A free block joins its zone, then the merge closure: while its buddy (pfn ^ 2^order) is free
// at the same order in the same zone, both leave and the lower one joins one order up.
void PageSpec::insert_free(unsigned zone, std::uintptr_t pfn, unsigned order) {
  zone_free_[zone] += pages_in(order);
  while (order < max_order_) {
    const std::uintptr_t buddy = pfn ^ pages_in(order);
    if (!is_free_block(zone, buddy, order))
      break;
    --count(zone, order);
    pfn = std::min(pfn, buddy);
    ++order;
  }
  ++count(zone, order);
  for (std::uintptr_t i = 0; i < pages_in(order); ++i)
    use_[pfn - start_pfn_ + i] = PageUse{Use::Free, static_cast<std::uint32_t>(order)};
}

std::optional<std::pair<unsigned, unsigned>> PageSpec::must_split(gfp_t gfp, unsigned order) const {
  const unsigned normal = nr_zones() - 1;
  const unsigned zonelist[2] = {(gfp & __GFP_DMA) != 0 ? 0u : normal, 0u};
  const unsigned count = (gfp & __GFP_DMA) == 0 && normal != 0 ? 2 : 1;
  for (unsigned i = 0; i < count; ++i)
    for (unsigned o = order; o <= max_order_; ++o)
      if (nr_free(zonelist[i], o) != 0)
        return std::make_pair(zonelist[i], o);
  return std::nullopt;
}

std::string PageSpec::take(gfp_t gfp, unsigned order, std::uintptr_t pfn, Use use,
                           std::uint32_t id) {
  const auto split = must_split(gfp, order);
  if (!split)
    return cat("no zone of the zonelist has a free block of order >= ", order);
  const std::uintptr_t addr = pfn << page_shift_;
  if (pfn % pages_in(order) != 0)
    return cat(hex(addr), " is not aligned to its order ", order);
  if (pfn < start_pfn_ || pfn >= start_pfn_ + npages_ || use_[pfn - start_pfn_].use != Use::Free)
    return cat(hex(addr), " is not a free page");
  unsigned block_order = use_[pfn - start_pfn_].id; // a free page's id is its block's order
  std::uintptr_t head = pfn & ~(pages_in(block_order) - 1);
  const unsigned zone = zone_of(pfn);
  if (zone != split->first || block_order != split->second)
    return cat(hex(addr), " lies in a free block of zone ", zone, " order ", block_order,
               "; the rule picks zone ", split->first, " order ", split->second);
  --count(zone, block_order);
  zone_free_[zone] -= pages_in(block_order);
  // The block is halved until it has the requested order; the halves without pfn stay free.
  while (block_order > order) {
    --block_order;
    const std::uintptr_t upper = head + pages_in(block_order);
    const std::uintptr_t other = pfn >= upper ? head : upper;
    if (pfn >= upper)
      head = upper;
    ++count(zone, block_order);
    zone_free_[zone] += pages_in(block_order);
    for (std::uintptr_t i = 0; i < pages_in(block_order); ++i)
      use_[other - start_pfn_ + i].id = block_order;
  }
  mark(pfn, order, use, id);
  return "";
}

void PageSpec::release(std::uintptr_t pfn, unsigned order) {
  mark(pfn, order, Use::Free, 0);
  insert_free(zone_of(pfn), pfn, order);
}

void PageSpec::free_blocks(std::vector<FreeBlock>& out) const {
  out.clear();
  for (unsigned z = 0; z < nr_zones(); ++z)
    for (std::uintptr_t pfn = zone_start_[z]; pfn < zone_end_[z];) {
      const PageUse u = use(pfn);
      if (u.use != Use::Free) {
        ++pfn;
        continue;
      }
      out.push_back(FreeBlock{z, pfn, u.id});
      pfn += pages_in(u.id);
    }
}

} // namespace km::oracle
