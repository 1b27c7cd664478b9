// model/kmalloc_checker.cpp - KmallocChecker: one op on heap and model, then every comparison.
#include "model/kmalloc_checker.h"

#include <algorithm>
#include <cstring>
#include <set>
#include <tuple>
#include <variant>

namespace km::model::front {

namespace {

template <class... Fs> struct Overloaded : Fs... { using Fs::operator()...; };
template <class... Fs> Overloaded(Fs...) -> Overloaded<Fs...>;

constexpr std::uintptr_t kZeroSizePtr = 16;

std::string hex(std::uint64_t v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%#llx", static_cast<unsigned long long>(v));
  return buf;
}

std::uintptr_t addr_of(const void* p) {
  return reinterpret_cast<std::uintptr_t>(p);
}

// The sampled byte positions of an object of n bytes: [0, 4096) and the first 32 bytes of every
// further 4 KiB. Calls fn(i) for each.
template <class Fn> void for_sampled(std::size_t n, Fn fn) {
  for (std::size_t i = 0; i < n;) {
    fn(i);
    ++i;
    if (i >= 4096 && i % 4096 == 32)
      i += 4096 - 32;
  }
}

bool block_less(const FreeBlock& a, const FreeBlock& b) {
  return std::tie(a.zone, a.pfn, a.order) < std::tie(b.zone, b.pfn, b.order);
}

const char* state_name(HandleState s) {
  switch (s) {
  case HandleState::Null: return "NULL";
  case HandleState::Zero: return "ZERO_SIZE_PTR";
  case HandleState::Live: return "live";
  case HandleState::Freed: return "freed";
  }
  return "?";
}

} // namespace

KmallocChecker::~KmallocChecker() {
  heap_.destroy();
}

void KmallocChecker::record(void* context, const ErrorReport& report) {
  auto* self = static_cast<KmallocChecker*>(context);
  self->reports_.push_back(RecordedReport{report.kind, report.address, report.message});
}

std::string KmallocChecker::describe_config() const {
  return model_.describe() +
         "; arena_pages=" + std::to_string(heap_.initialized() ? heap_.arena_pages() : 0) +
         " dma_zone_size=" + std::to_string(cfg_.dma_zone_size) +
         " nr_cpus=" + std::to_string(cfg_.nr_cpus) + " seed=" + std::to_string(cfg_.random_seed);
}

std::string KmallocChecker::history() const {
  std::string out;
  Handle next = 0;
  for (std::size_t i = 0; i < ops_.size(); ++i) {
    out += "  [" + std::to_string(i) + "] " + to_string(ops_[i]);
    if (creates_handle(ops_[i]))
      out += " -> #" + std::to_string(next++);
    if (i < outcomes_.size() && !outcomes_[i].empty())
      out += " " + outcomes_[i];
    out += '\n';
  }
  return out;
}

void KmallocChecker::fail(const std::string& what) const {
  std::string msg = "kmalloc front-end check failed";
  if (!ops_.empty())
    msg += " at op [" + std::to_string(ops_.size() - 1) + "] " + op_name(ops_.back());
  msg += ": " + what + "\nconfig: " + describe_config() + "\nops:\n" + history() +
         "as one line: " + format_ops(ops_) + "\nas C++:\n";
  for (const Op& op : ops_)
    msg += "    " + to_cpp(op) + ",\n";
  if (!reports_.empty()) {
    msg += "reports during this op:\n";
    for (const RecordedReport& r : reports_)
      msg += "  " + r.message + "\n";
  }
  throw CheckError(msg);
}

std::vector<FreeBlock> KmallocChecker::free_blocks() const {
  std::vector<FreeBlock> out;
  heap_.for_each_free_block(
      [](void* ctx, const FreeBlock& b) {
        static_cast<std::vector<FreeBlock>*>(ctx)->push_back(b);
      },
      &out);
  std::sort(out.begin(), out.end(), block_less);
  return out;
}

std::uintptr_t KmallocChecker::arena_end() const {
  return heap_.arena_start() + heap_.arena_pages() * heap_.page_size();
}

Status KmallocChecker::init(const Config& cfg, void* region, std::size_t bytes) {
  heap_.destroy();
  ops_.clear();
  outcomes_.clear();
  reports_.clear();
  expected_.clear();
  allocs_.clear();
  live_.clear();
  large_bytes_ = 0;
  rcl_used_ = false;
  fail_next_ = 0;
  misuse_count_ = 0;
  skipped_ = 0;
  since_validate_ = 0;
  cfg_ = cfg;
  model_.init(cfg);
  const Status st = region != nullptr ? heap_.init(cfg, region, bytes) : heap_.init(cfg);
  if (!st.ok)
    return st;
  heap_.set_report_handler(&KmallocChecker::record, this);

  const KmallocLimits l = heap_.kmalloc_limits();
  if (l.profile != cfg.profile || l.shift_low != model_.shift_low() ||
      l.shift_high != model_.shift_high() || l.shift_max != model_.shift_max() ||
      l.min_size != model_.min_size() || l.minalign != model_.minalign() ||
      l.max_cache_size != model_.max_cache_size() || l.max_size != model_.max_size())
    fail("kmalloc_limits: shift_low=" + std::to_string(l.shift_low) + " shift_high=" +
         std::to_string(l.shift_high) + " shift_max=" + std::to_string(l.shift_max) +
         " min_size=" + std::to_string(l.min_size) + " minalign=" + std::to_string(l.minalign) +
         " max_cache_size=" + std::to_string(l.max_cache_size) +
         " max_size=" + std::to_string(l.max_size) + "; the model has " + model_.describe());

  // SC1: the kmalloc caches that exist are exactly the model's.
  std::vector<std::string> names;
  struct Collect {
    const Heap* heap;
    std::vector<std::string>* names;
  } collect{&heap_, &names};
  heap_.for_each_cache(
      [](void* ctx, const kmem_cache* c) {
        auto* col = static_cast<Collect*>(ctx);
        col->names->push_back(col->heap->cache_info(c).name);
      },
      &collect);
  std::vector<std::string> expected_names = model_.all_cache_names();
  std::sort(names.begin(), names.end());
  std::sort(expected_names.begin(), expected_names.end());
  if (names != expected_names) {
    std::string have, want;
    for (const std::string& n : names)
      have += " " + n;
    for (const std::string& n : expected_names)
      want += " " + n;
    fail("kmalloc caches differ:\n  heap: " + have + "\n  model:" + want);
  }
  initial_blocks_ = free_blocks();
  check_reports();
  check_state();
  return st;
}

void KmallocChecker::expect(ErrorKind kind, std::uintptr_t addr, std::string reason) {
  expected_.push_back(ExpectedReport{kind, addr, std::move(reason)});
}

void KmallocChecker::check_reports() {
  bool ok = reports_.size() == expected_.size();
  for (std::size_t i = 0; ok && i < reports_.size(); ++i) {
    const RecordedReport& r = reports_[i];
    const ExpectedReport& e = expected_[i];
    ok = r.kind == e.kind && r.address == e.address &&
         (e.reason.empty() || r.message.find(e.reason) != std::string::npos);
  }
  if (ok)
    return;
  std::string want;
  for (const ExpectedReport& e : expected_)
    want += std::string("  ") + error_kind_name(e.kind) + " @" + hex(e.address) + " (" + e.reason +
            ")\n";
  fail("reports differ: got " + std::to_string(reports_.size()) + ", expected " +
       std::to_string(expected_.size()) + ":\n" + (want.empty() ? "  (none)\n" : want));
}

void KmallocChecker::check_state() {
  const std::size_t bad = heap_.validate();
  if (bad != 0)
    fail("validate() found " + std::to_string(bad) + " broken invariants");
  const PageCounts pc = heap_.page_counts();
  const std::size_t ps = heap_.page_size();
  if (pc.large_kmalloc * ps != large_bytes_)
    fail("page_counts().large_kmalloc = " + std::to_string(pc.large_kmalloc) +
         " pages, the model's live large blocks hold " + std::to_string(large_bytes_ / ps));
  if (pc.total != pc.free + pc.metadata + pc.page_alloc + pc.slab + pc.large_kmalloc)
    fail("page_counts() do not add up to total");
  const SlabBytes sb = heap_.slab_bytes();
  if (sb.reclaimable + sb.unreclaimable != (pc.slab + pc.large_kmalloc) * ps)
    fail("slab_bytes() reclaimable " + std::to_string(sb.reclaimable) + " + unreclaimable " +
         std::to_string(sb.unreclaimable) + " != (slab + large_kmalloc pages) * PAGE_SIZE = " +
         std::to_string((pc.slab + pc.large_kmalloc) * ps));
  if (sb.unreclaimable < large_bytes_)
    fail("slab_bytes().unreclaimable " + std::to_string(sb.unreclaimable) +
         " does not include the large kmalloc blocks (" + std::to_string(large_bytes_) + ")");
  if (!rcl_used_ && sb.reclaimable != 0)
    fail("slab_bytes().reclaimable = " + std::to_string(sb.reclaimable) +
         " but no reclaimable kmalloc cache was used");
}

long KmallocChecker::live_at(std::uintptr_t addr) const {
  auto it = live_.find(addr);
  return it == live_.end() ? -1 : static_cast<long>(it->second.second);
}

long KmallocChecker::live_containing(std::uintptr_t addr) const {
  auto it = live_.upper_bound(addr);
  if (it == live_.begin())
    return -1;
  --it;
  return addr < it->second.first ? static_cast<long>(it->second.second) : -1;
}

void KmallocChecker::insert_live(Handle h) {
  const Allocation& a = allocs_[h];
  live_[a.addr] = {a.addr + a.pred.ksize, h};
  if (a.pred.path == Path::Large)
    large_bytes_ += a.pred.ksize;
}

void KmallocChecker::erase_live(Handle h) {
  const Allocation& a = allocs_[h];
  live_.erase(a.addr);
  if (a.pred.path == Path::Large)
    large_bytes_ -= a.pred.ksize;
}

bool KmallocChecker::has_free_block(unsigned min_order, bool dma_only) {
  bool found = false;
  const bool has_dma = heap_.nr_zones() > 1 && std::strcmp(heap_.zone_info(0).name, "DMA") == 0;
  for (const FreeBlock& b : free_blocks())
    if (b.order >= min_order && (!dma_only || !has_dma || b.zone == 0))
      found = true;
  return found;
}

bool KmallocChecker::null_allowed(const Prediction& pred, std::size_t size, gfp_t gfp,
                                  bool injected) {
  if (injected)
    return true;
  if (pred.path == Path::Large)
    return !has_free_block(pred.order, pred.dma);
  if (pred.path != Path::Slab)
    return false;
  const kmem_cache* c = heap_.kmalloc_cache(size, gfp);
  if (c == nullptr)
    fail("kmalloc_cache(" + std::to_string(size) + ") is NULL, expected " + pred.cache_name);
  const CacheInfo ci = heap_.cache_info(c);
  if (ci.free_objects != 0)
    return false;
  return !has_free_block(ci.min_order, pred.dma);
}

void KmallocChecker::check_new(const Prediction& pred, std::size_t size, gfp_t gfp,
                               std::uintptr_t p, bool injected, const char* what) {
  switch (pred.path) {
  case Path::InvalidGfp:
  case Path::TooLarge:
    if (p != 0)
      fail(std::string(what) + " returned " + hex(p) + ", expected NULL (" + path_name(pred.path) +
           ")");
    if (pred.warn)
      expect(pred.report, 0);
    ++misuse_count_;
    return;
  case Path::Zero:
    if (p != kZeroSizePtr)
      fail(std::string(what) + "(0) returned " + hex(p) + ", expected ZERO_SIZE_PTR");
    return;
  case Path::Slab:
  case Path::Large: break;
  }
  if (p == 0) {
    if (!null_allowed(pred, size, gfp, injected))
      fail(std::string(what) + "(" + std::to_string(size) + ") returned NULL, but " +
           (pred.path == Path::Slab ? pred.cache_name
                                    : "a block of order " + std::to_string(pred.order)) +
           " could be allocated");
    return;
  }
  const std::string where = std::string(what) + "(" + std::to_string(size) + ") = " + hex(p);
  if (p % pred.align != 0)
    fail(where + " is not aligned to " + std::to_string(pred.align) + " (AL1)");
  if (p < heap_.arena_start() || p + pred.ksize > arena_end())
    fail(where + " + " + std::to_string(pred.ksize) + " is not inside the arena");
  auto it = live_.lower_bound(p + pred.ksize);
  if (it != live_.begin()) {
    --it;
    if (it->second.first > p)
      fail(where + " (ksize " + std::to_string(pred.ksize) + ") overlaps live #" +
           std::to_string(it->second.second) + " at " + hex(it->first) + " (NO1)");
  }
  const PageInfo pi = heap_.page_info(reinterpret_cast<const void*>(p));
  const bool has_dma = heap_.nr_zones() > 1 && std::strcmp(heap_.zone_info(0).name, "DMA") == 0;
  if (pred.dma && has_dma && pi.zone != 0)
    fail(where + " is in zone " + std::to_string(pi.zone) + ", not ZONE_DMA");
  if (pred.path == Path::Slab) {
    if (pi.owner != PageOwner::Slab || pi.cache == nullptr)
      fail(where + ": page owner " + page_owner_name(pi.owner) + ", expected a slab of " +
           pred.cache_name);
    const CacheInfo ci = heap_.cache_info(pi.cache);
    if (pred.cache_name != ci.name)
      fail(where + " comes from " + ci.name + ", expected " + pred.cache_name + " (SC1)");
    if (heap_.kmalloc_cache(size, gfp) != pi.cache)
      fail(where + ": kmalloc_cache(size, gfp) is not the cache the object came from");
    const SlabObject so = heap_.slab_object(reinterpret_cast<const void*>(p));
    if (so.cache != pi.cache || so.object != p)
      fail(where + ": slab_object names object " + hex(so.object) + ", not the pointer");
  } else {
    if (pi.owner != PageOwner::LargeKmalloc || pi.block != p || pi.order != pred.order)
      fail(where + ": page_info owner " + page_owner_name(pi.owner) + " block " + hex(pi.block) +
           " order " + std::to_string(pi.order) + ", expected a large kmalloc block of order " +
           std::to_string(pred.order) + " at the pointer (SC2)");
  }
  const std::size_t ks = heap_.ksize(reinterpret_cast<const void*>(p));
  if (ks != pred.ksize)
    fail(where + ": ksize " + std::to_string(ks) + ", expected " + std::to_string(pred.ksize) +
         " (SC3)");
  if ((gfp & __GFP_ZERO) != 0 && std::strcmp(what, "krealloc") != 0) {
    // (krealloc has copied the old object over the zeroed one: check_content checks it.)
    const auto* b = reinterpret_cast<const unsigned char*>(p);
    for_sampled(size, [&](std::size_t i) {
      if (b[i] != 0)
        fail(where + " with __GFP_ZERO: byte " + std::to_string(i) + " is " + hex(b[i]));
    });
  }
  if (pred.type == CacheType::Reclaim)
    rcl_used_ = true;
}

void KmallocChecker::check_content(Handle h, const char* when) {
  const Allocation& a = allocs_[h];
  if (a.state != HandleState::Live)
    return;
  const auto* b = reinterpret_cast<const unsigned char*>(a.addr);
  for_sampled(a.requested, [&](std::size_t i) {
    int want = -1;
    if (i < a.pattern_len)
      want = pattern(h, i);
    else if (i >= a.zero_lo && i < a.zero_hi)
      want = 0;
    if (want >= 0 && b[i] != want)
      fail("#" + std::to_string(h) + " at " + hex(a.addr) + " " + when + ": byte " +
           std::to_string(i) + " is " + hex(b[i]) + ", expected " +
           hex(static_cast<unsigned>(want)) + " (NO2; pattern_len " +
           std::to_string(a.pattern_len) + ", zero [" + std::to_string(a.zero_lo) + ", " +
           std::to_string(a.zero_hi) + "))");
  });
}

void KmallocChecker::do_alloc(std::size_t size, gfp_t gfp, int kind, std::uint64_t n) {
  const bool injected = fail_next_ != 0;
  if (injected)
    heap_.inject_page_alloc_failures(fail_next_);
  fail_next_ = 0;
  const Handle h = static_cast<Handle>(allocs_.size());
  allocs_.emplace_back();
  void* r = nullptr;
  std::size_t bytes = size;
  bool overflow = false;
  const char* what = "kmalloc";
  switch (kind) {
  case 0: r = heap_.kmalloc(size, gfp); break;
  case 1:
    what = "kzalloc";
    r = heap_.kzalloc(size, gfp);
    gfp |= __GFP_ZERO;
    break;
  case 2:
    what = "kcalloc";
    overflow = __builtin_mul_overflow(n, size, &bytes);
    r = heap_.kcalloc(n, size, gfp);
    gfp |= __GFP_ZERO;
    break;
  default:
    what = "kmalloc_array";
    overflow = __builtin_mul_overflow(n, size, &bytes);
    r = heap_.kmalloc_array(n, size, gfp);
    break;
  }
  if (injected)
    heap_.inject_page_alloc_failures(0);
  const std::uintptr_t p = addr_of(r);
  outcome_ = "= " + hex(p);
  if (overflow) {
    if (p != 0)
      fail(std::string(what) + " with n * size overflowing returned " + hex(p) + ", not NULL");
    return;
  }
  const Prediction pred = model_.predict(bytes, gfp);
  check_new(pred, bytes, gfp, p, injected, what);
  Allocation& a = allocs_[h];
  if (p == 0)
    return;
  if (p == kZeroSizePtr) {
    a.state = HandleState::Zero;
    a.addr = p;
    return;
  }
  a.state = HandleState::Live;
  a.addr = p;
  a.requested = bytes;
  a.pred = pred;
  if ((gfp & __GFP_ZERO) != 0) {
    a.zero_lo = 0;
    a.zero_hi = pred.ksize;
  }
  insert_live(h);
}

void KmallocChecker::do_fill(Handle h) {
  Allocation& a = allocs_[h];
  auto* b = reinterpret_cast<unsigned char*>(a.addr);
  for_sampled(a.requested, [&](std::size_t i) { b[i] = pattern(h, i); });
  a.pattern_len = a.requested;
  if (a.zero_lo < a.requested)
    a.zero_lo = std::min(a.requested, a.zero_hi);
}

void KmallocChecker::do_ksize(Handle h) {
  const Allocation& a = allocs_[h];
  if (a.state == HandleState::Freed) {
    outcome_ = "(freed: skipped)";
    ++skipped_;
    return;
  }
  const std::size_t want = a.state == HandleState::Live ? a.pred.ksize : 0;
  const std::size_t got = heap_.ksize(reinterpret_cast<const void*>(a.addr));
  outcome_ = "= " + std::to_string(got);
  if (got != want)
    fail("ksize(#" + std::to_string(h) + " = " + hex(a.addr) + ") = " + std::to_string(got) +
         ", expected " + std::to_string(want));
}

void KmallocChecker::do_kfree(Handle h, bool sensitive) {
  Allocation& a = allocs_[h];
  if (a.state == HandleState::Freed) {
    if (sensitive) {
      outcome_ = "(freed: skipped)";
      ++skipped_;
      return;
    }
    do_kfree_twice(h);
    return;
  }
  if (a.state == HandleState::Live)
    check_content(h, "before kfree");
  const void* p = reinterpret_cast<const void*>(a.addr);
  if (sensitive)
    heap_.kfree_sensitive(p);
  else
    heap_.kfree(p);
  if (a.state == HandleState::Live) {
    erase_live(h);
    a.state = HandleState::Freed;
  }
}

void KmallocChecker::do_kfree_twice(Handle h) {
  const Allocation& a = allocs_[h];
  if (a.state != HandleState::Freed) {
    outcome_ = "(not freed: skipped)";
    ++skipped_;
    return;
  }
  const std::uintptr_t addr = a.addr;
  const long other = live_at(addr);
  if (other >= 0) {
    outcome_ = "(the address is live #" + std::to_string(other) + " now: frees it)";
    do_kfree(static_cast<Handle>(other), false);
    return;
  }
  ++misuse_count_;
  const long inside = live_containing(addr);
  if (inside >= 0 && allocs_[inside].pred.path == Path::Large) {
    expect(ErrorKind::InvalidObjectPointer, addr, "not the start of a large kmalloc");
    heap_.kfree(reinterpret_cast<const void*>(addr));
    return;
  }
  const PageInfo pi = heap_.page_info(reinterpret_cast<const void*>(addr));
  if (pi.owner == PageOwner::Free) {
    expect(ErrorKind::InvalidObjectPointer, addr, "in a free page");
  } else if (pi.owner == PageOwner::Slab) {
    const SlabObject so = heap_.slab_object(reinterpret_cast<const void*>(addr));
    if (so.cache != nullptr && so.object == addr) {
      // A free object of a kmalloc cache: the allocation bitmap reports it (the kernel could
      // not tell without SLAB_CONSISTENCY_CHECKS).
      expect(ErrorKind::ObjectDoubleFree, addr, "Object already free");
    } else {
      expect(ErrorKind::InvalidObjectPointer, addr, "not at an object boundary");
    }
  } else {
    fail("kfree twice of " + hex(addr) + ": page owner " + page_owner_name(pi.owner) +
         ", which the model does not explain");
  }
  heap_.kfree(reinterpret_cast<const void*>(addr));
}

void KmallocChecker::do_interior(const KfreeInterior& op) {
  const Allocation& a = allocs_[op.handle];
  if (a.state != HandleState::Live || a.pred.ksize < 2) {
    outcome_ = "(not live: skipped)";
    ++skipped_;
    return;
  }
  const std::uintptr_t addr = a.addr + 1 + op.offset % (a.pred.ksize - 1);
  outcome_ = "(" + hex(addr) + ")";
  ++misuse_count_;
  expect(ErrorKind::InvalidObjectPointer, addr,
         a.pred.path == Path::Large ? "not the start of a large kmalloc"
                                    : "not at an object boundary");
  heap_.kfree(reinterpret_cast<const void*>(addr));
}

void KmallocChecker::do_foreign(const KfreeForeign& op) {
  const std::size_t ps = heap_.page_size();
  std::uintptr_t addr = 0;
  struct page* block = nullptr;
  const char* reason = "outside the heap";
  switch (op.where) {
  case Foreign::Stack: addr = addr_of(foreign_) + op.offset % 64; break;
  case Foreign::Below: addr = heap_.arena_start() - 64; break;
  case Foreign::End: addr = arena_end(); break;
  case Foreign::Metadata:
    addr = heap_.arena_start() + op.offset % ps;
    reason = "heap metadata";
    break;
  case Foreign::PageBlock:
    block = heap_.alloc_pages(GFP_KERNEL | __GFP_NOWARN, 0);
    if (block == nullptr) {
      outcome_ = "(alloc_pages failed: skipped)";
      ++skipped_;
      return;
    }
    addr = addr_of(heap_.page_address(block)) + op.offset % ps;
    reason = "in an alloc_pages block";
    break;
  }
  if (op.where == Foreign::Metadata &&
      heap_.page_info(reinterpret_cast<const void*>(addr)).owner != PageOwner::Metadata)
    fail("the first page of the arena is not metadata");
  outcome_ = "(" + hex(addr) + ")";
  ++misuse_count_;
  expect(ErrorKind::InvalidObjectPointer, addr, reason);
  heap_.kfree(reinterpret_cast<const void*>(addr));
  if (block != nullptr)
    heap_.free_pages(block, 0);
}

void KmallocChecker::do_krealloc(const Krealloc& op) {
  Allocation& a = allocs_[op.handle];
  if (a.state == HandleState::Freed) {
    outcome_ = "(freed: skipped)";
    ++skipped_;
    return;
  }
  const unsigned fail_count = std::max(op.fail, fail_next_);
  fail_next_ = 0;
  const bool injected = fail_count != 0;
  const std::size_t new_size = op.new_size;
  const gfp_t gfp = op.gfp;
  const bool live = a.state == HandleState::Live;
  if (live)
    check_content(op.handle, "before krealloc");
  if (injected)
    heap_.inject_page_alloc_failures(fail_count);
  void* r = heap_.krealloc(reinterpret_cast<const void*>(a.addr), new_size, gfp);
  if (injected)
    heap_.inject_page_alloc_failures(0);
  const std::uintptr_t p = addr_of(r);
  outcome_ = "= " + hex(p);
  const std::string where = "krealloc(#" + std::to_string(op.handle) + " = " + hex(a.addr) + ", " +
                            std::to_string(new_size) + ") = " + hex(p);

  if (new_size == 0) { // kfree(p); return ZERO_SIZE_PTR
    if (p != kZeroSizePtr)
      fail(where + ", expected ZERO_SIZE_PTR");
    if (live)
      erase_live(op.handle);
    a = Allocation{};
    a.state = HandleState::Zero;
    a.addr = kZeroSizePtr;
    return;
  }
  if (!live) { // NULL / ZERO_SIZE_PTR: a kmalloc
    const Prediction pred = model_.predict(new_size, gfp);
    check_new(pred, new_size, gfp, p, injected, "krealloc(NULL)");
    if (p == 0)
      return;
    a = Allocation{};
    a.state = HandleState::Live;
    a.addr = p;
    a.requested = new_size;
    a.pred = pred;
    if ((gfp & __GFP_ZERO) != 0)
      a.zero_hi = pred.ksize;
    insert_live(op.handle);
    return;
  }
  if ((gfp & ~__GFP_BITS_MASK) != 0) {
    if (p != 0)
      fail(where + ", expected NULL for invalid gfp bits");
    if ((gfp & __GFP_NOWARN) == 0)
      expect(ErrorKind::InvalidGfp, 0);
    ++misuse_count_;
    return;
  }
  const std::size_t ks = a.pred.ksize;
  if (new_size <= ks) { // in place
    if (p != a.addr)
      fail(where + ": new_size <= ksize " + std::to_string(ks) + " must stay in place");
    if (heap_.ksize(r) != ks)
      fail(where + ": ksize changed in place");
    a.pattern_len = std::min(a.pattern_len, new_size);
    if ((gfp & __GFP_ZERO) != 0) {
      const bool joins = a.zero_lo < a.zero_hi && a.zero_hi >= new_size;
      a.zero_lo = joins ? std::min(a.zero_lo, new_size) : new_size;
      a.zero_hi = ks;
    }
    a.requested = new_size;
    a.zero_lo = std::max(a.zero_lo, a.pattern_len);
    check_content(op.handle, "after krealloc in place");
    return;
  }
  const Prediction pred = model_.predict(new_size, gfp);
  if (p == 0) {
    if (pred.path == Path::TooLarge) {
      if (pred.warn)
        expect(ErrorKind::SizeTooLarge, 0);
      ++misuse_count_;
    } else if (!null_allowed(pred, new_size, gfp, injected)) {
      fail(where + ": NULL, but the new object could be allocated");
    }
    check_content(op.handle, "after a failed krealloc");
    return;
  }
  if (pred.path != Path::Slab && pred.path != Path::Large)
    fail(where + ": expected NULL (" + path_name(pred.path) + ")");
  check_new(pred, new_size, gfp, p, injected, "krealloc");
  erase_live(op.handle);
  // The new object holds the old one's ksize bytes; with __GFP_ZERO the rest reads zero.
  const bool zero = (gfp & __GFP_ZERO) != 0;
  if (zero) {
    const bool joins = a.zero_lo < a.zero_hi && a.zero_hi >= ks;
    a.zero_lo = joins ? a.zero_lo : ks;
    a.zero_hi = pred.ksize;
  } else {
    a.zero_hi = std::min(a.zero_hi, ks);
  }
  a.addr = p;
  a.requested = new_size;
  a.pred = pred;
  a.zero_lo = std::max(a.zero_lo, a.pattern_len);
  insert_live(op.handle);
  check_content(op.handle, "after krealloc moved it");
}

void KmallocChecker::check_size(std::size_t size, gfp_t gfp) {
  const std::string what = "size " + std::to_string(size);
  const int idx = heap_.kmalloc_index(size);
  if (idx != model_.kmalloc_index(size))
    fail(what + ": kmalloc_index " + std::to_string(idx) + ", expected " +
         std::to_string(model_.kmalloc_index(size)));
  const std::size_t ru = heap_.kmalloc_size_roundup(size);
  if (ru != model_.kmalloc_size_roundup(size))
    fail(what + ": kmalloc_size_roundup " + std::to_string(ru) + ", expected " +
         std::to_string(model_.kmalloc_size_roundup(size)));
  const Prediction pred = model_.predict(size, gfp); // unknown gfp bits: no cache
  const kmem_cache* c = heap_.kmalloc_cache(size, gfp);
  if (pred.path != Path::Slab) {
    if (c != nullptr)
      fail(what + ": kmalloc_cache is " + heap_.cache_info(c).name + ", expected none (" +
           path_name(pred.path) + ")");
    return;
  }
  if (c == nullptr)
    fail(what + ": kmalloc_cache is NULL, expected " + pred.cache_name);
  const CacheInfo ci = heap_.cache_info(c);
  if (pred.cache_name != ci.name || ci.object_size != pred.cache_size)
    fail(what + " " + gfp_to_string(gfp) + ": kmalloc_cache is " + ci.name + " (object_size " +
         std::to_string(ci.object_size) + "), expected " + pred.cache_name);
  if (ci.align % pred.align != 0)
    fail(what + ": cache " + ci.name + " align " + std::to_string(ci.align) + ", expected " +
         std::to_string(pred.align));
}

void KmallocChecker::run(const Op& op) {
  auto handle_ok = [&](Handle h) {
    if (h >= allocs_.size())
      fail("op names #" + std::to_string(h) + ", but only " + std::to_string(allocs_.size()) +
           " handles exist");
  };
  auto live = [&](Handle h) {
    handle_ok(h);
    if (allocs_[h].state == HandleState::Live && allocs_[h].requested != 0)
      return true;
    outcome_ = std::string("(") + state_name(allocs_[h].state) + ": skipped)";
    ++skipped_;
    return false;
  };
  std::visit(Overloaded{
                 [&](const Kmalloc& o) { do_alloc(o.size, o.gfp, 0); },
                 [&](const Kzalloc& o) { do_alloc(o.size, o.gfp, 1); },
                 [&](const Kcalloc& o) { do_alloc(o.size, o.gfp, o.zero ? 2 : 3, o.n); },
                 [&](const Krealloc& o) {
                   handle_ok(o.handle);
                   do_krealloc(o);
                 },
                 [&](const Kfree& o) {
                   handle_ok(o.handle);
                   do_kfree(o.handle, false);
                 },
                 [&](const KfreeSensitive& o) {
                   handle_ok(o.handle);
                   do_kfree(o.handle, true);
                 },
                 [&](const Ksize& o) {
                   handle_ok(o.handle);
                   do_ksize(o.handle);
                 },
                 [&](const Fill& o) {
                   if (live(o.handle))
                     do_fill(o.handle);
                 },
                 [&](const Verify& o) {
                   if (live(o.handle))
                     check_content(o.handle, "on verify");
                 },
                 [&](const FailNext& o) { fail_next_ = o.count; },
                 [&](const KfreeInterior& o) {
                   handle_ok(o.handle);
                   do_interior(o);
                 },
                 [&](const KfreeTwice& o) {
                   handle_ok(o.handle);
                   do_kfree_twice(o.handle);
                 },
                 [&](const KfreeForeign& o) { do_foreign(o); },
                 [&](const CheckSize& o) { check_size(o.size, o.gfp); },
             },
             op);
}

void KmallocChecker::apply(const Op& op) {
  if (!heap_.initialized())
    throw CheckError("KmallocChecker::apply before a successful init");
  ops_.push_back(op);
  outcomes_.emplace_back();
  reports_.clear();
  expected_.clear();
  outcome_.clear();
  if (trace_ != nullptr) {
    std::fprintf(trace_, "[%zu] %s", ops_.size() - 1, to_string(op).c_str());
    if (creates_handle(op))
      std::fprintf(trace_, " -> #%zu", allocs_.size());
    std::fflush(trace_);
  }
  run(op);
  outcomes_.back() = outcome_;
  if (trace_ != nullptr) {
    std::fprintf(trace_, " %s\n", outcome_.c_str());
    std::fflush(trace_);
  }
  check_reports();
  // CheckSize changes nothing; the full state check runs every validate_interval_ ops, and
  // after every op that reported something.
  const bool due = validate_interval_ != 0 && ++since_validate_ >= validate_interval_;
  if (!std::holds_alternative<CheckSize>(op) && (due || !expected_.empty())) {
    since_validate_ = 0;
    check_state();
  }
}

void KmallocChecker::finish() {
  if (!heap_.initialized())
    return;
  reports_.clear();
  expected_.clear();
  for (Handle h = 0; h < allocs_.size(); ++h) {
    if (allocs_[h].state != HandleState::Live)
      continue;
    check_content(h, "at finish");
    heap_.kfree(reinterpret_cast<const void*>(allocs_[h].addr));
    erase_live(h);
    allocs_[h].state = HandleState::Freed;
  }
  heap_.flush_cpu_slabs();
  std::vector<const kmem_cache*> caches;
  heap_.for_each_cache(
      [](void* ctx, const kmem_cache* c) {
        static_cast<std::vector<const kmem_cache*>*>(ctx)->push_back(c);
      },
      &caches);
  for (const kmem_cache* c : caches)
    heap_.kmem_cache_shrink(const_cast<kmem_cache*>(c));
  check_reports();
  check_state();
  const PageCounts pc = heap_.page_counts();
  if (pc.slab != 0 || pc.large_kmalloc != 0)
    fail("after freeing everything and shrinking: " + std::to_string(pc.slab) + " slab pages and " +
         std::to_string(pc.large_kmalloc) + " large kmalloc pages remain");
  const SlabBytes sb = heap_.slab_bytes();
  if (sb.reclaimable != 0 || sb.unreclaimable != 0)
    fail("slab_bytes() not zero after everything was freed");
  const std::vector<FreeBlock> now = free_blocks();
  if (now.size() != initial_blocks_.size() ||
      !std::equal(now.begin(), now.end(), initial_blocks_.begin(),
                  [](const FreeBlock& x, const FreeBlock& y) {
                    return x.zone == y.zone && x.pfn == y.pfn && x.order == y.order;
                  }))
    fail("AC4: the free blocks differ from the initial ones (" + std::to_string(now.size()) +
         " blocks, initially " + std::to_string(initial_blocks_.size()) + ")");
}

void check_kmalloc_ops(const Config& cfg, std::span<const Op> ops, std::FILE* trace) {
  KmallocChecker checker;
  checker.set_trace(trace);
  const Status st = checker.init(cfg);
  if (!st.ok)
    throw CheckError(std::string("heap init failed: ") + st.message);
  for (const Op& op : ops)
    checker.apply(op);
  checker.finish();
}

} // namespace km::model::front
