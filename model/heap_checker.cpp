// model/heap_checker.cpp - the whole-heap oracle of heap_checker.h.
#include "model/heap_checker.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <string_view>
#include <tuple>

#include "kmalloc/kmalloc.h"
#include "model/cpu_spec.h"
#include "model/text.h"

namespace km::oracle {

namespace {

constexpr std::uintptr_t kZeroSizePtr = 16;
constexpr std::uintptr_t kAnyAddress = ~std::uintptr_t{0};
constexpr std::size_t kDenseBytes = 4096; // filled and checked whole; beyond, a sample

std::uintptr_t addr_of(const void* p) {
  return reinterpret_cast<std::uintptr_t>(p);
}
void* ptr_of(std::uintptr_t a) {
  return reinterpret_cast<void*>(a);
}
struct kmem_cache* ptr_of_cache(std::uintptr_t p) {
  return reinterpret_cast<struct kmem_cache*>(p);
}
std::string h_name(Handle h) {
  return "#" + std::to_string(h);
}

// The constructor of ctor caches writes ctor_byte(i) over the object; g_ctor_size is the object
// size of the cache being allocated from.
thread_local unsigned g_ctor_size = 0;
unsigned char ctor_byte(std::size_t i) {
  return static_cast<unsigned char>(0xc3 ^ (i * 7));
}
void test_ctor(void* object) {
  auto* b = static_cast<unsigned char*>(object);
  for (unsigned i = 0; i < g_ctor_size; ++i)
    b[i] = ctor_byte(i);
}

// Calls fn(lo', hi') for the sampled ranges of [lo, hi): all of it below kDenseBytes, then the
// first 32 bytes of every further 4 KiB.
template <class Fn> void for_sampled(std::size_t lo, std::size_t hi, Fn&& fn) {
  if (lo < std::min(hi, kDenseBytes))
    fn(lo, std::min(hi, kDenseBytes));
  for (std::size_t page = std::max(lo, kDenseBytes) & ~std::size_t{4095}; page < hi; page += 4096)
    if (std::max(lo, page) < std::min(hi, page + 32))
      fn(std::max(lo, page), std::min(hi, page + 32));
}

// Eight pattern bytes at once: byte i is byte (i & 7) of the seed word plus 29 * (i >> 3), so
// the k-th group of eight is the word plus 29k in every byte, added byte by byte (no carries
// between bytes: the low seven bits add, the top bit is an exclusive or). 29k mod 256 repeats
// every 256 groups, so the addend's two halves come from a table.
constexpr std::uint64_t kLow7 = 0x7f7f7f7f7f7f7f7full;
struct PatternAddend {
  std::uint64_t low[256]; // (29k mod 256) in every byte, low seven bits
  std::uint64_t top[256]; // and the top bit
};
constexpr PatternAddend kAddend = [] {
  PatternAddend t{};
  for (unsigned k = 0; k < 256; ++k) {
    const std::uint64_t add = 0x0101010101010101ull * ((k * 29) & 0xff);
    t.low[k] = add & kLow7;
    t.top[k] = add & ~kLow7;
  }
  return t;
}();
std::uint64_t pattern_word(std::uint64_t word, std::size_t k) {
  const std::uint64_t sum =
      ((word & kLow7) + kAddend.low[k & 255]) ^ (word & ~kLow7) ^ kAddend.top[k & 255];
  if constexpr (std::endian::native == std::endian::big)
    return __builtin_bswap64(sum);
  return sum;
}

// Writes the pattern of `word` over bytes [lo, hi) of b.
void write_pattern(unsigned char* b, std::uint64_t word, std::size_t lo, std::size_t hi) {
  std::size_t i = lo;
  for (; i < hi && (i & 7) != 0; ++i)
    b[i] = HeapChecker::pattern_byte(word, i);
  for (; i + 8 <= hi; i += 8) {
    const std::uint64_t v = pattern_word(word, i >> 3);
    std::memcpy(b + i, &v, 8);
  }
  for (; i < hi; ++i)
    b[i] = HeapChecker::pattern_byte(word, i);
}

// The first byte of [lo, hi) of b that is not the pattern of `word` (zero: not 0); hi if none.
// Whole 64-byte blocks are compared first, their eight words' differences OR-ed together (word
// loads: one memcpy of 64 would be a libc call), then words, then bytes.
std::size_t first_difference(const unsigned char* b, const std::uint64_t* word, std::size_t lo,
                             std::size_t hi) {
  auto want = [&](std::size_t i) {
    return word != nullptr ? HeapChecker::pattern_byte(*word, i) : 0;
  };
  std::size_t i = lo;
  for (; i < hi && (i & 7) != 0; ++i)
    if (b[i] != want(i))
      return i;
  auto skip_equal = [b, hi](std::size_t at, auto&& expected) {
    auto word_at = [b](std::size_t x) {
      std::uint64_t v;
      std::memcpy(&v, b + x, 8);
      return v;
    };
    for (; at + 64 <= hi; at += 64) {
      std::uint64_t diff = 0;
      for (std::size_t j = 0; j < 8; ++j)
        diff |= word_at(at + 8 * j) ^ expected((at >> 3) + j);
      if (diff != 0)
        break;
    }
    for (; at + 8 <= hi && word_at(at) == expected(at >> 3); at += 8) {
    }
    return at;
  };
  if (word == nullptr)
    i = skip_equal(i, [](std::size_t) { return std::uint64_t{0}; });
  else
    i = skip_equal(i, [seed = *word](std::size_t k) { return pattern_word(seed, k); });
  for (; i < hi; ++i)
    if (b[i] != want(i))
      return i;
  return hi;
}

// Each field of the heap's layout of a cache that differs from the kernel's rules, as
// " <field> <heap's>, the kernel's rules give <model's>;", or "" when none does.
std::string layout_difference(const CacheInfo& info, const model::slab::ModelLayout& l) {
  std::string out;
  auto field = [&](const char* name, unsigned heap, unsigned model) {
    if (heap != model)
      out += cat(" ", name, " ", heap, ", the kernel's rules give ", model, ";");
  };
  field("object_size", info.object_size, l.object_size);
  field("stride", info.size, l.size);
  field("align", info.align, l.align);
  field("free pointer offset", info.offset, l.offset);
  field("order", info.order, l.order);
  field("min_order", info.min_order, l.min_order);
  field("objects", info.objects_per_slab, l.objects);
  field("min_partial", info.min_partial, l.min_partial);
  return out;
}

auto block_key(const FreeBlock& b) {
  return std::make_tuple(b.zone, b.pfn, b.order);
}

// IdMap: a sorted vector of (key, id).
template <class Map> auto id_slot(Map& m, std::uint64_t key) {
  return std::lower_bound(m.begin(), m.end(), key,
                          [](const auto& e, std::uint64_t k) { return e.first < k; });
}
std::uint32_t find_id(const IdMap& m, std::uint64_t key) {
  const auto it = id_slot(m, key);
  return it != m.end() && it->first == key ? it->second : kNone;
}
void put_id(IdMap& m, std::uint64_t key, std::uint32_t id) {
  const auto it = id_slot(m, key);
  if (it != m.end() && it->first == key)
    it->second = id;
  else
    m.insert(it, {key, id});
}
void erase_id(IdMap& m, std::uint64_t key) {
  if (const auto it = id_slot(m, key); it != m.end() && it->first == key)
    m.erase(it);
}

// The call on the heap under test: the C function when the checker drives the C API.
#define KM_API(fn, ...) (c_ ? ::fn(__VA_ARGS__) : heap_->fn(__VA_ARGS__))

// The C API delivers its reports here when the checker drives it.
void c_record(void* context, const struct kmalloc_report* r) {
  HeapChecker::record(context, ErrorReport{static_cast<ErrorKind>(r->kind), r->addr, r->message});
}

} // namespace

// ---------------------------------------------------------------- setup

HeapChecker::~HeapChecker() {
  reset();
}

void HeapChecker::record(void* context, const ErrorReport& report) {
  static_cast<HeapChecker*>(context)->reports_.push_back(
      Seen{report.kind, report.address, report.message});
}

// The C API heap this checker built is destroyed with it: left alive, it would keep its thread
// key and fork hook while the next input reuses its region (a leak of one pthread key per C
// input: after 1,024 the heap gets no key and every thread shares one slot).
void HeapChecker::reset() {
  if (c_) {
    kmalloc_set_report_handler(nullptr, nullptr);
    reset_c_api_heap();
  }
  own_heap_.destroy();
  heap_ = nullptr;
  c_ = false;
  cfg_ = Config{};
  opts_ = CheckerOptions{};
  allocs_.clear();
  caches_.clear();
  created_.clear();
  by_ptr_.clear();
  kmalloc_by_class_.clear();
  names_.clear();
  slabs_.clear();
  slot_pool_.clear();
  initial_blocks_.clear();
  max_caches_ = live_created_ = live_count_ = 0;
  fail_next_ = cpu_ = 0;
  expected_.clear();
  reports_.clear();
  history_.resize(kHistory);
  ops_count_ = cache_ops_ = 0;
  outcome_ = Outcome{};
  since_walk_ = walks_ = misuse_ = skipped_ = 0;
  trace_ = nullptr;
}

Status HeapChecker::init(const Config& cfg, void* region, std::size_t bytes, CheckerOptions opts) {
  reset();
  heap_ = &own_heap_;
  own_heap_.set_report_handler(&HeapChecker::record, this);
  const Status st = region != nullptr ? own_heap_.init(cfg, region, bytes) : own_heap_.init(cfg);
  if (st.ok)
    start(cfg, opts);
  return st;
}

int HeapChecker::init_c(const Config& cfg, const char* options, void* region, std::size_t bytes,
                        CheckerOptions opts) {
  reset();
  reset_c_api_heap();
  kmalloc_set_report_handler(&c_record, this);
  c_ = true;
  const int rc = kmalloc_init_region(region, bytes, options);
  if (rc != 0)
    return rc;
  heap_ = &c_api_heap();
  start(cfg, opts);
  return rc;
}

void HeapChecker::start(const Config& given, CheckerOptions opts) {
  cfg_ = model::resolve_cpus(given); // nr_cpus=auto: the machine's count, as the model reads it
  const Config& cfg = cfg_;
  opts_ = opts;
  Heap& heap = *heap_;
  const std::size_t npages = heap.arena_pages();
  const std::size_t ps = heap.page_size();
  if (ps != (std::size_t{1} << cfg.page_shift))
    fail("page_size() is ", ps);
  // The metadata pages are the implementation's; the model bounds them: at least the
  // allocation bitmap (one bit per 8 bytes), at most that plus 64 bytes per page, 4 KiB per
  // kmem_cache slot and its per-cpu slabs, and 64 KiB for the rest.
  const std::size_t metadata = heap.page_counts().metadata;
  const std::size_t bitmap = npages * ps / 64;
  max_caches_ = cfg.max_caches != 0 ? cfg.max_caches : std::clamp<std::size_t>(npages / 16, 4, 128);
  const std::size_t most =
      bitmap + npages * 64 + (max_caches_ + 64) * (4096 + 64 * cfg.nr_cpus) + (64 << 10);
  if (metadata * ps < bitmap || metadata * ps > most + ps)
    fail(metadata, " metadata pages, outside [", bitmap / ps, ", ", most / ps + 1, "]");
  pages_.init(cfg, heap.arena_start(), npages, metadata);
  pages_.free_blocks(initial_blocks_);
  classes_.init(cfg);
  // Zones and free blocks.
  if (heap.nr_zones() != pages_.nr_zones())
    fail("nr_zones() is ", heap.nr_zones(), ", expected ", pages_.nr_zones());
  for (unsigned z = 0; z < pages_.nr_zones(); ++z) {
    const ZoneInfo zi = heap.zone_info(z);
    if (zi.start_pfn != pages_.zone_start(z) ||
        zi.spanned_pages != pages_.zone_end(z) - pages_.zone_start(z))
      fail("zone ", z, " spans pfn ", hex(zi.start_pfn), " + ", zi.spanned_pages, ", expected ",
           hex(pages_.zone_start(z)), " + ", pages_.zone_end(z) - pages_.zone_start(z));
  }
  // The kmalloc caches: every name the profile has, and a layout from the kernel's rules.
  struct Listing {
    Heap* heap;
    std::vector<std::pair<std::string_view, std::uintptr_t>> caches; // by name
  } listing{heap_, {}};
  heap.for_each_cache(
      [](void* ctx, const struct kmem_cache* c) {
        auto* l = static_cast<Listing*>(ctx);
        l->caches.emplace_back(l->heap->cache_info(c).name, addr_of(c));
      },
      &listing);
  auto& heap_caches = listing.caches;
  std::sort(heap_caches.begin(), heap_caches.end());
  using model::front::CacheType;
  for (CacheType t : {CacheType::Normal, CacheType::Reclaim, CacheType::Dma}) {
    if (cfg.profile == Profile::None || (t == CacheType::Reclaim && !classes_.has_reclaim_type()))
      continue;
    for (std::size_t size : classes_.cache_sizes()) {
      ModelCache c;
      c.name = classes_.cache_name(t, size);
      c.kmalloc = true;
      c.live = true;
      c.flags = SLAB_KMALLOC | (t == CacheType::Dma ? SLAB_CACHE_DMA : 0) |
                (t == CacheType::Reclaim ? SLAB_RECLAIM_ACCOUNT : 0);
      c.layout = model::slab::calc_layout(cfg, static_cast<unsigned>(size),
                                          static_cast<unsigned>(classes_.class_align(size)),
                                          c.flags, false);
      const auto it = std::lower_bound(heap_caches.begin(), heap_caches.end(),
                                       std::pair<std::string_view, std::uintptr_t>(c.name, 0));
      if (it == heap_caches.end() || it->first != c.name)
        fail("no cache ", c.name, " at init");
      c.ptr = it->second;
      if (!c.layout.ok)
        fail(c.name, ": the kernel's rules give no layout");
      if (const std::string d = layout_difference(heap.cache_info(ptr_of_cache(c.ptr)), c.layout);
          !d.empty())
        fail(c.name, ":", d, " (AL2, AC1)");
      const auto id = static_cast<std::uint32_t>(caches_.size());
      put_id(by_ptr_, c.ptr, id);
      put_id(kmalloc_by_class_, class_key(t, size), id);
      caches_.push_back(std::move(c));
    }
  }
  if (cfg.profile != Profile::None && heap_caches.size() != caches_.size())
    fail(heap_caches.size(), " caches at init, the profile has ", caches_.size(), " (",
         classes_.describe(), ")");
  walk(false); // the heap's own validate() runs at the first periodic walk and in finish()
}

// ---------------------------------------------------------------- the op loop

std::string HeapChecker::Outcome::text() const {
  switch (shape) {
  case Shape::None: return {};
  case Shape::Pointer: return "= " + hex(value);
  case Shape::Number:
    return "= " + std::to_string(static_cast<std::intptr_t>(value)); // ksize, shrink's int
  case Shape::At: break;
  }
  return "(" + hex(value) + ")" + (refused ? " refused" : "") +
         (frees != kNone ? " frees " + h_name(frees) : "");
}

void HeapChecker::apply(const Op& op) {
  Step& step = history_[ops_count_++ % kHistory];
  step = Step{op, Outcome{}, creates_handle(op.kind) ? static_cast<Handle>(allocs_.size()) : kNone,
              op.kind == OpKind::CacheCreate ? cache_ops_++ : kNoCache};
  outcome_ = Outcome{};
  run(op);
  step.outcome = outcome_;
  check_reports();
  check_counts();
  if (trace_ != nullptr)
    std::fprintf(trace_, "%s %s\n", to_string(op).c_str(), outcome_.text().c_str());
  if (opts_.walk_interval != 0 && ++since_walk_ >= opts_.walk_interval)
    walk();
}

void HeapChecker::run(const Op& op) {
  switch (op.kind) {
  case OpKind::Kmalloc:
  case OpKind::Kzalloc:
  case OpKind::KmallocArray:
  case OpKind::Kcalloc:
  case OpKind::CacheAlloc:
  case OpKind::CacheZalloc:
  case OpKind::AllocPages: do_alloc(op); break;
  case OpKind::Krealloc: do_krealloc(op); break;
  case OpKind::Ksize: do_ksize(op); break;
  case OpKind::CacheCreate: do_create(op); break;
  case OpKind::CacheShrink:
  case OpKind::CacheDestroy: do_shrink_destroy(op); break;
  case OpKind::Free:
  case OpKind::FreeAt: do_free(op); break;
  case OpKind::BadCache: do_bad_cache(op); break;
  case OpKind::Verify:
    if (op.handle < allocs_.size() && allocs_[op.handle].live)
      check_content(op.handle, "at verify");
    break;
  case OpKind::Flush:
    heap_->flush_cpu_slabs();
    for (ModelCache& c : caches_)
      forget_cpu_slabs(c);
    break;
  case OpKind::SetCpu:
    if (opts_.threads)
      return skip(); // set_cpu would end the heap's thread slots
    cpu_ = op.arg % cfg_.nr_cpus;
    heap_->set_cpu(cpu_);
    break;
  case OpKind::FailNext: fail_next_ = op.arg; break;
  case OpKind::CheckSize: do_check_size(op); break;
  case OpKind::Validate: walk(); break;
  }
}

HeapChecker::Injection::Injection(HeapChecker& checker) : c(checker) {
  if (c.fail_next_ != 0) // fail_next_ stays set: the op judges a NULL with it
    c.heap_->inject_page_alloc_failures(c.fail_next_);
}

HeapChecker::Injection::~Injection() {
  if (c.fail_next_ != 0)
    c.heap_->inject_page_alloc_failures(0);
  c.fail_next_ = 0;
}

// ---------------------------------------------------------------- allocation

void HeapChecker::do_alloc(const Op& op) {
  const Handle h = static_cast<Handle>(allocs_.size());
  allocs_.emplace_back();
  const bool from_cache = op.kind == OpKind::CacheAlloc || op.kind == OpKind::CacheZalloc;
  const std::uint32_t id = from_cache && op.cache < created_.size() ? created_[op.cache] : kNone;
  const bool bad_gfp = (op.gfp & ~__GFP_BITS_MASK) != 0;
  if (from_cache && (id == kNone || !caches_[id].live))
    return skip();
  const auto n = static_cast<std::size_t>(op.n);
  const auto size = static_cast<std::size_t>(op.size);
  std::size_t bytes = size;
  const bool overflow = (op.kind == OpKind::KmallocArray || op.kind == OpKind::Kcalloc) &&
                        __builtin_mul_overflow(op.n, op.size, &bytes);
  const bool zero = (op.gfp & __GFP_ZERO) != 0 || op.kind == OpKind::Kzalloc ||
                    op.kind == OpKind::Kcalloc || op.kind == OpKind::CacheZalloc;
  struct kmem_cache* s = from_cache ? ptr_of_cache(caches_[id].ptr) : nullptr;
  if (from_cache)
    g_ctor_size = caches_[id].layout.object_size;
  const Injection injection(*this);
  struct page* pg = nullptr;
  void* r = nullptr;
  switch (op.kind) {
  case OpKind::Kmalloc: r = KM_API(kmalloc, size, op.gfp); break;
  case OpKind::Kzalloc: r = KM_API(kzalloc, size, op.gfp); break;
  case OpKind::KmallocArray: r = KM_API(kmalloc_array, n, size, op.gfp); break;
  case OpKind::Kcalloc: r = KM_API(kcalloc, n, size, op.gfp); break;
  case OpKind::CacheAlloc: r = KM_API(kmem_cache_alloc, s, op.gfp); break;
  case OpKind::CacheZalloc: r = KM_API(kmem_cache_zalloc, s, op.gfp); break;
  default:
    if (op.n != 0) { // __get_free_pages
      r = ptr_of(c_ ? ::__get_free_pages(op.gfp, op.arg) : heap_->get_free_pages(op.gfp, op.arg));
      pg = r != nullptr ? KM_API(virt_to_page, r) : nullptr;
      break;
    }
    pg = KM_API(alloc_pages, op.gfp, op.arg);
    r = pg != nullptr ? heap_->page_address(pg) : nullptr;
    break;
  }
  const std::uintptr_t p = addr_of(r);
  outcome_ = Outcome{Outcome::Shape::Pointer, p};
  const bool pages = op.kind == OpKind::AllocPages;
  if ((from_cache || pages) && (bad_gfp || (pages && op.arg > cfg_.max_order))) {
    // Out of contract (kmalloc.h): NULL, with a warning unless __GFP_NOWARN.
    if ((op.gfp & __GFP_NOWARN) == 0)
      expect(bad_gfp ? ErrorKind::InvalidGfp : ErrorKind::OrderTooLarge, kAnyAddress);
    ++misuse_;
    if (p != 0)
      fail(op_name(op.kind), "(", from_cache ? caches_[id].name : cat("order ", op.arg), ", ",
           gfp_to_string(op.gfp), ") is out of contract (",
           bad_gfp ? "gfp bits outside __GFP_BITS_MASK" : "order above MAX_ORDER", "), returned ",
           hex(p));
  } else if (from_cache) {
    accept_object(h, id, op.gfp, p, zero, caches_[id].layout.object_size, op_name(op.kind));
  } else if (pages) {
    accept_block(h, Kind::Pages, op.gfp & ~__GFP_ZERO, op.arg, p, zero,
                 pages_.page_size() << op.arg, "alloc_pages");
    if (p != 0 && heap_->virt_to_page(ptr_of(p)) != pg)
      fail("virt_to_page(page_address(page)) is not page for ", hex(p));
  } else if (overflow) { // check_mul_overflow: NULL before anything else, no report
    if (p != 0)
      fail(op_name(op.kind), " with n * size overflowing returned ", hex(p));
  } else {
    if (op.kind == OpKind::Kmalloc && cfg_.profile != Profile::None)
      check_index(
          size); // the class lookup on every size kmalloc is asked for, not only CheckSize's
    accept_kmalloc(h, bytes, zero ? op.gfp | __GFP_ZERO : op.gfp, p, op_name(op.kind));
  }
  if (allocs_[h].live)
    fill(h);
}

std::uint32_t HeapChecker::kmalloc_cache_of(const model::front::Prediction& pred) const {
  const std::uint32_t id = find_id(kmalloc_by_class_, class_key(pred.type, pred.cache_size));
  if (id == kNone)
    fail("the model has no cache ", pred.cache_name);
  return id;
}

void HeapChecker::accept_kmalloc(Handle h, std::size_t size, gfp_t gfp, std::uintptr_t p,
                                 const char* what) {
  using model::front::Path;
  auto call = [&] { return cat(what, "(", size, ", ", gfp_to_string(gfp), ") = ", hex(p)); };
  if (cfg_.profile == Profile::None) {
    expect(ErrorKind::KmallocDisabled, kAnyAddress);
    if (p != 0)
      fail(call(), " on a heap without kmalloc caches");
    return;
  }
  const model::front::Prediction pred = classes_.predict(size, gfp);
  const bool zero = (gfp & __GFP_ZERO) != 0;
  switch (pred.path) {
  case Path::Zero:
    if (p != kZeroSizePtr)
      fail(call(), ", expected ZERO_SIZE_PTR");
    allocs_[h] = Allocation{.addr = p, .kind = Kind::Zero};
    return;
  case Path::TooLarge:
  case Path::InvalidGfp:
    if (pred.warn)
      expect(pred.report, kAnyAddress);
    ++misuse_;
    if (p != 0)
      fail(call(), ", expected NULL (", model::front::path_name(pred.path), ")");
    return;
  case Path::Large: accept_block(h, Kind::Large, gfp, pred.order, p, zero, size, what); break;
  case Path::Slab: accept_object(h, kmalloc_cache_of(pred), gfp, p, zero, size, what); break;
  }
  Allocation& a = allocs_[h];
  if (!a.live)
    return;
  a.usable = pred.ksize;
  a.zero_hi = zero ? pred.ksize : 0;
  if (p % pred.align != 0)
    fail(call(), ": not aligned to ", pred.align, " (AL1)");
  // ksize through the API (SC3).
  const std::size_t ks = KM_API(ksize, ptr_of(p));
  if (ks != pred.ksize)
    fail(call(), ": ksize ", ks, ", expected ", pred.ksize);
}

gfp_t HeapChecker::slab_gfp(const ModelCache& c, gfp_t gfp) const {
  // The slab's pages: the cache's zone (SLAB_CACHE_DMA) and the caller's reclaim bits; the
  // object's __GFP_ZERO does not reach the page allocator.
  gfp &= ~(__GFP_ZERO | __GFP_DMA);
  return gfp | ((c.flags & SLAB_CACHE_DMA) != 0 ? __GFP_DMA : 0);
}

bool HeapChecker::page_null_allowed(gfp_t gfp, unsigned order) {
  if (fail_next_ != 0 && (gfp & __GFP_NOFAIL) == 0)
    return true;
  settle_all();
  return !pages_.must_split(gfp, order).has_value();
}

bool HeapChecker::object_null_allowed(std::uint32_t cache, gfp_t gfp) {
  ModelCache& c = caches_[cache];
  if (cpu_ < c.cpu_slab.size())
    c.cpu_slab[cpu_] = kNone; // the cpu slab may have been given up before the page failed
  settle_all();
  if (c.capacity > c.live_objects && !others_hold(c))
    return false; // a free object is reachable from this cpu
  return !new_slab_order(c, slab_gfp(c, gfp)).has_value();
}

// allocate_slab: the preferred order first (without __GFP_NOFAIL when it is above the min
// order), then the min order; an injected failure hits an attempt without __GFP_NOFAIL.
std::optional<unsigned> HeapChecker::new_slab_order(const ModelCache& c, gfp_t g) const {
  const bool nofail = (g & __GFP_NOFAIL) != 0;
  unsigned left = fail_next_;
  if (left != 0 && (c.layout.order > c.layout.min_order || !nofail))
    --left;
  else if (pages_.must_split(g, c.layout.order))
    return c.layout.order;
  if ((left != 0 && !nofail) || !pages_.must_split(g, c.layout.min_order))
    return std::nullopt;
  return c.layout.min_order;
}

void HeapChecker::accept_object(Handle h, std::uint32_t cache, gfp_t gfp, std::uintptr_t p,
                                bool zero, std::size_t requested, const char* what) {
  ModelCache& c = caches_[cache];
  auto call = [&] { return cat(what, " from ", c.name, " = ", hex(p)); };
  if (p == 0) {
    if (!object_null_allowed(cache, gfp))
      fail(call(), ": NULL, but the model has a free object or a free block for a new slab");
    return;
  }
  if (!pages_.in_arena(p))
    fail(call(), ": outside the arena (NO1)");
  const std::size_t ps = pages_.page_size();
  const unsigned stride = c.layout.size;
  PageUse u = pages_.use(p >> pages_.page_shift());
  if (u.use == Use::Slab && slabs_[u.id].cache != cache) {
    if (slabs_[u.id].live != 0)
      fail(call(), ": inside a slab of ", caches_[slabs_[u.id].cache].name, " (NO1)");
    release_slab(u.id); // an empty slab of another cache went back and was reused
    u = pages_.use(p >> pages_.page_shift());
  }
  if (u.use != Use::Slab) {
    // A new slab: the heap may make one only when no free object is reachable (empty slabs
    // that went back first).
    settle_all();
    if (c.capacity > c.live_objects && !others_hold(c))
      fail(call(), ": a new slab while the cache has ", c.capacity - c.live_objects,
           " free objects");
    const gfp_t g = slab_gfp(c, gfp);
    const unsigned order =
        new_slab_order(c, g).value_or(c.layout.min_order); // (none: take judges it)
    const std::uintptr_t base = p & ~((ps << order) - 1);
    const auto id = static_cast<std::uint32_t>(slabs_.size());
    const std::string err = pages_.take(g, order, base >> pages_.page_shift(), Use::Slab, id);
    if (!err.empty())
      fail(call(), ": a new slab of order ", order, " at ", hex(base),
           " breaks the buddy rule: ", err);
    const PageInfo pi = heap_->page_info(ptr_of(base));
    if (pi.owner != PageOwner::Slab || pi.block != base || pi.order != order ||
        addr_of(pi.cache) != c.ptr)
      fail(call(), ": page_info of its new slab says ", page_owner_name(pi.owner), " block ",
           hex(pi.block), " order ", pi.order, " (SC1)");
    const auto capacity = static_cast<unsigned>((ps << order) / stride);
    slabs_.push_back(ModelSlab{.cache = cache,
                               .base = base,
                               .order = order,
                               .capacity = capacity,
                               .first_slot = static_cast<std::uint32_t>(slot_pool_.size())});
    slot_pool_.resize(slot_pool_.size() + capacity, kNeverUsed);
    c.slabs.push_back(id);
    c.capacity += capacity;
    u = PageUse{Use::Slab, id};
  }
  ModelSlab& s = slabs_[u.id];
  const std::uintptr_t off = p - s.base;
  if (off % stride != 0 || off / stride >= s.capacity)
    fail(call(), ": not an object boundary of its slab ", hex(s.base), " (stride ", stride, ")");
  Handle& held = slot(s, static_cast<unsigned>(off / stride));
  if (held < kWiped)
    fail(call(), ": the object is live ", h_name(held), " (NO1)");
  const bool first_use = held == kNeverUsed;
  if (held == kWiped) { // kfree_sensitive zeroed it; the free list wrote one word since
    const std::size_t fp = c.layout.offset;
    const auto* b = reinterpret_cast<const unsigned char*>(p);
    for_sampled(copied_, requested, [&](std::size_t lo, std::size_t hi) { // (kmalloc poisons
      for (std::size_t i = lo; i < hi; ++i)                               // past the request)
        if ((i < fp || i >= fp + sizeof(void*)) && b[i] != 0)
          fail(call(), ": byte +", i, " of an object kfree_sensitive wiped is ", hex(b[i]));
    });
  }
  held = h;
  ++s.live;
  ++c.live_objects;
  // ___slab_alloc: every allocation comes from this cpu's slab (a debug cache's: unknown).
  c.cpu_slab.resize(cfg_.nr_cpus + (opts_.threads ? 1 : 0), kNone);
  c.cpu_slab[cpu_] = (c.flags & SLAB_CONSISTENCY_CHECKS) != 0 ? kSomeSlab : u.id;
  ++live_count_;
  allocs_[h] = Allocation{.addr = p,
                          .requested = requested,
                          .usable = stride,
                          .zero_hi = zero ? requested : 0,
                          .cache = cache,
                          .slab = u.id,
                          .kind = Kind::Object,
                          .live = true};
  if (p % c.layout.align != 0)
    fail(call(), ": not aligned to ", c.layout.align, " (AL2)");
  if ((c.flags & SLAB_CACHE_DMA) != 0 && pages_.nr_zones() == 2 &&
      pages_.zone_of(p >> pages_.page_shift()) != 0)
    fail(call(), ": a DMA cache's object outside ZONE_DMA");
  if (zero) {
    check_content(h, "after a zeroing allocation");
  } else if (first_use && c.ctor) { // the constructor ran on every object of a new slab
    for_sampled(0, requested, [&](std::size_t lo, std::size_t hi) {
      for (std::size_t i = lo; i < hi; ++i)
        if (reinterpret_cast<const unsigned char*>(p)[i] != ctor_byte(i))
          fail(call(), ": an object never used before without the constructor's bytes at +", i);
    });
  }
}

void HeapChecker::accept_block(Handle h, Kind kind, gfp_t gfp, unsigned order, std::uintptr_t p,
                               bool zero, std::size_t requested, const char* what) {
  auto call = [&] {
    return cat(what, " (order ", order, ", ", gfp_to_string(gfp), ") = ", hex(p));
  };
  if (p == 0) {
    if (!page_null_allowed(gfp & ~__GFP_ZERO, order))
      fail(call(), ": NULL, but the model has a free block for it");
    return;
  }
  settle_all();
  const std::string err = pages_.in_arena(p)
                              ? pages_.take(gfp, order, p >> pages_.page_shift(),
                                            kind == Kind::Large ? Use::Large : Use::Pages, h)
                              : "outside the arena";
  if (!err.empty())
    fail(call(), ": ", err);
  const PageInfo pi = heap_->page_info(ptr_of(p));
  const PageOwner want = kind == Kind::Large ? PageOwner::LargeKmalloc : PageOwner::PageAlloc;
  if (pi.owner != want || pi.block != p || pi.order != order)
    fail(call(), ": page_info says ", page_owner_name(pi.owner), " block ", hex(pi.block),
         " order ", pi.order);
  ++live_count_;
  allocs_[h] = Allocation{.addr = p,
                          .requested = requested,
                          .usable = pages_.page_size() << order,
                          .zero_hi = zero ? requested : 0,
                          .order = order,
                          .kind = kind,
                          .live = true};
  if (zero)
    check_content(h, "after a zeroing allocation");
}

void HeapChecker::do_ksize(const Op& op) {
  if (op.handle >= allocs_.size())
    return skip();
  const Allocation& a = allocs_[op.handle];
  // What the address is now (it may have been freed, or reused by another handle): a live
  // object or large block gives its ksize, anything else a report and 0.
  // (A Null handle's address is NULL, a Zero one's ZERO_SIZE_PTR: no-ops.)
  const FreeVerdict v = judge_free(FreeRoute::Kfree, a.addr, 0, 0);
  std::size_t want = v.handle != kNone ? allocs_[v.handle].usable : 0;
  if (v.report) // a free object is not a double free here
    misuse(ErrorKind::InvalidObjectPointer, a.addr,
           v.kind == ErrorKind::ObjectDoubleFree ? "(the object is free)" : v.reason);
  const std::size_t got = KM_API(ksize, ptr_of(a.addr));
  outcome_ = Outcome{Outcome::Shape::Number, got};
  if (got != want)
    fail("ksize(", h_name(op.handle), " = ", hex(a.addr), ") = ", got, ", expected ", want);
}

void HeapChecker::do_krealloc(const Op& op) {
  if (op.handle >= allocs_.size() || cfg_.profile == Profile::None)
    return skip();
  Allocation& a = allocs_[op.handle];
  const bool live = a.live;
  if (live && a.kind == Kind::Object && !caches_[a.cache].kmalloc) // not a kmalloc object
    return skip();
  if (a.kind == Kind::Pages || (!live && a.kind != Kind::Null && a.kind != Kind::Zero)) {
    // An alloc_pages block or a freed object: krealloc must refuse it, unless the address now
    // holds another live object (then krealloc acts on that one: not this op's business).
    const FreeVerdict v = judge_free(FreeRoute::Kfree, a.addr, 0, 0);
    if (op.size == 0 || v.handle != kNone || (op.gfp & ~__GFP_BITS_MASK) != 0)
      return skip();
    misuse(ErrorKind::InvalidObjectPointer, a.addr,
           v.kind == ErrorKind::ObjectDoubleFree ? "(the object is free)" : v.reason);
    const void* r = KM_API(krealloc, ptr_of(a.addr), op.size, op.gfp);
    outcome_ = Outcome{Outcome::Shape::Pointer, addr_of(r)};
    if (r != nullptr)
      fail("krealloc(", h_name(op.handle), " = ", hex(a.addr), ") of ",
           (live ? "an alloc_pages block" : "a freed object"), " returned ", hex(addr_of(r)));
    return;
  }
  if (live)
    check_content(op.handle, "before krealloc");
  const Allocation old = a;
  const std::size_t new_size = static_cast<std::size_t>(op.size);
  const gfp_t gfp = op.gfp;
  fail_next_ = std::max(fail_next_, op.arg);
  const Injection injection(*this);
  const std::uintptr_t p = addr_of(KM_API(krealloc, ptr_of(old.addr), new_size, gfp));
  outcome_ = Outcome{Outcome::Shape::Pointer, p};
  auto where = [&] {
    return cat("krealloc(#", op.handle, " = ", hex(old.addr), ", ", new_size, ") = ", hex(p));
  };
  if (new_size == 0) { // kfree(p), then ZERO_SIZE_PTR
    if (p != kZeroSizePtr)
      fail(where(), ", expected ZERO_SIZE_PTR");
    if (live)
      commit_free(op.handle);
    allocs_[op.handle] = Allocation{.addr = kZeroSizePtr, .kind = Kind::Zero};
    return;
  }
  if (!live) { // krealloc(NULL or ZERO_SIZE_PTR) is kmalloc
    accept_kmalloc(op.handle, new_size, gfp, p, "krealloc(NULL)");
    if (allocs_[op.handle].live)
      fill(op.handle);
    else if (p == 0)
      allocs_[op.handle] = old;
    return;
  }
  const std::size_t ks = old.usable;
  if (new_size <= ks && classes_.predict(new_size, gfp).path != model::front::Path::InvalidGfp) {
    if (p != old.addr)
      fail(where(), ": new_size <= ksize ", ks, " must stay in place");
    // The bytes stay. With __GFP_ZERO the heap zeroes [new_size, ksize) (Linux 6.12, "mm:
    // krealloc: consider spare memory for __GFP_ZERO"); the zeros then reach from the pattern's
    // end only if the old ones reached new_size. Shrinking below the pattern leaves pattern
    // bytes past new_size, so no zeros are known there.
    const bool joins = new_size <= a.pattern_len || a.zero_hi >= new_size;
    if ((gfp & __GFP_ZERO) != 0 && joins)
      a.zero_hi = ks;
    else if ((gfp & __GFP_ZERO) != 0 || new_size < a.pattern_len)
      a.zero_hi = 0;
    a.pattern_len = std::min(a.pattern_len, new_size);
    a.requested = new_size;
    check_content(op.handle, "after krealloc in place");
    return;
  }
  // A new object, allocated while the old one is live, which is then freed; or NULL (out of
  // contract, or no memory: accept_kmalloc judges it), and the old object stays as it was.
  --live_count_;
  copied_ = ks;
  a = Allocation{}; // what accept_kmalloc leaves live, if anything, is the new object
  accept_kmalloc(op.handle, new_size, gfp & ~__GFP_ZERO, p, "krealloc");
  copied_ = 0;
  Allocation& b = allocs_[op.handle];
  if (!b.live) {
    ++live_count_;
    b = old;
    check_content(op.handle, "after a failed krealloc");
    return;
  }
  release(old);
  // The new object holds the old one's bytes (its ksize); with __GFP_ZERO the rest reads zero
  // if the old object's zeros reached its end.
  b.pattern_len = std::min(old.pattern_len, new_size);
  const bool joins = old.zero_hi >= ks;
  b.zero_hi = (gfp & __GFP_ZERO) != 0 && joins ? b.usable : std::min(old.zero_hi, ks);
  check_content(op.handle, "after krealloc moved it");
}

void HeapChecker::check_index(std::size_t size) {
  const int idx = KM_API(kmalloc_index, size);
  if (idx != classes_.kmalloc_index(size))
    fail("kmalloc_index(", size, ") = ", idx, ", expected ", classes_.kmalloc_index(size));
  const std::size_t up = KM_API(kmalloc_size_roundup, size);
  if (up != classes_.kmalloc_size_roundup(size))
    fail("kmalloc_size_roundup(", size, ") = ", up, ", expected ",
         classes_.kmalloc_size_roundup(size));
}

void HeapChecker::do_check_size(const Op& op) {
  const std::size_t size = static_cast<std::size_t>(op.size);
  if (cfg_.profile == Profile::None)
    return skip();
  check_index(size);
  const model::front::Prediction pred = classes_.predict(size, op.gfp);
  const std::uintptr_t got = addr_of(heap_->kmalloc_cache(size, op.gfp));
  const std::uintptr_t want =
      pred.path == model::front::Path::Slab ? caches_[kmalloc_cache_of(pred)].ptr : 0;
  if (got != want)
    fail("kmalloc_cache(", size, ", ", gfp_to_string(op.gfp), ") is ", hex(got), ", expected ",
         (want != 0 ? pred.cache_name : "NULL"), " (SC1)");
}

// ---------------------------------------------------------------- kmem_cache

void HeapChecker::do_create(const Op& op) {
  const auto cn = static_cast<CacheId>(created_.size());
  names_.push_back("c" + std::to_string(cn));
  if (op.name_len == kEmptyName)
    names_.back().clear();
  else if (op.name_len != kNullName && op.name_len > names_.back().size())
    names_.back().resize(op.name_len, '_');
  const char* name = op.name_len == kNullName ? nullptr : names_.back().c_str();
  ModelCache c;
  c.name = name != nullptr ? names_.back() : "(null)";
  c.flags = op.flags;
  c.ctor = op.arg != 0;
  const auto size = static_cast<unsigned>(op.size);
  const auto align = static_cast<unsigned>(op.n);
  c.layout = model::slab::calc_layout(cfg_, size, align, op.flags, c.ctor);
  const char* refused = name == nullptr || c.name.empty() || c.name.size() > 63
                            ? "name" // kmalloc.h: a name of 1 to 63 characters
                        : live_created_ >= max_caches_ ? "no free kmem_cache descriptor"
                                                       : nullptr;
  if (c.layout.ok && refused != nullptr) {
    c.layout.ok = false;
    c.layout.why = refused;
  }
  void (*ctor)(void*) = c.ctor ? &test_ctor : nullptr;
  struct kmem_cache* s = KM_API(kmem_cache_create, name, size, align, op.flags, ctor);
  const std::uintptr_t ptr = addr_of(s);
  outcome_ = Outcome{Outcome::Shape::Pointer, ptr};
  const auto id = static_cast<std::uint32_t>(caches_.size());
  created_.push_back(id);
  if (!c.layout.ok) {
    misuse((op.flags & SLAB_PANIC) != 0 ? ErrorKind::SlabPanic : ErrorKind::CacheCreateFailed,
           kAnyAddress);
    if (ptr != 0)
      fail("kmem_cache_create must fail (", c.layout.why, "), returned ", hex(ptr));
    caches_.push_back(std::move(c));
    return;
  }
  if (ptr == 0)
    fail("kmem_cache_create(", size, ", ", align, ", ", slab_flags_to_string(op.flags),
         ") returned NULL for a valid cache");
  // heap.h: a destroyed cache's handle stays invalid after its descriptor holds a new cache
  // (64-bit handles carry a generation), so no handle value is ever returned twice.
  for (const ModelCache& other : caches_)
    if (other.ptr == ptr && (other.live || sizeof(void*) == 8))
      fail("kmem_cache_create returned ", hex(ptr), ", the handle of ",
           (other.live ? "live " : "destroyed "), other.name);
  if (const std::string d = layout_difference(heap_->cache_info(s), c.layout); !d.empty())
    fail(c.name, ":", d, " (AL2, AC1)");
  c.ptr = ptr;
  c.live = true;
  put_id(by_ptr_, ptr, id);
  ++live_created_;
  caches_.push_back(std::move(c));
}

void HeapChecker::do_shrink_destroy(const Op& op) {
  if (op.cache >= created_.size() || !caches_[created_[op.cache]].live)
    return skip();
  const std::uint32_t id = created_[op.cache];
  ModelCache& c = caches_[id];
  struct kmem_cache* s = ptr_of_cache(c.ptr);
  if (op.kind == OpKind::CacheShrink) {
    const int ret = KM_API(kmem_cache_shrink, s);
    outcome_ = Outcome{Outcome::Shape::Number, static_cast<std::uintptr_t>(ret)};
    forget_cpu_slabs(c);
    settle(id, std::count(c.cpu_slab.begin(), c.cpu_slab.end(), kSomeSlab) == 0);
    if (ret != (c.slabs.empty() ? 0 : 1))
      fail("kmem_cache_shrink(", c.name, ") = ", ret, " with ", c.slabs.size(), " slabs left");
    return;
  }
  KM_API(kmem_cache_destroy, s);
  forget_cpu_slabs(c);
  if (c.live_objects != 0 || !c.flushed()) { // (another thread's cpu slab counts as in use)
    misuse(ErrorKind::ObjectsRemaining, kAnyAddress);
    settle(id, false);
    return;
  }
  settle(id, true);
  c.live = false;
  erase_id(by_ptr_, c.ptr);
  --live_created_;
}

// An empty slab may go back to the page allocator whenever the heap likes; page_info of the
// slab's first page says whether it did. all_must_go: shrink and destroy release every one (but
// the cpu slabs of other threads' slots).
void HeapChecker::settle(std::uint32_t cache, bool all_must_go) {
  ModelCache& c = caches_[cache];
  std::vector<std::uint32_t> kept;
  for (std::uint32_t id : c.empties) {
    const ModelSlab& s = slabs_[id];
    if (s.cache != cache || s.live != 0)
      continue;
    const PageInfo pi = heap_->page_info(ptr_of(s.base));
    if (pi.owner == PageOwner::Slab && pi.block == s.base && addr_of(pi.cache) == c.ptr) {
      if (all_must_go && std::find(c.cpu_slab.begin(), c.cpu_slab.end(), id) == c.cpu_slab.end())
        fail(c.name, ": the empty slab ", hex(s.base), " was not released");
      kept.push_back(id);
      continue;
    }
    if (pi.owner != PageOwner::Free)
      fail(c.name, ": its empty slab ", hex(s.base), " became ", page_owner_name(pi.owner),
           " without the model seeing an allocation");
    release_slab(id);
  }
  c.empties = std::move(kept);
}

// SLUB's min_partial rule (__slab_free, deactivate_slab): an empty slab goes back to the page
// allocator when the node already holds min_partial partial slabs, else it joins them. So a
// discard leaves at least min_partial - 1 partial slabs, and at most min_partial empty slabs
// wait on the partial list (the others are cpu slabs). Which slabs those are is policy.
void HeapChecker::check_min_partial(std::uint32_t cache, bool discarded) {
  const ModelCache& c = caches_[cache];
  const std::size_t min_partial = c.layout.min_partial;
  if (!discarded && c.empties.size() <= min_partial)
    return; // (every empty slab is in empties, some twice): neither bound below can break
  const CacheInfo info = heap_->cache_info(ptr_of_cache(c.ptr));
  std::size_t empty = 0, partly = 0;
  for (std::uint32_t id : c.slabs) {
    empty += slabs_[id].live == 0;
    partly += slabs_[id].live != 0 && slabs_[id].live < slabs_[id].capacity;
  }
  if (discarded && info.nr_partial + 1 < min_partial)
    fail(c.name, ": an empty slab went back to the page allocator leaving ", info.nr_partial,
         " partial slabs, min_partial is ", min_partial);
  // Empty slabs on the partial list: at most `empty` minus the cpu slabs, at least nr_partial
  // minus the slabs with objects in use and free.
  if (empty > min_partial + info.nr_cpu_slabs ||
      (info.nr_partial > partly && info.nr_partial - partly > min_partial))
    fail(c.name, ": ", empty, " empty slabs, ", info.nr_partial, " partial, ", info.nr_cpu_slabs,
         " cpu slabs: more than min_partial ", min_partial, " empty slabs on the partial list");
}

void HeapChecker::settle_all() {
  for (std::uint32_t i = 0; i < caches_.size(); ++i)
    if (!caches_[i].empties.empty())
      settle(i, false);
}

void HeapChecker::forget_cpu_slabs(ModelCache& c) const {
  if (!opts_.threads)
    return c.cpu_slab.clear();
  for (const unsigned slot : {cpu_, cfg_.nr_cpus})
    if (slot < c.cpu_slab.size())
      c.cpu_slab[slot] = kNone;
}

bool HeapChecker::others_hold(const ModelCache& c) const {
  for (std::size_t slot = 0; slot < c.cpu_slab.size(); ++slot)
    if (slot != cpu_ && c.cpu_slab[slot] != kNone)
      return true;
  return false;
}

void HeapChecker::release_slab(std::uint32_t id) {
  ModelSlab& s = slabs_[id];
  ModelCache& c = caches_[s.cache];
  c.capacity -= s.capacity;
  c.slabs.erase(std::find(c.slabs.begin(), c.slabs.end(), id));
  pages_.release(s.base >> pages_.page_shift(), s.order);
  std::replace(c.cpu_slab.begin(), c.cpu_slab.end(), id, kNone);
  s.cache = kNone;
}

// ---------------------------------------------------------------- frees and misuse

// What a free must do, from the model's own state, in the precedence the API documents.
HeapChecker::FreeVerdict HeapChecker::judge_free(FreeRoute route, std::uintptr_t addr,
                                                 unsigned order, std::uintptr_t cache_ptr) const {
  const std::uintptr_t ps = pages_.page_size();
  if (route == FreeRoute::FreePages || route == FreeRoute::PageFree) {
    if (addr == 0 || (route == FreeRoute::PageFree && !pages_.in_arena(addr)))
      return {.noop = true}; // free_pages(0) / __free_pages(virt_to_page(outside) = NULL)
    if (route == FreeRoute::PageFree)
      addr &= ~(ps - 1);
    auto refuse = [&](ErrorKind kind) {
      return FreeVerdict{.report = true, .kind = kind, .address = addr};
    };
    if (!pages_.in_arena(addr) || (addr & (ps - 1)) != 0)
      return refuse(ErrorKind::PageInvalidFree);
    const PageUse u = pages_.use(addr >> pages_.page_shift());
    if (u.use == Use::Free)
      return refuse(ErrorKind::PageDoubleFree);
    if (u.use == Use::Metadata ||
        addr != (u.use == Use::Slab ? slabs_[u.id].base : allocs_[u.id].addr))
      return refuse(ErrorKind::PageInvalidFree); // not the head of a block
    if (u.use != Use::Pages)
      return refuse(ErrorKind::PageOwnerMismatch);
    if (order != allocs_[u.id].order)
      return refuse(ErrorKind::PageOrderMismatch);
    return {.handle = u.id};
  }
  if (addr == 0 || (route != FreeRoute::CacheFree && addr == kZeroSizePtr))
    return {.noop = true};
  // kfree names why a pointer is no object (kmalloc.h); kmem_cache_free words its own reports.
  const bool kfree = route != FreeRoute::CacheFree;
  auto refuse = [&](ErrorKind kind, const char* why) {
    return FreeVerdict{
        .report = true, .kind = kind, .address = addr, .reason = kfree ? why : nullptr};
  };
  const std::uint32_t want_cache = kfree ? kNone : find_id(by_ptr_, cache_ptr);
  if (!kfree && want_cache == kNone)
    return {.report = true, .kind = ErrorKind::InvalidCache, .address = cache_ptr};
  if (!pages_.in_arena(addr))
    return refuse(ErrorKind::InvalidObjectPointer, "(outside the heap)");
  const PageUse u = pages_.use(addr >> pages_.page_shift());
  if (u.use == Use::Large && kfree && addr == allocs_[u.id].addr)
    return {.handle = u.id};
  static constexpr const char* kNoObject[] = {"(heap metadata)", "(in a free page)", nullptr,
                                              "(not the start of a large kmalloc)",
                                              "(in an alloc_pages block)"};
  static_assert(static_cast<int>(Use::Metadata) == 0 && static_cast<int>(Use::Free) == 1 &&
                static_cast<int>(Use::Slab) == 2 && static_cast<int>(Use::Large) == 3 &&
                static_cast<int>(Use::Pages) == 4);
  if (u.use != Use::Slab)
    return refuse(ErrorKind::InvalidObjectPointer, kNoObject[static_cast<unsigned>(u.use)]);
  const ModelSlab& s = slabs_[u.id];
  if (want_cache != kNone && s.cache != want_cache)
    return refuse(ErrorKind::WrongCache, nullptr);
  const unsigned stride = caches_[s.cache].layout.size;
  if ((addr - s.base) % stride != 0 || (addr - s.base) / stride >= s.capacity)
    return refuse(ErrorKind::InvalidObjectPointer, "(not at an object boundary)");
  const Handle occupant = slot(s, static_cast<unsigned>((addr - s.base) / stride));
  if (occupant >= kWiped)
    return refuse(ErrorKind::ObjectDoubleFree, nullptr);
  return {.handle = occupant};
}

void HeapChecker::call_free(FreeRoute route, std::uintptr_t addr, unsigned order,
                            std::uintptr_t cache_ptr) {
  switch (route) {
  case FreeRoute::Own: // resolved by do_free
  case FreeRoute::Kfree: KM_API(kfree, ptr_of(addr)); break;
  case FreeRoute::KfreeSensitive: KM_API(kfree_sensitive, ptr_of(addr)); break;
  case FreeRoute::CacheFree: KM_API(kmem_cache_free, ptr_of_cache(cache_ptr), ptr_of(addr)); break;
  case FreeRoute::FreePages: KM_API(free_pages, addr, order); break;
  case FreeRoute::PageFree: {
    struct page* pg = KM_API(virt_to_page, ptr_of(addr));
    if ((pg == nullptr) != !pages_.in_arena(addr))
      fail("virt_to_page(", hex(addr), ") is ", (pg != nullptr ? "a page" : "NULL"));
    free_page_struct(pg, order);
    break;
  }
  }
}

void HeapChecker::free_checked(FreeRoute route, std::uintptr_t addr, unsigned order,
                               std::uintptr_t cache_ptr, Handle own) {
  const FreeVerdict v = judge_free(route, addr, order, cache_ptr);
  if (v.handle != kNone)
    check_content(v.handle, "before its free");
  call_free(route, addr, order, cache_ptr);
  outcome_ = Outcome{Outcome::Shape::At, addr};
  if (v.report) {
    misuse(v.kind, v.address, v.reason);
    outcome_.refused = true;
  } else if (v.handle != kNone) {
    if (v.handle != own)
      outcome_.frees = v.handle;
    commit_free(v.handle, route == FreeRoute::KfreeSensitive ? kWiped : kNone);
  }
}

void HeapChecker::free_page_struct(struct page* pg, unsigned order) {
  c_ ? ::__free_pages(pg, order) : heap_->free_pages(pg, order);
}

void HeapChecker::release(const Allocation& a, Handle leave) {
  if (a.kind != Kind::Object)
    return pages_.release(a.addr >> pages_.page_shift(), a.order);
  ModelSlab& s = slabs_[a.slab];
  ModelCache& c = caches_[a.cache];
  slot(s, static_cast<unsigned>((a.addr - s.base) / c.layout.size)) = leave;
  --s.live;
  --c.live_objects;
  if (s.live == 0) {
    c.empties.push_back(a.slab);
    settle(a.cache, false); // the op touched this slab: did it go back?
    check_min_partial(a.cache, slabs_[a.slab].cache == kNone);
  }
}

void HeapChecker::commit_free(Handle h, Handle leave) {
  Allocation& a = allocs_[h];
  release(a, leave);
  a.live = false;
  --live_count_;
}

// Free: #h by its own route or another, at an interior offset or with another order. FreeAt: an
// address of Where. Either way judge_free says what the free must do.
void HeapChecker::do_free(const Op& op) {
  const std::size_t ps = pages_.page_size();
  const bool at = op.kind == OpKind::FreeAt;
  const auto where = static_cast<Where>(op.arg % kWheres);
  FreeRoute route = op.route;
  std::uintptr_t addr = 0;
  unsigned order = 0;
  std::uint32_t cache = 0; // kmem_cache_free's when the op names no cN: #h's or the slab's
  if (!at) {
    if (op.handle >= allocs_.size())
      return skip();
    const Allocation& a = allocs_[op.handle];
    if (route == FreeRoute::Own)
      route = a.kind == Kind::Pages                                 ? FreeRoute::FreePages
              : a.kind == Kind::Object && !caches_[a.cache].kmalloc ? FreeRoute::CacheFree
                                                                    : FreeRoute::Kfree;
    addr = a.addr;
    if (op.size != 0 && a.usable > 1)
      addr += 1 + op.size % (a.usable - 1);
    order = op.arg != 0 ? (a.order + op.arg) % (cfg_.max_order + 1) : a.order;
    cache = a.kind == Kind::Object ? a.cache : 0;
  } else {
    switch (where) {
    case Where::Outside: addr = addr_of(outside_) + op.size % 128; break;
    case Where::Below: addr = pages_.arena_start() - 64; break;
    case Where::End: addr = pages_.arena_end(); break;
    case Where::ArenaPage: {
      addr = pages_.arena_start() + ((op.size / ps) % pages_.npages()) * ps + op.size % ps;
      if ((op.size >> 28) == 0xf && pages_.metadata_pages() != 0) // aimed at a metadata page
        addr = pages_.arena_start() + (op.size / ps) % pages_.metadata_pages() * ps; // (its start)
      break;
    }
    case Where::SlabTail: {
      std::vector<std::uint32_t> tails;
      for (std::uint32_t i = 0; i < slabs_.size(); ++i) {
        const ModelSlab& s = slabs_[i];
        if (s.cache != kNone &&
            std::size_t{s.capacity} * caches_[s.cache].layout.size < ps << s.order)
          tails.push_back(i);
      }
      if (tails.empty())
        return skip();
      const ModelSlab& s = slabs_[tails[op.size % tails.size()]];
      const std::uintptr_t used = std::uintptr_t{s.capacity} * caches_[s.cache].layout.size;
      // Half of the time exactly one past the last object: where an off-by-one lets it pass.
      addr =
          s.base + used + ((op.size & 0x100) != 0 ? 0 : (op.size >> 9) % ((ps << s.order) - used));
      cache = s.cache;
      break;
    }
    }
  }
  std::uintptr_t cache_ptr = 0;
  if (route == FreeRoute::CacheFree) {
    if (op.cache < created_.size())
      cache_ptr = caches_[created_[op.cache]].ptr;
    else if ((at || op.cache == kNoCache) && cache < caches_.size())
      cache_ptr = caches_[cache].ptr;
    if (cache_ptr == 0)
      return skip();
  }
  // FreeAt: __free_pages of memory that is no page descriptor: the checker's own, or (an odd
  // address in the arena) a pointer 1..7 bytes into the descriptor of addr's page.
  const bool in_arena = pages_.in_arena(addr);
  if (at && route == FreeRoute::PageFree && (in_arena ? addr % 2 == 1 : where == Where::Outside)) {
    const std::uintptr_t bad =
        in_arena ? addr_of(KM_API(virt_to_page, ptr_of(addr))) + 1 + (addr % ps >> 1) % 7
                 : addr_of(outside_ + 64);
    misuse(ErrorKind::PageInvalidFree, in_arena ? bad : kAnyAddress);
    free_page_struct(reinterpret_cast<struct page*>(bad), 0);
    if (in_arena)
      outcome_ = Outcome{Outcome::Shape::At, bad};
    return;
  }
  free_checked(route, addr, order, cache_ptr, at ? kNone : op.handle);
}

void HeapChecker::do_bad_cache(const Op& op) {
  std::uintptr_t bad = 0;
  const auto kind = static_cast<BadPointer>(op.arg % kBadPointers);
  const std::uintptr_t own = op.cache < created_.size() ? caches_[created_[op.cache]].ptr : 0;
  switch (kind) {
  case BadPointer::Stale: bad = own; break;
  case BadPointer::Interior: bad = own != 0 ? own + 8 : 0; break;
  case BadPointer::Foreign: bad = addr_of(outside_); break;
  }
  if (bad == 0 || find_id(by_ptr_, bad) != kNone) // no pointer, or a live cache: not misuse
    return skip();
  struct kmem_cache* s = ptr_of_cache(bad);
  ++misuse_;
  if (op.n % 4 == 1) { // kmem_cache_free: judged as every free is
    const std::uintptr_t obj = op.handle < allocs_.size() ? allocs_[op.handle].addr : 0;
    const FreeVerdict v = judge_free(FreeRoute::CacheFree, obj, 0, bad);
    call_free(FreeRoute::CacheFree, obj, 0, bad);
    if (v.report)
      expect(v.kind, v.address, v.reason);
    return;
  }
  expect(ErrorKind::InvalidCache, bad);
  if (op.n % 4 == 2)
    (void)KM_API(kmem_cache_shrink, s);
  else if (op.n % 4 == 3)
    KM_API(kmem_cache_destroy, s);
  else if (const void* r = KM_API(kmem_cache_alloc, s, GFP_KERNEL); r != nullptr)
    fail("kmem_cache_alloc of a bad cache pointer returned ", hex(addr_of(r)));
}

// ---------------------------------------------------------------- content

void HeapChecker::fill(Handle h) {
  Allocation& a = allocs_[h];
  auto* b = reinterpret_cast<unsigned char*>(a.addr);
  const std::uint64_t word = splitmix64(h);
  for_sampled(0, a.requested,
              [&](std::size_t lo, std::size_t hi) { write_pattern(b, word, lo, hi); });
  a.pattern_len = a.requested;
}

void HeapChecker::check_content(Handle h, const char* when) const {
  const Allocation& a = allocs_[h];
  const auto* b = reinterpret_cast<const unsigned char*>(a.addr);
  const std::size_t pat = std::min(a.pattern_len, a.requested);
  const std::uint64_t word = splitmix64(h);
  std::size_t bad = ~std::size_t{0};
  auto find = [&](const std::uint64_t* w) {
    return [&, w](std::size_t lo, std::size_t hi) {
      if (bad == ~std::size_t{0})
        if (const std::size_t i = first_difference(b, w, lo, hi); i != hi)
          bad = i;
    };
  };
  for_sampled(0, pat, find(&word));
  if (bad != ~std::size_t{0})
    fail(h_name(h), " at ", hex(a.addr), " byte +", bad, " is ", hex(b[bad]), ", its pattern ",
         hex(pattern(h, bad)), ", ", when, " (NO2)");
  for_sampled(pat, std::min(a.zero_hi, a.requested), find(nullptr));
  if (bad != ~std::size_t{0})
    fail(h_name(h), " at ", hex(a.addr), " byte +", bad, " is ", hex(b[bad]), ", must read zero, ",
         when);
}

// ---------------------------------------------------------------- reports and counts

void HeapChecker::check_reports() {
  if (!std::equal(reports_.begin(), reports_.end(), expected_.begin(), expected_.end(),
                  [](const Seen& r, const Expected& e) {
                    return r.kind == e.kind &&
                           (e.address == kAnyAddress || r.address == e.address) &&
                           (e.reason == nullptr || r.message.find(e.reason) != std::string::npos);
                  })) {
    std::string what = "reports differ (MU1): expected";
    for (const Expected& e : expected_)
      what += std::string(" [") + error_kind_name(e.kind) + " " +
              (e.address == kAnyAddress ? "any" : hex(e.address)) +
              (e.reason != nullptr ? std::string(" ") + e.reason : "") + "]";
    what += expected_.empty() ? " none; got" : "; got";
    for (const Seen& r : reports_)
      what += " [" + r.message + "]";
    if (reports_.empty())
      what += " none";
    fail(what);
  }
  reports_.clear();
  expected_.clear();
}

void HeapChecker::check_counts() {
  static constexpr const char* kUseNames[] = {"metadata", "free", "slab", "large kmalloc",
                                              "alloc_pages"};
  for (int attempt = 0;; ++attempt) {
    const PageCounts pc = heap_->page_counts();
    const std::size_t got[] = {pc.metadata, pc.free, pc.slab, pc.large_kmalloc, pc.page_alloc};
    std::string diff = pc.total != pages_.npages() ? cat("page_counts total ", pc.total) : "";
    for (unsigned u = 0; u < 5 && diff.empty(); ++u)
      if (const std::size_t want = pages_.pages_used_for(static_cast<Use>(u)); got[u] != want)
        diff =
            cat("page_counts: ", got[u], " ", kUseNames[u], " pages, the model ", want, " (AC2)");
    if (diff.empty())
      diff = zone_mismatch();
    if (diff.empty())
      return;
    if (attempt == 1)
      fail(diff);
    settle_all(); // an empty slab the op did not touch may have gone back
  }
}

// Per zone: NR_FREE_PAGES and free_area[order].nr_free (AC2), cheap enough for every op.
std::string HeapChecker::zone_mismatch() const {
  for (unsigned z = 0; z < pages_.nr_zones(); ++z) {
    const ZoneInfo zi = heap_->zone_info(z);
    if (zi.free_pages != pages_.zone_free_pages(z))
      return cat("zone ", z, " free_pages ", zi.free_pages, ", the model ",
                 pages_.zone_free_pages(z), " (AC2)");
    for (unsigned o = 0; o <= cfg_.max_order; ++o)
      if (zi.nr_free[o] != pages_.nr_free(z, o))
        return cat("zone ", z, " nr_free[", o, "] ", zi.nr_free[o], ", the model ",
                   pages_.nr_free(z, o), " (AC2)");
  }
  return "";
}

void HeapChecker::walk(bool with_validate) {
  since_walk_ = 0;
  ++walks_;
  std::size_t broken = 0;
  if (with_validate)
    broken = c_ ? static_cast<std::size_t>(::kmalloc_validate()) : heap_->validate();
  if (broken != 0) // (its Corruption reports name them)
    fail("validate() found ", broken,
         " broken invariants, the first: ", reports_.empty() ? "?" : reports_.front().message);
  settle_all();
  // AC3: the free blocks, exactly.
  std::vector<FreeBlock>& got = heap_blocks_;
  got.clear();
  heap_->for_each_free_block(
      [](void* ctx, const FreeBlock& b) {
        static_cast<std::vector<FreeBlock>*>(ctx)->push_back(b);
      },
      &got);
  // Every block the heap lists is one of the model's, listed once, and there are as many.
  bool same_blocks = got.size() == pages_.free_block_count();
  seen_.resize(pages_.npages());
  if (++seen_epoch_ == 0) // wrapped: forget every mark
    std::fill(seen_.begin(), seen_.end(), seen_epoch_++);
  const std::uint32_t epoch = seen_epoch_;
  for (const FreeBlock& b : got) {
    if (!same_blocks)
      break;
    same_blocks = b.zone < pages_.nr_zones() && b.order <= pages_.max_order() &&
                  pages_.is_free_block(b.zone, b.pfn, b.order) &&
                  seen_[b.pfn - pages_.start_pfn()] != epoch;
    if (same_blocks)
      seen_[b.pfn - pages_.start_pfn()] = epoch;
  }
  if (!same_blocks) { // say where: both lists sorted, the first difference
    std::vector<FreeBlock>& want = model_blocks_;
    pages_.free_blocks(want); // by zone, then pfn
    std::sort(got.begin(), got.end(),
              [](const FreeBlock& x, const FreeBlock& y) { return block_key(x) < block_key(y); });
    std::string what = cat("free blocks differ (AC3): heap ", got.size(), ", model ", want.size());
    const auto [g, w] = std::mismatch(
        got.begin(), got.end(), want.begin(), want.end(),
        [](const FreeBlock& x, const FreeBlock& y) { return block_key(x) == block_key(y); });
    if (g != got.end())
      what += cat("; heap has zone ", g->zone, " pfn ", hex(g->pfn), " order ", g->order);
    if (w != want.end())
      what += cat("; model has zone ", w->zone, " pfn ", hex(w->pfn), " order ", w->order);
    fail(what);
  }
  // page_info of the first and the last page of every free block names that block.
  for (const FreeBlock& b : got)
    for (const std::uintptr_t pfn : {b.pfn, b.pfn + (std::uintptr_t{1} << b.order) - 1}) {
      const PageInfo pi = heap_->page_info(ptr_of(pfn << pages_.page_shift()));
      if (pi.owner != PageOwner::Free || pi.block != b.pfn << pages_.page_shift() ||
          pi.order != b.order)
        fail("page_info(", hex(pfn << pages_.page_shift()), ") says ", page_owner_name(pi.owner),
             " block ", hex(pi.block), " order ", pi.order, ", the model's free block ",
             hex(b.pfn << pages_.page_shift()), " order ", b.order, " (AC3)");
    }
  if (const std::string z = zone_mismatch(); !z.empty())
    fail(z);
  // AC1: every cache's counters; the cache list.
  std::size_t reclaimable = 0, unreclaimable = 0, live_caches = 0;
  for (const ModelCache& c : caches_) {
    if (!c.live)
      continue;
    ++live_caches;
    const CacheInfo info = heap_->cache_info(ptr_of_cache(c.ptr));
    const std::size_t free = c.capacity - c.live_objects;
    if (info.nr_slabs != c.slabs.size() || info.total_objects != c.capacity ||
        info.free_objects != free ||
        info.nr_partial + info.nr_full + info.nr_cpu_slabs != info.nr_slabs ||
        info.active_objects < c.live_objects || info.active_objects > c.capacity)
      fail(c.name, ": slabs/objects/free/active ", info.nr_slabs, "/", info.total_objects, "/",
           info.free_objects, "/", info.active_objects, ", the model ", c.slabs.size(), "/",
           c.capacity, "/", free, "/", c.live_objects, "..", c.capacity, " (AC1)");
    check_min_partial(static_cast<std::uint32_t>(&c - caches_.data()), false);
    if (c.flushed() && (info.nr_cpu_slabs != 0 || info.active_objects != c.live_objects))
      fail(c.name, ": ", info.nr_cpu_slabs, " cpu slabs and active_objects ", info.active_objects,
           " since the flush, the model none and ", c.live_objects, " (AC1)");
    // slabinfo's active_objs is the total minus the free objects on the partial lists: the free
    // objects of the cpu slabs (known: the slab each cpu last allocated from) count as active.
    std::size_t cpu_free = 0;
    for (std::size_t cpu = 0; cpu < c.cpu_slab.size(); ++cpu)
      if (const std::uint32_t id = c.cpu_slab[cpu];
          id < kSomeSlab &&
          std::find(c.cpu_slab.begin(), c.cpu_slab.begin() + cpu, id) == c.cpu_slab.begin() + cpu)
        cpu_free += slabs_[id].capacity - slabs_[id].live;
    if (info.active_objects < c.live_objects + cpu_free)
      fail(c.name, ": active_objects ", info.active_objects, ", but ", c.live_objects,
           " live objects and ", cpu_free, " free in cpu slabs (AC1)");
    std::size_t bytes = 0;
    for (std::uint32_t id : c.slabs)
      bytes += pages_.page_size() << slabs_[id].order;
    ((c.flags & SLAB_RECLAIM_ACCOUNT) != 0 ? reclaimable : unreclaimable) += bytes;
  }
  unreclaimable += pages_.pages_used_for(Use::Large) * pages_.page_size();
  const SlabBytes sb = heap_->slab_bytes();
  if (sb.reclaimable != reclaimable || sb.unreclaimable != unreclaimable)
    fail("slab_bytes reclaimable/unreclaimable ", sb.reclaimable, "/", sb.unreclaimable,
         ", the model ", reclaimable, "/", unreclaimable);
  std::size_t listed = 0;
  heap_->for_each_cache(
      [](void* ctx, const struct kmem_cache*) { ++*static_cast<std::size_t*>(ctx); }, &listed);
  if (listed != live_caches)
    fail("for_each_cache lists ", listed, " caches, the model has ", live_caches, " live");
  // NO2 for everything live.
  for (Handle h = 0; h < allocs_.size(); ++h)
    if (allocs_[h].live)
      check_content(h, "at the full walk");
}

void HeapChecker::finish() {
  for (Handle h = 0; h < allocs_.size(); ++h)
    if (allocs_[h].live)
      apply(Op{.kind = OpKind::Free, .handle = h, .route = FreeRoute::Own});
  if (opts_.threads) { // the last thread's flush; the others flushed their slots before
    apply(Op{.kind = OpKind::Flush});
    for (const ModelCache& c : caches_)
      if (c.live && !c.flushed())
        fail("finish(): ", c.name, " may have a cpu slab on another slot than ", cpu_,
             " (threads mode: every thread flushes before finish)");
  }
  for (CacheId cn = 0; cn < created_.size(); ++cn)
    if (caches_[created_[cn]].live)
      apply(Op{.kind = OpKind::CacheDestroy, .cache = cn});
  heap_->flush_cpu_slabs();
  for (std::uint32_t i = 0; i < caches_.size(); ++i) {
    ModelCache& c = caches_[i];
    if (!c.live || !c.kmalloc)
      continue;
    forget_cpu_slabs(c);
    const int kept = heap_->kmem_cache_shrink(ptr_of_cache(c.ptr));
    settle(i, true);
    if (kept != 0)
      fail("kmem_cache_shrink(", c.name, ") = ", kept, " after everything was freed");
  }
  check_reports();
  check_counts();
  walk();
  std::vector<FreeBlock>& now = model_blocks_;
  pages_.free_blocks(now);
  const bool initial = std::equal(
      now.begin(), now.end(), initial_blocks_.begin(), initial_blocks_.end(),
      [](const FreeBlock& x, const FreeBlock& y) { return block_key(x) == block_key(y); });
  if (!initial)
    fail("after freeing everything the free blocks are not the initial ones (AC4)");
}

// ---------------------------------------------------------------- messages

std::string HeapChecker::describe_config() const {
  std::string out = cat("profile=", profile_name(cfg_.profile), " page_shift=", cfg_.page_shift,
                        " max_order=", cfg_.max_order, " min_size=", cfg_.kmalloc_min_size,
                        " nr_cpus=", cfg_.nr_cpus, " pages=", pages_.npages(),
                        " metadata=", pages_.metadata_pages(), " dma_pages=", pages_.dma_pages(),
                        " hardened=", cfg_.freelist_hardened ? 1 : 0);
  if (c_)
    out += " via=C";
  return out;
}

std::string HeapChecker::history() const {
  std::string out;
  for (std::size_t i = ops_count_ > kHistory ? ops_count_ - kHistory : 0; i < ops_count_; ++i) {
    const Step& step = history_[i % kHistory];
    out += "  " + std::to_string(i) + ": ";
    if (step.cache_made != kNoCache)
      out += "c" + std::to_string(step.cache_made) + " = ";
    out += to_string(step.op);
    if (step.made != kNone)
      out += " -> " + h_name(step.made);
    if (step.outcome.shape != Outcome::Shape::None)
      out += "  " + step.outcome.text();
    out += "\n";
  }
  return out;
}

void HeapChecker::fail_with(const std::string& what) const {
  throw CheckError("heap check failed: " + what + "\n  config: " + describe_config() +
                   "\n  ops:\n" + history());
}

void check_heap_ops(const Config& cfg, std::span<const Op> ops, std::FILE* trace) {
  HeapChecker checker;
  const Status st = checker.init(cfg, nullptr, 0);
  if (!st.ok)
    throw CheckError(std::string("heap init failed: ") + st.message);
  checker.set_trace(trace);
  for (const Op& op : ops)
    checker.apply(op);
  checker.finish();
}

} // namespace km::oracle
