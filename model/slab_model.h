// model/slab_model.h - an executable specification of the slab layer (kmem_cache_*).
//
// Written from linux-facts.md sections 3, 4 and 7 (Linux 6.8 mm/slub.c without cpu partial
// lists) and heap.h, never from allocator/src:
//   layout   calculate_alignment, the stride (free pointer outside the object for ctor caches)
//            and calculate_order, each stated as the condition the kernel's comment gives (a
//            search over candidate orders), not as the kernel's loop; checked against real
//            kernels' /proc/slabinfo rows (tests/slab_layout_kernel_test.cpp);
//   slabs    per cache a map slab address -> {order, capacity, which objects are free where};
//            a cpu slab per cpu with its cpu freelist and the remote frees on the slab's own
//            freelist; the node partial list in order (deactivated slabs go to its head unless
//            they received remote frees, slabs that stop being full to its tail); full slabs;
//   pages    slab pages come from the page allocator: the model keeps a BuddyModel of it, so a
//            new slab must be a block the buddy rules allow (smallest free order, right zone,
//            injected failures consumed by both the preferred and the fallback attempt);
//   misuse   what kmem_cache_free must report, in its precedence order.
// Where the kernel leaves a choice (which free object of a slab is handed out) the model checks
// that the heap's answer lies in the allowed set, then follows it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "kmalloc/config.h"
#include "kmalloc/gfp.h"
#include "kmalloc/report.h"
#include "kmalloc/slab.h"
#include "model/buddy_model.h"
#include "model/slab_layout_spec.h"
#include "model/slab_op.h"

namespace km::model::slab {

// ---- state

enum class ObjState : std::uint8_t { Null, Live, Freed };
// What a live object's bytes must be (NO2).
enum class Content : std::uint8_t { Unknown, Zero, Ctor, Pattern };

struct ModelObject {
  CacheId cache = 0;
  std::uintptr_t addr = 0; // 0 for a NULL allocation
  ObjState state = ObjState::Null;
  Content content = Content::Unknown;
  std::uint64_t seed = 0; // fill pattern seed
};

enum class SlabState : std::uint8_t { Cpu, Partial, Full };

struct ModelSlab {
  CacheId cache = 0;
  std::uintptr_t base = 0;
  unsigned order = 0;
  unsigned capacity = 0;
  Handle page_handle = 0; // in the BuddyModel
  SlabState state = SlabState::Cpu;
  unsigned cpu = 0;                  // for a cpu slab
  std::set<unsigned> cpu_free;       // cpu slab: free objects on its cpu's freelist
  std::set<unsigned> free;           // free objects on the slab's freelist (remote frees)
  std::map<unsigned, ObjectId> live; // index -> object handle
  std::size_t nr_free() const { return cpu_free.size() + free.size(); }
};

struct ModelCache {
  CacheId id = 0;
  std::uintptr_t ptr = 0; // what kmem_cache_create returned (0: failed)
  bool live = false;
  slab_flags_t flags = 0;
  bool ctor = false;
  ModelLayout layout;
  std::map<std::uintptr_t, ModelSlab> slabs;
  std::deque<std::uintptr_t> partial;   // head first
  std::vector<std::uintptr_t> cpu_slab; // per cpu; 0 = none
  std::size_t live_objects = 0;
  bool debug() const { return (flags & SLAB_CONSISTENCY_CHECKS) != 0; }
};

// The counters cache_info must show (all of them exact at every point).
struct CacheCounters {
  std::size_t nr_slabs = 0;
  std::size_t nr_partial = 0;
  std::size_t nr_full = 0;
  std::size_t nr_cpu_slabs = 0;
  std::size_t total_objects = 0;
  std::size_t active_objects = 0; // total minus free objects on partial slabs
  std::size_t free_objects = 0;   // every free object, cpu freelists included
};

struct PageBlock {
  Handle handle = 0; // in the BuddyModel
  std::uintptr_t addr = 0;
  unsigned order = 0;
  bool live = false;
};

struct CreateExpect {
  ModelLayout layout;
  std::optional<ErrorKind> report; // CacheCreateFailed or SlabPanic when refused
};

struct AllocResult {
  ObjectId object = 0;
  std::optional<ErrorKind> warning;
  bool null_expected = false;
  std::string why_null;
  bool new_slab = false; // a slab was made: ctor calls expected for it
  std::uintptr_t slab_base = 0;
  unsigned slab_order = 0;
  unsigned slab_capacity = 0;
  std::size_t discarded = 0; // slabs released on the way (none expected today)
};

enum class FreeClass : std::uint8_t {
  NoOp,         // obj NULL
  Success,      // frees a live object
  InvalidCache, // the cache pointer is no live cache
  Outside,      // not in the arena
  NotSlab,      // a free, metadata or alloc_pages page
  WrongCache,   // a slab of another cache
  NotObject,    // not at an object boundary of the slab
  DoubleFree,   // a free object of the cache (any cache: the allocation bitmap sees it)
};
inline constexpr unsigned kFreeClassCount = static_cast<unsigned>(FreeClass::DoubleFree) + 1;
const char* free_class_name(FreeClass c);

struct FreeExpect {
  FreeClass cls = FreeClass::NoOp;
  std::optional<ErrorKind> report;
  std::uintptr_t report_address = 0;
  ObjectId object = 0;
  CacheId cache = 0; // Success: the cache freed to
};

struct DestroyExpect {
  enum Kind : std::uint8_t { NoOp, Invalid, Remaining, Destroyed } kind = NoOp;
  std::optional<ErrorKind> report;
  std::uintptr_t report_address = 0;
  CacheId cache = 0;
};

class SlabModel {
public:
  // As BuddyModel::init: the arena and the heap's metadata pages are observed by the caller.
  void init(const Config& cfg, std::uintptr_t arena_start, std::size_t npages,
            std::size_t metadata_pages);

