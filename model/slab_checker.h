// model/slab_checker.h - runs slab operations on a Heap and the SlabModel together and compares.
//
// After every op the checker compares (a message names the first difference):
//   result   kmem_cache_create's layout (cache_info: size, align, offset, order, objects,
//            min_order, min_partial) and failures; kmem_cache_alloc's object lies in the set of
//            objects the model allows (or NULL when it must be); kmem_cache_shrink's result
//   AL2      every object is aligned to the model's align and sits at slab_base + i * stride
//   NO1      slab_object / page_info of every new object name its cache, slab and index; a new
//            slab's pages were a free block the buddy rules allow (the model's BuddyModel)
//   NO2      every object is filled with its handle's pattern over its whole object_size on
//            allocation and checked on free and Verify; __GFP_ZERO objects read zero first and
//            ctor caches show the constructor's pattern (the harness restores it before a free);
//            the constructor runs once per object of each new slab, and never otherwise
//   reports  exactly the predicted report (kind and address) for misuse and warnings, else none
//   AC1      cache_info counters (slabs, partial, full, cpu slabs, total/active/free objects)
//            equal the model's, after every op (the model tracks cpu slabs exactly)
//   AC2      page_counts(): slab pages == the model's, alloc_pages, free and metadata pages too,
//            and they sum to the total; the free blocks equal the model's
//   valid    heap.validate() == 0
// Flush, FlushAll, Shrink, Destroy and ValidateAll also check the model's own invariants and sweep
// every slab (page_info) and every live object (slab_object, fill). finish() frees everything,
// destroys every cache and checks AC4: the free blocks are the initial ones. A difference throws
// CheckError (model/checker.h) with the config and the ops so far.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "kmalloc/heap.h"
#include "model/checker.h"
#include "model/slab_model.h"
#include "model/slab_op.h"

namespace km::model::slab {

class SlabChecker {
public:
  SlabChecker() = default;
  ~SlabChecker();
  SlabChecker(const SlabChecker&) = delete;
  SlabChecker& operator=(const SlabChecker&) = delete;

  // Builds the heap over [region, region + bytes), or an mmap'd arena when region is nullptr.
  // Returns the heap's Status; throws CheckError when heap and model differ from the start.
  Status init(const Config& cfg, void* region = nullptr, std::size_t bytes = 0);
  bool initialized() const { return heap_.initialized(); }

  // Runs one op on both and compares; throws CheckError on any difference. Ops naming a cache
  // that is not live (alloc, flush, shrink) or an object that is not live (fill, verify) are
  // skipped.
  void apply(const Op& op);
  // Frees every live object and page block, destroys every cache, checks AC4.
  void finish();

  void set_trace(std::FILE* out) { trace_ = out; }
  Heap& heap() { return heap_; }
  const SlabModel& model() const { return model_; }
  const std::vector<Op>& ops() const { return ops_; }
  std::string describe_config() const;
  std::string history() const;
  std::size_t misuse_count() const { return misuse_count_; }
  std::size_t skipped_count() const { return skipped_; }

  // The constructor every ctor cache is created with (public for tests): writes ctor_byte(i)
  // over the object_size of the cache being allocated from and records the call.
  static void test_ctor(void* object);
  static unsigned char ctor_byte(std::size_t i) {
    return static_cast<unsigned char>(0xc3 + i * 0x1d);
  }

private:
  static void record(void* context, const ErrorReport& report);
  [[noreturn]] void fail(const std::string& what) const;

  void do_create(const CacheCreate& op);
  void do_alloc(const CacheAlloc& op);
  void do_free(std::uintptr_t cache_ptr, std::uintptr_t addr);
  void do_destroy(std::uintptr_t cache_ptr);
  void check_object(ObjectId id, const char* when);
  void fill_object(ObjectId id);
  void check_layout(CacheId id);
  void check_reports();
  void check_state();
  void sweep();
  std::string compare_free_blocks(bool initial);
  std::uintptr_t cache_ptr(CacheId id) const;
  std::uintptr_t foreign() const { return reinterpret_cast<std::uintptr_t>(foreign_); }

  Heap heap_;
  SlabModel model_;
  std::deque<std::string> names_; // kmem_cache names, stable storage
  std::vector<RecordedReport> reports_;
  std::vector<Op> ops_;
  std::vector<std::string> outcomes_;
  std::optional<ErrorKind> expected_report_;
  std::uintptr_t expected_report_address_ = 0;
  std::string outcome_;
  std::size_t misuse_count_ = 0;
  std::size_t skipped_ = 0;
  std::FILE* trace_ = nullptr;
  std::vector<std::uintptr_t> ctor_calls_;
  std::vector<FreeBlock> blocks_; // scratch
  alignas(64) unsigned char foreign_[128] = {};
};

// Runs ops on a fresh checker over an mmap'd arena of cfg, then finish(). Throws CheckError.
void check_slab_ops(const Config& cfg, std::span<const Op> ops, std::FILE* trace = nullptr);

} // namespace km::model::slab
