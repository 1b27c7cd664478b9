// model/size_class_model.h - the kmalloc size-class specification, written from the kernel's
// tables (include/linux/slab.h, the seed's kmalloc_index()) and not from the allocator's code.
//
// From the profile, page_shift, max_order and KMALLOC_MIN_SIZE the model builds the ascending
// list of kmalloc cache sizes (2^KMALLOC_SHIFT_LOW .. 2^KMALLOC_SHIFT_HIGH, plus 96 iff
// KMALLOC_MIN_SIZE <= 32 and 192 iff KMALLOC_MIN_SIZE <= 64) and answers every size question by
// scanning that list for the first size that fits. It never computes an index with fls/ilog2.
//
//   linux-6       SHIFT_LOW = log2(MIN_SIZE) (MIN_SIZE 8 by default), SHIFT_HIGH = PAGE_SHIFT + 1,
//                 SHIFT_MAX = max_order + PAGE_SHIFT; types normal / rcl / dma; short names
//                 (kmalloc-1k); kmalloc_index() up to 2 MiB; 96 -> align 32, 192 -> 64 (6.11).
//   linux-4-slab  MIN_SIZE 32 by default; SHIFT_HIGH = SHIFT_MAX = min(MAX_ORDER + PAGE_SHIFT - 1,
//                 25) with the old exclusive MAX_ORDER = max_order + 1; types normal / dma
//                 (__GFP_RECLAIMABLE -> normal); names kmalloc-1024; kmalloc_index() up to 64 MiB.
// SC1-SC4 and AL1 of design.md are what predict() answers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "kmalloc/config.h"
#include "kmalloc/gfp.h"
#include "kmalloc/report.h"

namespace km::model::front {

// Where kmalloc(size, gfp) goes.
enum class Path : std::uint8_t {
  Zero,       // size 0: ZERO_SIZE_PTR
  Slab,       // a kmalloc cache
  Large,      // the page allocator, order get_order(size)
  TooLarge,   // size > KMALLOC_MAX_SIZE: NULL (SizeTooLarge unless __GFP_NOWARN)
  InvalidGfp, // gfp bits outside __GFP_BITS_MASK: NULL (InvalidGfp unless __GFP_NOWARN)
};
const char* path_name(Path path);

enum class CacheType : std::uint8_t { Normal, Reclaim, Dma };

struct Prediction {
  Path path = Path::Zero;
  CacheType type = CacheType::Normal;
  std::size_t cache_size = 0; // Slab: the class size
  std::string cache_name;     // Slab: "kmalloc-96", "dma-kmalloc-1k", ...
  std::size_t ksize = 0;      // Slab: class size; Large: page_size << order; else 0
  unsigned order = 0;         // Large: get_order(size)
  std::size_t align = 0;      // the minimum alignment of the pointer (0 for NULL / ZERO)
  bool warn = false;          // a report is expected
  ErrorKind report = ErrorKind::SizeTooLarge;
  bool dma = false; // must come from ZONE_DMA (when the heap has one)
};

class SizeClassModel {
public:
  SizeClassModel() = default;
  explicit SizeClassModel(const Config& cfg) { init(cfg); }
  void init(const Config& cfg);

  std::size_t page_size() const { return page_size_; }
  std::size_t max_cache_size() const { return max_cache_size_; } // KMALLOC_MAX_CACHE_SIZE
  std::size_t max_size() const { return max_size_; }             // KMALLOC_MAX_SIZE
  bool has_reclaim_type() const { return profile_ == Profile::Linux6; }

  // The ascending kmalloc cache sizes of one type.
  const std::vector<std::size_t>& cache_sizes() const { return caches_; }

  // The first cache size >= size (0 < size <= max_cache_size), else 0.
  std::size_t class_size(std::size_t size) const;
  // kmalloc_index(): 0 for 0, 1 for the 96 class, 2 for 192, n for 2^n; -1 past the limit.
  int kmalloc_index(std::size_t size) const;
  std::size_t kmalloc_size_roundup(std::size_t size) const;
  unsigned get_order(std::size_t size) const; // size > 0
  CacheType cache_type(gfp_t gfp) const;
  std::string cache_name(CacheType type, std::size_t class_bytes) const;
  // Minimum alignment of an object of a kmalloc class (AL1).
  std::size_t class_align(std::size_t class_bytes) const;
  Prediction predict(std::size_t size, gfp_t gfp) const;

  // "linux-6 page_shift=12 max_order=10 min_size=8: caches 8,16,32,64,96,...".
  std::string describe() const;

private:
  static std::size_t pow2(unsigned shift) { return std::size_t{1} << shift; }
  struct IndexEntry {
    std::size_t size;
    int index;
  };
  Profile profile_ = Profile::None;
  unsigned page_shift_ = 12;
  unsigned max_order_ = 10;
  std::size_t page_size_ = 4096;
  std::size_t min_size_ = 8;                                  // KMALLOC_MIN_SIZE
  std::size_t minalign_ = 8;                                  // ARCH_KMALLOC_MINALIGN
  unsigned shift_low_ = 3, shift_high_ = 13, shift_max_ = 22; // KMALLOC_SHIFT_LOW, _HIGH, _MAX
  std::size_t max_cache_size_ = 0, max_size_ = 0;
  std::vector<std::size_t> caches_;     // ascending
  std::vector<IndexEntry> index_table_; // ascending; the seed's kmalloc_index() table
};

} // namespace km::model::front
