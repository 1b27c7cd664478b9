// model/size_class_model.cpp - the size-class spec; see size_class_model.h.
#include "model/size_class_model.h"

#include <algorithm>
#include <bit>

#include "model/text.h"

namespace km::model::front {

const char* path_name(Path path) {
  switch (path) {
  case Path::Zero: return "zero";
  case Path::Slab: return "slab";
  case Path::Large: return "large";
  case Path::TooLarge: return "too-large";
  case Path::InvalidGfp: return "invalid-gfp";
  }
  return "?";
}

void SizeClassModel::init(const Config& cfg) {
  profile_ = cfg.profile;
  page_shift_ = cfg.page_shift;
  max_order_ = cfg.max_order;
  page_size_ = pow2(cfg.page_shift);
  const bool slab4 = profile_ == Profile::Linux4Slab;
  min_size_ = cfg.kmalloc_min_size != 0 ? cfg.kmalloc_min_size : (slab4 ? 32 : 8);
  // ARCH_KMALLOC_MINALIGN is 8 unless the architecture raises it (then KMALLOC_MIN_SIZE follows
  // it); SLAB's KMALLOC_SHIFT_LOW of 5 does not raise the alignment guarantee.
  minalign_ = std::max<std::size_t>(8, cfg.kmalloc_min_size);
  shift_low_ = 0;
  while (pow2(shift_low_) < min_size_)
    ++shift_low_;
  if (slab4) {
    // include/linux/slab.h (4.19, CONFIG_SLAB): KMALLOC_SHIFT_HIGH = min(MAX_ORDER + PAGE_SHIFT
    // - 1, 25) with MAX_ORDER exclusive: ours + 1. KMALLOC_SHIFT_MAX = KMALLOC_SHIFT_HIGH.
    const unsigned old_max_order = cfg.max_order + 1;
    shift_high_ = std::min(old_max_order + cfg.page_shift - 1, 25u);
    shift_max_ = shift_high_;
  } else {
    shift_high_ = cfg.page_shift + 1;
    shift_max_ = cfg.max_order + cfg.page_shift;
  }
  max_cache_size_ = pow2(shift_high_);
  max_size_ = pow2(shift_max_);

  caches_.clear();
  index_table_.clear();
  if (profile_ == Profile::None)
    return;
  // kmalloc_index(): the seed's list, from KMALLOC_MIN_SIZE up to 2 MiB (6.1+) or 64 MiB (4.x),
  // with 96 (index 1) iff KMALLOC_MIN_SIZE <= 32 and 192 (index 2) iff it is <= 64. The caches
  // (create_kmalloc_caches) are its sizes up to KMALLOC_MAX_CACHE_SIZE.
  const unsigned top = slab4 ? 26 : 21;
  for (unsigned s = shift_low_; s <= top; ++s)
    index_table_.push_back({pow2(s), static_cast<int>(s)});
  if (min_size_ <= 32)
    index_table_.push_back({96, 1});
  if (min_size_ <= 64)
    index_table_.push_back({192, 2});
  std::sort(index_table_.begin(), index_table_.end(),
            [](const IndexEntry& a, const IndexEntry& b) { return a.size < b.size; });
  for (const IndexEntry& e : index_table_)
    if (e.size <= max_cache_size_)
      caches_.push_back(e.size);
}

std::size_t SizeClassModel::class_size(std::size_t size) const {
  if (size == 0)
    return 0;
  for (std::size_t c : caches_)
    if (c >= size)
      return c;
  return 0;
}

int SizeClassModel::kmalloc_index(std::size_t size) const {
  if (size == 0)
    return 0;
  for (const IndexEntry& e : index_table_)
    if (e.size >= size)
      return e.index;
  return -1;
}

unsigned SizeClassModel::get_order(std::size_t size) const {
  return oracle::get_order(size, page_size_);
}

std::size_t SizeClassModel::kmalloc_size_roundup(std::size_t size) const {
  if (size == 0 || profile_ == Profile::None)
    return 0;
  if (size <= max_cache_size_)
    return class_size(size);
  if (size <= max_size_)
    return page_size_ << get_order(size);
  return size;
}

CacheType SizeClassModel::cache_type(gfp_t gfp) const {
  if ((gfp & __GFP_DMA) != 0)
    return CacheType::Dma;
  if ((gfp & __GFP_RECLAIMABLE) != 0 && has_reclaim_type())
    return CacheType::Reclaim;
  return CacheType::Normal;
}

std::string SizeClassModel::cache_name(CacheType type, std::size_t bytes) const {
  std::string prefix = type == CacheType::Dma       ? "dma-kmalloc-"
                       : type == CacheType::Reclaim ? "kmalloc-rcl-"
                                                    : "kmalloc-";
  if (profile_ == Profile::Linux6 && bytes >= pow2(20) && bytes % pow2(20) == 0)
    return prefix + std::to_string(bytes / pow2(20)) + "M";
  if (profile_ == Profile::Linux6 && bytes >= 1024 && bytes % 1024 == 0)
    return prefix + std::to_string(bytes / 1024) + "k";
  return prefix + std::to_string(bytes);
}

std::size_t SizeClassModel::class_align(std::size_t bytes) const {
  std::size_t align = minalign_;
  if (std::has_single_bit(bytes))
    align = std::max(align, bytes);     // 5.4+: natural alignment of power-of-two sizes
  else if (profile_ == Profile::Linux6) // 6.11+: the largest power of two dividing the size
    align = std::max(align, std::size_t{1} << std::countr_zero(bytes)); // 96 -> 32, 192 -> 64
  return align;
}

Prediction SizeClassModel::predict(std::size_t size, gfp_t gfp) const {
  Prediction p;
  p.dma = (gfp & __GFP_DMA) != 0;
  p.type = cache_type(gfp);
  auto refuse = [&](Path path, ErrorKind report) { // NULL, with a report unless __GFP_NOWARN
    p.path = path;
    p.warn = (gfp & __GFP_NOWARN) == 0;
    p.report = report;
    return p;
  };
  if ((gfp & ~__GFP_BITS_MASK) != 0)
    return refuse(Path::InvalidGfp, ErrorKind::InvalidGfp);
  if (size > max_cache_size_) {
    if (size > max_size_)
      return refuse(Path::TooLarge, ErrorKind::SizeTooLarge);
    p.path = Path::Large;
    p.order = get_order(size);
    p.ksize = page_size_ << p.order;
    p.align = page_size_;
    return p;
  }
  if (size == 0) {
    p.path = Path::Zero;
    return p;
  }
  p.path = Path::Slab;
  p.cache_size = class_size(size);
  p.cache_name = cache_name(p.type, p.cache_size);
  p.ksize = p.cache_size;
  p.align = class_align(p.cache_size);
  return p;
}

std::string SizeClassModel::describe() const {
  std::string out =
      oracle::cat(profile_name(profile_), " page_shift=", page_shift_, " max_order=", max_order_,
                  " min_size=", min_size_, " max_cache_size=", max_cache_size_,
                  " max_size=", max_size_, ": caches");
  for (std::size_t i = 0; i < caches_.size(); ++i)
    out += oracle::cat(i == 0 ? " " : ",", caches_[i]);
  return out;
}

} // namespace km::model::front
