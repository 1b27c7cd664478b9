// model/buddy_model.h - an executable specification of the buddy page allocator.
//
// Written from linux-facts.md section 5 and heap.h, never from allocator/src: per zone a set of
// free blocks (pfn, order), a plain split and a plain merge closure, and the misuse rules of
// free_pages. Where the kernel leaves a choice (which block of an order is used), the model
// checks constraints on the heap's answer and then follows it.
//
// Not thread-safe. Inputs it cannot know from the spec (where the arena starts, how many
// metadata pages the heap keeps) are passed in by the caller, who observes them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "kmalloc/config.h"
#include "kmalloc/gfp.h"
#include "kmalloc/heap.h"
#include "kmalloc/report.h"
#include "model/op.h"

namespace km::model {

// Smallest order whose block (page_size << order) holds size bytes; size >= 1.
unsigned get_order(std::size_t size, std::size_t page_size);

struct ModelBlock {
  std::uintptr_t pfn;
  unsigned order;
  auto operator<=>(const ModelBlock&) const = default;
};

struct ModelZone {
  std::string name;          // "DMA" or "Normal"
  std::uintptr_t start_pfn;  // first page
  std::size_t spanned_pages; // metadata included
  std::set<ModelBlock> free; // ordered by pfn
};

enum class HandleState : std::uint8_t { Live, Freed, Null };

struct Allocation {
  std::uintptr_t addr = 0; // 0 for a NULL allocation
  unsigned order = 0;
  unsigned zone = 0;
  std::uint64_t seed = 0; // fill pattern seed
  HandleState state = HandleState::Null;
  bool zeroed = false; // allocated with __GFP_ZERO
  bool filled = false; // Fill ran since it was allocated
};

// What alloc_pages must do.
struct AllocExpect {
  enum Kind : std::uint8_t {
    Refused,  // out of contract: bad gfp or order too large
    Injected, // an injected failure is consumed
    NoMemory, // no zone of the zonelist has a block of order >= order
    Success,  // zone `zone` must hand out a block of its smallest available order >= order
  } kind = Refused;
  std::optional<ErrorKind> warning;
  unsigned zone = 0;
  unsigned block_order = 0; // Success: the order of the free block that is split
};

// What a free must do, in the precedence of free_pages / __free_pages.
enum class FreeClass : std::uint8_t {
  NoOp,          // addr 0 / NULL page
  Success,       // frees a live allocation
  OutsideArena,  // PageInvalidFree
  Misaligned,    // PageInvalidFree
  NotDescriptor, // __free_pages of a pointer that is no descriptor: PageInvalidFree
  DoubleFree,    // any page of a free block: PageDoubleFree
  Metadata,      // PageInvalidFree
  NotHead,       // inside an allocation, not its first page: PageInvalidFree
  OwnerMismatch, // the block is not alloc_pages': PageOwnerMismatch
  OrderMismatch, // PageOrderMismatch
};
inline constexpr unsigned kFreeClassCount = static_cast<unsigned>(FreeClass::OrderMismatch) + 1;
const char* free_class_name(FreeClass c);

struct FreeExpect {
  FreeClass cls = FreeClass::NoOp;
  std::optional<ErrorKind> report; // the one report the heap must give
  std::uintptr_t report_address = 0;
  Handle handle = 0; // Success: the allocation that is freed
};

class BuddyModel {
public:
  // The arena is [arena_start, arena_start + npages pages); its first metadata_pages are the
  // heap's. Zones and the initial free blocks follow from cfg (dma_zone_size, max_order).
  void init(const Config& cfg, std::uintptr_t arena_start, std::size_t npages,
            std::size_t metadata_pages);

  // ---- alloc_pages
  AllocExpect expect_alloc(gfp_t gfp, unsigned order) const;
  // Checks the heap's answer `addr` against `e`; on success records handle #n and splits the
  // block (lower part to the caller, upper halves to the free sets). Returns "" or what is wrong
  // (then nothing changes).
  std::string commit_alloc(const AllocExpect& e, gfp_t gfp, unsigned order, std::uintptr_t addr);