  // ---- caches
  CreateExpect expect_create(const CacheCreate& op) const;
  // Records cN; `ptr` is what the heap returned. Returns "" or what is wrong with it.
  std::string commit_create(const CreateExpect& e, const CacheCreate& op, std::uintptr_t ptr);
  // kmem_cache_alloc(cN, gfp) returned `got`: checks it against the rules and applies it.
  // Returns "" or what is wrong (the model is then unusable).
  std::string alloc(CacheId cache, gfp_t gfp, std::uintptr_t got, AllocResult& out);
  // A CacheAlloc that was not run (its cache is not live): a NULL object #N.
  ObjectId add_null_object(CacheId cache);
  FreeExpect expect_free(std::uintptr_t cache_ptr, std::uintptr_t addr) const;
  void commit_free(const FreeExpect& e);
  void set_cpu(unsigned cpu) { cpu_ = cpu; }
  unsigned cpu() const { return cpu_; }
  void flush(CacheId cache);
  void flush_all();
  // Returns what kmem_cache_shrink must return.
  int shrink(CacheId cache);
  // Applies kmem_cache_destroy(ptr).
  DestroyExpect destroy(std::uintptr_t ptr);

  // ---- pages that are not slabs
  std::string alloc_pages(unsigned order, bool dma, std::uintptr_t got);
  // free_pages of pN: "" or what is wrong with the model's own buddy accounting.
  std::string free_pages(PagesId pages);
  void inject_failures(unsigned count) { buddy_.inject_failures(count); }

  // ---- state
  const Config& config() const { return buddy_.config(); }
  const BuddyModel& buddy() const { return buddy_; }
  std::size_t page_size() const { return buddy_.page_size(); }
  std::size_t cache_count() const { return caches_.size(); }
  const ModelCache& cache(CacheId id) const { return caches_[id]; }
  std::optional<CacheId> cache_by_ptr(std::uintptr_t ptr) const;
  std::vector<CacheId> live_caches() const;
  std::size_t object_count() const { return objects_.size(); }
  const ModelObject& object(ObjectId id) const { return objects_[id]; }
  ModelObject& object(ObjectId id) { return objects_[id]; }
  const std::vector<int>& object_caches() const { return object_cache_; }
  std::size_t pages_count() const { return pages_.size(); }
  const PageBlock& pages(PagesId id) const { return pages_[id]; }
  std::size_t slab_pages() const { return slab_pages_; }
  std::size_t page_alloc_pages() const { return page_alloc_pages_; }
  CacheCounters counters(CacheId id) const;
  // The slab holding addr, if any.
  const ModelSlab* slab_at(std::uintptr_t addr) const;
  std::size_t free_count(FreeClass c) const { return free_counts_[static_cast<unsigned>(c)]; }

  // The model's own invariants (slab states, lists, counts, slab pages vs the buddy model).
  std::string check_invariants() const;

private:
  void deactivate(ModelCache& c, unsigned cpu);
  void discard(ModelCache& c, std::uintptr_t base);
  ModelSlab* find_slab(std::uintptr_t addr);

  BuddyModel buddy_;
  unsigned cpu_ = 0;
  std::vector<ModelCache> caches_;
  std::map<std::uintptr_t, CacheId> live_ptrs_;  // live cache pointer -> cN
  std::map<std::uintptr_t, CacheId> slab_index_; // slab base -> its cache
  std::vector<ModelObject> objects_;
  std::vector<int> object_cache_; // for the printers
  std::vector<PageBlock> pages_;
  std::size_t slab_pages_ = 0;
  std::size_t page_alloc_pages_ = 0;
  std::size_t free_counts_[kFreeClassCount] = {};
};

} // namespace km::model::slab
