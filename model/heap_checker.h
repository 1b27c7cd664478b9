// model/heap_checker.h - the one oracle: runs whole-heap ops (heap_op.h) on a Heap and on the
// model together and compares. Every driver (fuzz_heap, the RapidCheck state machine, unit
// tests) goes through it.
//
// The model is three specifications that only predict, plus the accounting this file keeps:
//   size classes   front::SizeClassModel: a scan of the profile's cache list (SC1-SC4, AL1)
//   slab layout    slab::calc_layout: the kernel's order and alignment rules stated as searches,
//                  checked against real /proc/slabinfo rows (AL2, objects per slab)
//   pages          PageSpec: free blocks per zone and order with a merge closure (AC2, AC3)
//   slabs          per slab the objects that are live; per cache its slabs and counts (AC1)
// Slab policy the kernel leaves open is checked as constraints. An object must be a free slot at
// an object boundary of a slab of the predicted cache, or the first object of a new slab, which
// must be a block the buddy rule allows at the cache's order (its min order only after that
// attempt failed). A new slab while the cache has free objects is allowed only while another
// cpu slot holds a cpu slab of it. An empty slab may go back to the page allocator at any time;
// the checker learns which ones did from page_info of the slabs that are empty, and shrink and
// destroy must release all of them (but other threads' cpu slabs). After a flush a cache has no
// cpu slab and active_objects is its live count. NULL is allowed only when the model's own free
// blocks cannot serve the request (or failures were injected).
//
// Every op is checked where it acts: the result and its class, alignment, zone and ksize; the
// object's slot or block and NO1 by construction (a slot or block is handed out only when the
// model has it free); the fill pattern of the object freed or moved (NO2); exactly the predicted
// reports (MU1); the page counts (AC2). The full walk (validate(), every free block and nr_free,
// every cache's counters, slab_bytes, the cache list, every live object's pattern) runs every
// walk_interval ops, on a Validate op, and in finish(). finish() frees everything, destroys the
// caches it created, shrinks the kmalloc caches and checks AC4: the initial free blocks.
// A difference throws CheckError with the config, the ops so far and what differs.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "kmalloc/heap.h"
#include "model/heap_op.h"
#include "model/page_spec.h"
#include "model/size_class_model.h"
#include "model/slab_layout_spec.h"
#include "model/text.h"

namespace km::oracle {

class CheckError : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

inline constexpr std::uint32_t kNone = 0xffffffffu;
inline constexpr std::uint32_t kNeverUsed = 0xfffffffeu; // a slab slot no object was taken from
inline constexpr std::uint32_t kWiped = 0xfffffffdu;     // a free slot kfree_sensitive zeroed
inline constexpr std::uint32_t kSomeSlab = 0xfffffffcu;  // a cpu slab the model does not follow

// What a handle holds.
enum class Kind : std::uint8_t { Null, Zero, Object, Large, Pages };

// One cache line per handle: a free touches a random old one.
struct alignas(64) Allocation {
  std::uintptr_t addr = 0;
  std::size_t requested = 0;   // bytes the caller may touch
  std::size_t usable = 0;      // ksize
  std::size_t pattern_len = 0; // [0, pattern_len) holds the handle's pattern
  std::size_t zero_hi = 0;     // [pattern_len, zero_hi) is known to read zero
  unsigned order = 0;          // Large, Pages
  std::uint32_t cache = kNone; // Object: model cache
  std::uint32_t slab = kNone;  // Object: model slab
  Kind kind = Kind::Null;
  bool live = false;
};

struct ModelCache {
  std::string name;
  std::uintptr_t ptr = 0; // the heap's handle; 0 when create failed
  bool live = false;
  bool kmalloc = false;
  bool ctor = false;
  slab_flags_t flags = 0;
  model::slab::ModelLayout layout;
  std::size_t live_objects = 0;
  std::size_t capacity = 0;           // objects in its slabs
  std::vector<std::uint32_t> slabs;   // its slabs
  std::vector<std::uint32_t> empties; // its slabs that may be empty (checked lazily)
  // Per cpu slot: the slab of its last allocation until a flush (kSomeSlab in a debug cache),
  // or kNone: no cpu slab.
  std::vector<std::uint32_t> cpu_slab;
  bool flushed() const {
    return std::all_of(cpu_slab.begin(), cpu_slab.end(), [](auto id) { return id == kNone; });
  }
};

struct ModelSlab {
  std::uint32_t cache = kNone; // kNone once released
  std::uintptr_t base = 0;
  unsigned order = 0;
  unsigned capacity = 0;
  unsigned live = 0;
  // Its objects' live handles in the pool (kNone: freed; kWiped; kNeverUsed) start here.
  std::uint32_t first_slot = 0;
};

// A small map kept as a vector sorted by key: no allocation per entry, and cleared keeping
// its storage.
using IdMap = std::vector<std::pair<std::uint64_t, std::uint32_t>>;

struct CheckerOptions {
  unsigned walk_interval = 256; // full walk every N ops (0: only on Validate and in finish)
  // The heap's own per-thread cpu slots, never set_cpu: the driver calls apply() from several
  // threads, one at a time (each call happens-before the next), and names the caller's slot with
  // set_slot(). A flush or kmem_cache_shrink then flushes the caller's slot and the shared one;
  // the other threads' cpu slabs stay, and a destroy while one may hold a cpu slab of the cache
  // must report ObjectsRemaining. Every thread flushes before finish(); threads outlive the input.
  bool threads = false;
};

class HeapChecker {
public:
  HeapChecker() = default;
  ~HeapChecker();
  HeapChecker(const HeapChecker&) = delete;
  HeapChecker& operator=(const HeapChecker&) = delete;