  // ---- free
  FreeExpect expect_free_address(std::uintptr_t addr, unsigned order) const;
  // __free_pages(page, order) of the page at pfn; has_page false: a NULL page.
  FreeExpect expect_free_page(bool has_page, std::uintptr_t pfn, unsigned order) const;
  FreeExpect expect_free_foreign() const;
  // Applies a free: Success frees the handle and merges; misuse is only counted.
  void commit_free(const FreeExpect& e);

  void inject_failures(unsigned count) { injected_failures_ = count; }

  // ---- state
  const Config& config() const { return cfg_; }
  std::size_t page_size() const { return std::size_t{1} << cfg_.page_shift; }
  std::uintptr_t arena_start() const { return arena_start_; }
  std::uintptr_t arena_end() const { return arena_start_ + npages_ * page_size(); }
  std::uintptr_t start_pfn() const { return arena_start_ >> cfg_.page_shift; }
  std::size_t npages() const { return npages_; }
  std::size_t metadata_pages() const { return metadata_pages_; }
  unsigned nr_zones() const { return static_cast<unsigned>(zones_.size()); }
  const ModelZone& zone(unsigned z) const { return zones_[z]; }
  std::size_t zone_free_pages(unsigned z) const;
  std::size_t nr_free(unsigned z, unsigned order) const;
  std::size_t free_pages() const;
  std::size_t live_pages() const { return live_pages_; }
  // Every free block, by zone then pfn.
  std::vector<FreeBlock> free_blocks() const;
  const std::vector<FreeBlock>& initial_free_blocks() const { return initial_; }

  std::size_t handle_count() const { return handles_.size(); }
  const Allocation& handle(Handle h) const { return handles_[h]; }
  Allocation& handle(Handle h) { return handles_[h]; }
  // Handles by state, ascending (for decoders that pick a victim).
  const std::vector<Handle>& live_handles() const { return live_; }
  const std::vector<Handle>& freed_handles() const { return freed_; }
  const std::vector<Handle>& null_handles() const { return null_; }
  // Orders of all handles, indexed by handle (for the printers).
  const std::vector<unsigned>& handle_orders() const { return orders_; }
  // How many frees of each class the model has seen.
  std::size_t free_count(FreeClass c) const { return free_counts_[static_cast<unsigned>(c)]; }

  // What owns the page at pfn, as the model sees it.
  struct Owner {
    PageOwner owner = PageOwner::Free;
    bool in_arena = false;
    unsigned zone = 0;
    ModelBlock block{}; // the free block or allocation holding the page
    std::optional<Handle> handle;
  };
  Owner owner_of(std::uintptr_t pfn) const;
  unsigned zone_of(std::uintptr_t pfn) const;

  // The model's own invariants: free blocks aligned, inside one zone, disjoint from each other,
  // from metadata and from live blocks; fully coalesced; free + live + metadata == all pages.
  // Returns "" or the first broken one.
  std::string check_invariants() const;

private:
  void add_free_block(unsigned z, std::uintptr_t pfn, unsigned order);
  static void insert_sorted(std::vector<Handle>& v, Handle h);
  static void erase_sorted(std::vector<Handle>& v, Handle h);
  FreeExpect classify_page(std::uintptr_t pfn, unsigned order) const;

  Config cfg_{};
  std::uintptr_t arena_start_ = 0;
  std::size_t npages_ = 0;
  std::size_t metadata_pages_ = 0;
  std::vector<ModelZone> zones_;
  std::vector<FreeBlock> initial_;
  std::vector<Allocation> handles_;
  std::vector<unsigned> orders_;
  std::map<std::uintptr_t, Handle> live_by_pfn_; // start pfn -> live handle
  std::vector<Handle> live_, freed_, null_;
  std::size_t live_pages_ = 0;
  unsigned injected_failures_ = 0;
  std::size_t free_counts_[kFreeClassCount] = {};
};

} // namespace km::model
