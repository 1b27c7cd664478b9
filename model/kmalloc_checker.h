// model/kmalloc_checker.h - runs kmalloc operations on a Heap and the size-class model together.
//
// At init the checker compares kmalloc_limits() with the model and the set of kmalloc cache
// names (for_each_cache) with the model's list (SC1: which caches exist). After every op:
//   result   an allocation is NULL / ZERO_SIZE_PTR exactly when the model says so (SC2, SC4);
//            NULL for a size the model admits is accepted only when failures were injected, or
//            when the predicted cache has no free object and no free block of the order it
//            needs exists in an allowed zone (the arena cannot hold it)
//   SC1      a slab object's page_info / slab_object name the predicted cache ("kmalloc-96",
//            "dma-kmalloc-1k", "kmalloc-rcl-8k", ...) and kmalloc_cache(size, gfp) is that cache
//   SC2      a large block is page_info LargeKmalloc, starts at the pointer, has get_order(size)
//   SC3      ksize == the model's (class size or PAGE_SIZE << order), on allocation and Ksize
//   AL1      pointer % the model's alignment == 0; __GFP_DMA objects lie in ZONE_DMA
//   NO1      inside the arena, no overlap with any live allocation (interval map)
//   NO2      fill patterns over the requested bytes survive until free and krealloc (first
//            min(old, new) bytes); __GFP_ZERO / kzalloc / kcalloc read zero
//   krealloc in place iff new_size <= ksize; NULL leaves the old object intact; (p, 0) frees
//   reports  exactly the predicted reports (kind, address, reason) for misuse and warnings
//   accounts page_counts().large_kmalloc == the model's large pages; slab_bytes() reclaimable +
//            unreclaimable == slab + large pages, large blocks counted unreclaimable
//   valid    heap.validate() == 0 (with the accounts: every op, or see set_validate_interval)
// Only requested bytes are touched (ASan poisons the slack). Large objects are filled and
// checked on a sample: the first 4 KiB and the first 32 bytes of every further 4 KiB.
// finish() frees every live handle, flushes and shrinks every cache and checks AC4: the free
// blocks are the initial ones. A difference throws CheckError (model/checker.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "kmalloc/heap.h"
#include "model/checker.h"
#include "model/kmalloc_op.h"
#include "model/size_class_model.h"

namespace km::model::front {

enum class HandleState : std::uint8_t { Null, Zero, Live, Freed };

struct Allocation {
  HandleState state = HandleState::Null;
  std::uintptr_t addr = 0;
  std::size_t requested = 0;
  Prediction pred;             // of the live object (path, cache, ksize, order)
  std::size_t pattern_len = 0; // [0, pattern_len) holds the handle's pattern
  std::size_t zero_lo = 0;     // [zero_lo, zero_hi) is known to read zero
  std::size_t zero_hi = 0;
};

struct ExpectedReport {
  ErrorKind kind;
  std::uintptr_t address;
  std::string reason; // a substring of the message ("" = any)
};

class KmallocChecker {
public:
  KmallocChecker() = default;
  ~KmallocChecker();
  KmallocChecker(const KmallocChecker&) = delete;
  KmallocChecker& operator=(const KmallocChecker&) = delete;

  // Builds the heap over [region, region + bytes) (or an mmap'd arena when region is nullptr).
  // Returns the heap's Status; throws CheckError when the heap's limits or caches differ from
  // the model's.
  Status init(const Config& cfg, void* region = nullptr, std::size_t bytes = 0);
  bool initialized() const { return heap_.initialized(); }

  void apply(const Op& op);
  void finish();

  void set_trace(std::FILE* out) { trace_ = out; }
  // The full state check (validate(), page counts, slab_bytes) runs after every `interval`-th op
  // (1, the default: every op; 0: only after reports and in finish()). It walks the whole
  // arena, so fuzzers over large arenas thin it out.
  void set_validate_interval(unsigned interval) { validate_interval_ = interval; }
  Heap& heap() { return heap_; }
  const SizeClassModel& model() const { return model_; }
  const std::vector<Op>& ops() const { return ops_; }
  std::size_t handle_count() const { return allocs_.size(); }
  const Allocation& allocation(Handle h) const { return allocs_[h]; }
  std::string describe_config() const;
  std::string history() const;
  std::size_t misuse_count() const { return misuse_count_; }
  std::size_t skipped_count() const { return skipped_; }

  // Pattern byte i of handle h.
  static unsigned char pattern(Handle h, std::size_t i) {
    return static_cast<unsigned char>(h * 131u + i * 7u + (i >> 8) * 13u + 0x5bu);
  }

private:
  static void record(void* context, const ErrorReport& report);
  [[noreturn]] void fail(const std::string& what) const;

  void run(const Op& op);
  void do_alloc(std::size_t size, gfp_t gfp, int kind, std::uint64_t n = 1);
  void do_krealloc(const Krealloc& op);
  void do_kfree(Handle h, bool sensitive);
  void do_kfree_twice(Handle h);
  void do_interior(const KfreeInterior& op);
  void do_foreign(const KfreeForeign& op);
  void do_ksize(Handle h);
  void do_fill(Handle h);
  void check_size(std::size_t size, gfp_t gfp);

  // Checks a new object against pred and the interval map (not yet inserted).
  void check_new(const Prediction& pred, std::size_t size, gfp_t gfp, std::uintptr_t p,
                 bool injected, const char* what);
  bool null_allowed(const Prediction& pred, std::size_t size, gfp_t gfp, bool injected);
  bool has_free_block(unsigned min_order, bool dma_only);
  void check_content(Handle h, const char* when);
  void insert_live(Handle h);
  void erase_live(Handle h);
  // The live handle whose allocation starts at / contains addr, or -1.
  long live_at(std::uintptr_t addr) const;
  long live_containing(std::uintptr_t addr) const;
  void expect(ErrorKind kind, std::uintptr_t addr, std::string reason = "");
  void check_reports();
  void check_state();
  std::vector<FreeBlock> free_blocks() const;
  std::uintptr_t arena_end() const;

  Heap heap_;
  SizeClassModel model_;
  Config cfg_{};
  std::vector<Allocation> allocs_;
  std::map<std::uintptr_t, std::pair<std::uintptr_t, Handle>> live_; // start -> (end, handle)
  std::size_t large_bytes_ = 0;
  bool rcl_used_ = false;
  unsigned fail_next_ = 0;
  std::vector<FreeBlock> initial_blocks_;
  std::vector<RecordedReport> reports_;
  std::vector<ExpectedReport> expected_;
  std::vector<Op> ops_;
  std::vector<std::string> outcomes_;
  std::string outcome_;
  std::size_t misuse_count_ = 0;
  std::size_t skipped_ = 0;
  std::FILE* trace_ = nullptr;
  unsigned validate_interval_ = 1;
  unsigned since_validate_ = 0;
  alignas(64) unsigned char foreign_[128] = {};
};

// Runs ops on a fresh checker over an mmap'd arena of cfg, then finish(). Throws CheckError;
// a Config the heap refuses is a CheckError too.
void check_kmalloc_ops(const Config& cfg, std::span<const Op> ops, std::FILE* trace = nullptr);

} // namespace km::model::front