  // Builds the heap over [region, region + bytes) (a fresh mmap'd arena when region is
  // nullptr) and the model. Returns the heap's Status; throws CheckError when the initial heap
  // differs from the model (zones, free blocks, the kmalloc caches, the limits).
  Status init(const Config& cfg, void* region, std::size_t bytes, CheckerOptions opts = {});
  // The same through the C API: kmalloc_init_region(region, bytes, options) after
  // reset_c_api_heap(). Returns what kmalloc_init_region returned; cfg must be what the
  // options parse to.
  int init_c(const Config& cfg, const char* options, void* region, std::size_t bytes,
             CheckerOptions opts = {});
  // Forgets the heap (destroying the checker's own, or the C API heap it built) and the model,
  // keeping their storage, so one checker can run input after input without allocating; init()
  // and init_c() call it.
  void reset();

  void apply(const Op& op);
  void finish();
  // Threads mode: the cpu slot of the thread whose apply() comes next (0..nr_cpus-1 its own,
  // nr_cpus the shared one of threads beyond nr_cpus).
  void set_slot(unsigned slot) { cpu_ = std::min(slot, cfg_.nr_cpus); }

  void set_trace(std::FILE* out) { trace_ = out; }
  Heap& heap() { return *heap_; }
  std::string describe_config() const;
  std::string history() const;
  std::size_t ops_checked() const { return ops_count_; }
  std::size_t walks() const { return walks_; }
  std::size_t misuse_count() const { return misuse_; }
  std::size_t skipped_count() const { return skipped_; }
  std::size_t live_count() const { return live_count_; }
  const Allocation& allocation(Handle h) const { return allocs_[h]; }
  std::size_t handle_count() const { return allocs_.size(); }
  std::size_t cache_count() const { return created_.size(); }

  // Byte i of handle h's fill pattern.
  static unsigned char pattern(Handle h, std::size_t i) { return pattern_byte(splitmix64(h), i); }
  // Byte i of the pattern whose seed word is splitmix64(h).
  static unsigned char pattern_byte(std::uint64_t word, std::size_t i) {
    return static_cast<unsigned char>((word >> ((i & 7) * 8)) + (i >> 3) * 29);
  }

