// model/checker.h - runs buddy operations on a Heap and the BuddyModel together and compares.
//
// After every op the checker compares (in this order, so a message names the first difference):
//   result   the address alloc_pages returned satisfies the model's constraints (or NULL when
//            the model says it must be); page_info and virt_to_page agree with it
//   reports  exactly the predicted report (kind and address) for misuse and warnings, else none
//   AC2      page_counts(): free, metadata, alloc_pages pages equal the model; they sum to total
//   AC3      the heap's free blocks (for_each_free_block) are exactly the model's free blocks
//   AC2      per zone nr_free[order] and free_pages equal the model
//   valid    heap.validate() == 0
//   NO2      fill stamps: Verify, and every successful free, find the handle's pattern in the
//            first and last 16 bytes of every page; an unfilled __GFP_ZERO block reads zero there
// finish() frees every live handle and checks AC4: the free blocks equal the initial ones.
// A difference throws CheckError, whose message holds the config and the ops applied so far.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "kmalloc/heap.h"
#include "model/buddy_model.h"
#include "model/op.h"

namespace km::model {

class CheckError : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

struct RecordedReport {
  ErrorKind kind;
  std::uintptr_t address;
  std::string message;
};

class BuddyChecker {
public:
  BuddyChecker() = default;
  ~BuddyChecker();
  BuddyChecker(const BuddyChecker&) = delete;
  BuddyChecker& operator=(const BuddyChecker&) = delete;

  // Builds the heap over [region, region + bytes), or over an mmap'd arena of cfg.arena_size
  // when region is nullptr, installs the recording handler and builds the model. Returns the
  // heap's Status (nothing else happens when it fails); throws CheckError when the initial
  // state of heap and model differ.
  Status init(const Config& cfg, void* region = nullptr, std::size_t bytes = 0);
  bool initialized() const { return heap_.initialized(); }

  // Runs one op on both and compares; throws CheckError on any difference.
  void apply(const Op& op);
  // Frees every live handle (as FreePages ops) and checks AC4.
  void finish();

  // When set, each op and its outcome is printed as it runs.
  void set_trace(std::FILE* out) { trace_ = out; }

  Heap& heap() { return heap_; }
  const BuddyModel& model() const { return model_; }
  const std::vector<Op>& ops() const { return ops_; }
  // "page_shift=12 max_order=3 arena_pages=64 dma_pages=16 metadata_pages=1".
  std::string describe_config() const;
  // The ops applied so far, one per line, with their outcomes.
  std::string history() const;
  // Ops the model classified as misuse (refused frees, warned allocations).
  std::size_t misuse_count() const { return misuse_count_; }

private:
  static void record(void* context, const ErrorReport& report);
  [[noreturn]] void fail(const std::string& what) const;

  void do_alloc(const AllocPages& op);
  void do_free_address(std::uintptr_t addr, unsigned order);
  void do_free_page(struct page* page, std::uintptr_t pfn, unsigned order);
  void do_free_foreign();
  void finish_free(const FreeExpect& e);
  void do_fill(Handle h);
  void do_verify(Handle h);
  void do_validate_all();
  const Allocation& handle_or_fail(Handle h) const;

  void check_reports(std::size_t from);
  void check_state();
  void check_fill(Handle h, const char* when);
  std::string compare_free_blocks(const std::vector<FreeBlock>* expected_or_null);

  Heap heap_;
  BuddyModel model_;
  std::vector<RecordedReport> reports_;
  std::vector<Op> ops_;
  std::vector<std::string> outcomes_;
  std::vector<FreeBlock> heap_blocks_; // scratch for for_each_free_block
  std::vector<std::uint8_t> marks_;    // scratch: per page, (zone << 7) | (order + 1)
  std::optional<ErrorKind> expected_report_;
  std::uintptr_t expected_report_address_ = 0;
  std::string outcome_;
  std::size_t misuse_count_ = 0;
  std::FILE* trace_ = nullptr;
  alignas(64) unsigned char foreign_page_[128] = {}; // what ForeignPage frees
};

// Runs ops on a fresh checker over an mmap'd arena of cfg, then finish(). Throws CheckError;
// a Config the heap refuses is a CheckError too.
void check_ops(const Config& cfg, std::span<const Op> ops, std::FILE* trace = nullptr);

} // namespace km::model