  // The full walk, now (the Validate op); with_validate: heap.validate() too.
  void walk(bool with_validate = true);
  // The report handler the checker installs (context: the checker).
  static void record(void* context, const ErrorReport& report);

private:
  struct Expected {
    ErrorKind kind;
    std::uintptr_t address;
    const char* reason; // when not null, the report's message holds it
  };
  struct FreeVerdict {
    bool noop = false;
    Handle handle = kNone; // legal: frees this handle
    bool report = false;
    ErrorKind kind = ErrorKind::InvalidObjectPointer;
    std::uintptr_t address = 0;
    const char* reason = nullptr; // kfree's: why the pointer is no object
  };
  // Throws CheckError with cat(parts...), the config and the ops so far.
  template <class... Parts> [[noreturn]] void fail(const Parts&... parts) const {
    fail_with(cat(parts...));
  }
  [[noreturn]] void fail_with(const std::string& what) const;
  void start(const Config& cfg, CheckerOptions opts);

  void run(const Op& op);
  // The ops that create #n (creates_handle): #n exists whether or not the call succeeds; the
  // op's injected failures are armed for the call and judge a NULL; a live #n is then filled.
  void do_alloc(const Op& op);
  void do_krealloc(const Op& op);
  void do_ksize(const Op& op);
  void do_create(const Op& op);
  void do_shrink_destroy(const Op& op);
  void do_free(const Op& op); // Free and FreeAt
  void do_bad_cache(const Op& op);
  void check_index(std::size_t size); // kmalloc_index and kmalloc_size_roundup against the model
  void do_check_size(const Op& op);

  // kmalloc(size, gfp) (or a kmem_cache_alloc from cache) returned p: checks it and records
  // handle h. `what` names the call in messages.
  void accept_kmalloc(Handle h, std::size_t size, gfp_t gfp, std::uintptr_t p, const char* what);
  void accept_object(Handle h, std::uint32_t cache, gfp_t gfp, std::uintptr_t p, bool zero,
                     std::size_t requested, const char* what);
  void accept_block(Handle h, Kind kind, gfp_t gfp, unsigned order, std::uintptr_t p, bool zero,
                    std::size_t requested, const char* what);
  bool page_null_allowed(gfp_t gfp, unsigned order);
  bool object_null_allowed(std::uint32_t cache, gfp_t gfp); // after a NULL from the cache
  // The order of the cache's next new slab under the rules, or none when both attempts fail.
  std::optional<unsigned> new_slab_order(const ModelCache& c, gfp_t slab_gfp) const;
  gfp_t slab_gfp(const ModelCache& c, gfp_t gfp) const;
  // Learns which of the cache's possibly empty slabs went back to the page allocator.
  void settle(std::uint32_t cache, bool all_must_go);
  void check_min_partial(std::uint32_t cache, bool discarded); // after a slab emptied
  void settle_all();
  // The caller's flush: its own and the shared slot in threads mode, else every slot.
  void forget_cpu_slabs(ModelCache& c) const;
  // Whether a slot other than the caller's may hold a cpu slab of c (free objects it cannot reach).
  bool others_hold(const ModelCache& c) const;
  void release_slab(std::uint32_t slab);
  FreeVerdict judge_free(FreeRoute route, std::uintptr_t addr, unsigned order,
                         std::uintptr_t cache_ptr) const;
  // Frees #h in the model; an object's slot is left `leave` (kNone, or kWiped after
  // kfree_sensitive, whose verdict is kfree's: the zeroed slot is checked when next taken).
  void commit_free(Handle h, Handle leave = kNone);
  void release(const Allocation& a, Handle leave = kNone);
  // Arms fail_next_'s injected page allocation failures for one allocating op; on leaving the
  // op disarms them and clears fail_next_ (which judges a NULL until then).
  struct Injection {
    HeapChecker& c;
    explicit Injection(HeapChecker& checker);
    ~Injection();
  };
  // Frees addr by route as judge_free says it must go (a report, a no-op, or the free of a
  // handle; `own` is the op's handle, for the history).
  void free_checked(FreeRoute route, std::uintptr_t addr, unsigned order, std::uintptr_t cache_ptr,
                    Handle own);
  void free_page_struct(struct page* pg, unsigned order); // __free_pages
  void call_free(FreeRoute route, std::uintptr_t addr, unsigned order, std::uintptr_t cache_ptr);
  void fill(Handle h);
  void check_content(Handle h, const char* when) const;
  void expect(ErrorKind kind, std::uintptr_t address, const char* reason = nullptr) {
    expected_.push_back(Expected{kind, address, reason});
  }
  // A misuse op: expect its report.
  void misuse(ErrorKind kind, std::uintptr_t address, const char* reason = nullptr) {
    expect(kind, address, reason);
    ++misuse_;
  }
  void skip() { ++skipped_; } // an op whose victim does not exist (yet)
  void check_reports();
  void check_counts();
  std::string zone_mismatch() const;
  std::uint32_t kmalloc_cache_of(const model::front::Prediction& pred) const;

  Heap own_heap_;
  Heap* heap_ = nullptr;
  bool c_ = false;
  Config cfg_{};
  CheckerOptions opts_{};
  model::front::SizeClassModel classes_;
  PageSpec pages_;
  std::vector<Allocation> allocs_;
  std::vector<ModelCache> caches_;     // kmalloc caches first, then cN in creation order
  std::vector<std::uint32_t> created_; // cN -> model cache
  IdMap by_ptr_;                       // live cache pointer -> cache
  // (type, class size) -> the kmalloc cache
  IdMap kmalloc_by_class_;
  static std::uint64_t class_key(model::front::CacheType type, std::size_t size) {
    return std::uint64_t{size} << 2 | static_cast<unsigned>(type);
  }
  std::deque<std::string> names_; // kmem_cache_create names outlive their caches
  std::vector<ModelSlab> slabs_;
  std::size_t copied_ = 0; // krealloc: the bytes the heap copied in before accept_object saw them
  std::vector<Handle> slot_pool_; // ModelSlab::first_slot indexes it
  Handle& slot(const ModelSlab& s, unsigned idx) { return slot_pool_[s.first_slot + idx]; }
  Handle slot(const ModelSlab& s, unsigned idx) const { return slot_pool_[s.first_slot + idx]; }
  std::vector<FreeBlock> initial_blocks_;
  std::vector<FreeBlock> heap_blocks_, model_blocks_; // the walk's scratch
  std::vector<std::uint32_t> seen_; // per page: the walk (seen_epoch_) that saw a block there
  std::uint32_t seen_epoch_ = 0;    // never reset, so marks of earlier inputs are stale
  std::size_t max_caches_ = 0;
  std::size_t live_created_ = 0;
  std::size_t live_count_ = 0;
  unsigned fail_next_ = 0;
  unsigned cpu_ = 0;
  std::vector<Expected> expected_;
  struct Seen {
    ErrorKind kind;
    std::uintptr_t address;
    std::string message;
  };
  std::vector<Seen> reports_;
  // What an op returned, kept for the history and formatted only when printed.
  struct Outcome {
    enum class Shape : std::uint8_t { None, Pointer, Number, At } shape = Shape::None;
    std::uintptr_t value = 0; // the pointer or number returned; At: the address freed
    bool refused = false;     // At: the free was reported and refused
    Handle frees = kNone;     // At: the handle it freed, when not the op's own
    std::string text() const;
  };
  Outcome outcome_; // of the op running
  // The last kHistory ops, for failure messages: a ring indexed by op number.
  struct Step {
    Op op;
    Outcome outcome;
    Handle made = kNone;           // the handle it created
    CacheId cache_made = kNoCache; // CacheCreate: its cN
  };
  static constexpr std::size_t kHistory = 200;
  std::vector<Step> history_;
  std::size_t ops_count_ = 0;
  CacheId cache_ops_ = 0; // CacheCreate ops so far
  std::size_t since_walk_ = 0;
  std::size_t walks_ = 0;
  std::size_t misuse_ = 0;
  std::size_t skipped_ = 0;
  std::FILE* trace_ = nullptr;
  alignas(64) unsigned char outside_[256] = {};
};

// Runs ops on a fresh checker over an mmap'd arena of cfg, then finish(). Throws CheckError.
void check_heap_ops(const Config& cfg, std::span<const Op> ops, std::FILE* trace = nullptr);

} // namespace km::oracle
