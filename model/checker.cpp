// model/checker.cpp - BuddyChecker: one op on heap and model, then every comparison.
#include "model/checker.h"

#include <algorithm>
#include <cstring>
#include <tuple>
#include <variant>

namespace km::model {

namespace {

template <class... Fs> struct Overloaded : Fs... { using Fs::operator()...; };
template <class... Fs> Overloaded(Fs...) -> Overloaded<Fs...>;

constexpr std::size_t kStamp = 16; // bytes stamped at each end of every page

std::string hex(std::uint64_t v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%#llx", static_cast<unsigned long long>(v));
  return buf;
}

std::string bytes_hex(const unsigned char* p, std::size_t n) {
  std::string out;
  char buf[4];
  for (std::size_t i = 0; i < n; ++i) {
    std::snprintf(buf, sizeof buf, "%02x", p[i]);
    out += buf;
  }
  return out;
}

// The 16 bytes handle `seed` stamps at one end (`which`: 0 first, 1 last) of page `page`.
void make_stamp(unsigned char out[kStamp], std::uint64_t seed, std::size_t page, unsigned which) {
  std::uint64_t x = seed ^ (static_cast<std::uint64_t>(page) << 1 | which);
  for (std::size_t i = 0; i < kStamp; i += 8) {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    const std::uint64_t v = x ^ (x >> 29);
    std::memcpy(out + i, &v, 8);
  }
}

bool block_less(const FreeBlock& a, const FreeBlock& b) {
  return std::tie(a.zone, a.pfn, a.order) < std::tie(b.zone, b.pfn, b.order);
}
std::string block_text(const FreeBlock& b) {
  return "(zone " + std::to_string(b.zone) + ", pfn " + hex(b.pfn) + ", order " +
         std::to_string(b.order) + ")";
}

} // namespace

BuddyChecker::~BuddyChecker() {
  heap_.destroy();
}

void BuddyChecker::record(void* context, const ErrorReport& report) {
  auto* self = static_cast<BuddyChecker*>(context);
  self->reports_.push_back(RecordedReport{report.kind, report.address, report.message});
}

std::string BuddyChecker::describe_config() const {
  const Config& c = model_.config();
  return "page_shift=" + std::to_string(c.page_shift) +
         " max_order=" + std::to_string(c.max_order) +
         " arena_pages=" + std::to_string(model_.npages()) +
         " dma_pages=" + std::to_string(c.dma_zone_size >> c.page_shift) +
         " max_caches=" + std::to_string(c.max_caches) +
         " metadata_pages=" + std::to_string(model_.metadata_pages());
}

std::string BuddyChecker::history() const {
  std::string out;
  for (std::size_t i = 0; i < ops_.size(); ++i) {
    out += "  [" + std::to_string(i) + "] " + to_string(ops_[i], model_.handle_orders());
    if (i < outcomes_.size() && !outcomes_[i].empty())
      out += " " + outcomes_[i];
    out += '\n';
  }
  return out;
}

void BuddyChecker::fail(const std::string& what) const {
  std::string msg = "kmalloc buddy check failed";
  if (!ops_.empty())
    msg += " at op [" + std::to_string(ops_.size() - 1) + "] " + op_name(ops_.back());
  msg += ": " + what + "\nconfig: " + describe_config() + "\nops:\n" + history();
  if (!reports_.empty()) {
    msg += "reports during this op:\n";
    for (const RecordedReport& r : reports_)
      msg += "  " + r.message + "\n";
  }
  throw CheckError(msg);
}

Status BuddyChecker::init(const Config& cfg, void* region, std::size_t bytes) {
  heap_.destroy();
  ops_.clear();
  outcomes_.clear();
  reports_.clear();
  misuse_count_ = 0;
  const Status st = region != nullptr ? heap_.init(cfg, region, bytes) : heap_.init(cfg);
  if (!st.ok)
    return st;
  heap_.set_report_handler(&BuddyChecker::record, this);

  // Observed inputs: where the arena starts and how many metadata pages the heap keeps.
  const std::size_t page_size = std::size_t{1} << cfg.page_shift;
  std::uintptr_t start = heap_.arena_start();
  std::size_t npages = cfg.arena_size / page_size;
  if (region != nullptr) {
    const auto begin = reinterpret_cast<std::uintptr_t>(region);
    start = (begin + page_size - 1) & ~(page_size - 1);
    npages = (((begin + bytes) & ~(page_size - 1)) - start) / page_size;
  }
  Config model_cfg = cfg;
  model_cfg.arena_size = npages * page_size;
  model_.init(model_cfg, start, npages, heap_.page_counts().metadata);

  if (heap_.arena_start() != start || heap_.arena_pages() != npages)
    fail("heap arena " + hex(heap_.arena_start()) + " + " + std::to_string(heap_.arena_pages()) +
         " pages, expected " + hex(start) + " + " + std::to_string(npages));
  if (region == nullptr && start % (page_size << cfg.max_order) != 0)
    fail("mmap'd arena " + hex(start) + " is not aligned to the largest block");
  if (heap_.nr_zones() != model_.nr_zones())
    fail("heap has " + std::to_string(heap_.nr_zones()) + " zones, model " +
         std::to_string(model_.nr_zones()));
  for (unsigned z = 0; z < model_.nr_zones(); ++z) {
    const ZoneInfo info = heap_.zone_info(z);
    const ModelZone& mz = model_.zone(z);
    if (mz.name != info.name || mz.start_pfn != info.start_pfn ||
        mz.spanned_pages != info.spanned_pages)
      fail("zone " + std::to_string(z) + ": heap " + info.name + " at pfn " + hex(info.start_pfn) +
           " spanning " + std::to_string(info.spanned_pages) + ", model " + mz.name + " at " +
           hex(mz.start_pfn) + " spanning " + std::to_string(mz.spanned_pages));
  }
  const std::string invariant = model_.check_invariants();
  if (!invariant.empty())
    fail(invariant);
  check_reports(0);
  check_state();
  return st;
}

const Allocation& BuddyChecker::handle_or_fail(Handle h) const {
  if (h >= model_.handle_count())
    fail("op names handle #" + std::to_string(h) + ", but only " +
         std::to_string(model_.handle_count()) + " allocations were made");
  return model_.handle(h);
}

void BuddyChecker::apply(const Op& op) {
  if (!heap_.initialized())
    throw CheckError("BuddyChecker::apply before a successful init");
  ops_.push_back(op);
  outcomes_.emplace_back();
  reports_.clear();
  expected_report_.reset();
  expected_report_address_ = 0;
  outcome_.clear();
  if (trace_ != nullptr) {
    std::fprintf(trace_, "[%zu] %s", ops_.size() - 1,
                 to_string(op, model_.handle_orders()).c_str());
    std::fflush(trace_);
  }

  const Config& cfg = model_.config();
  const std::size_t page_size = model_.page_size();
  std::visit(Overloaded{
                 [&](const AllocPages& o) { do_alloc(o); },
                 [&](const FreePages& o) {
                   const Allocation& a = handle_or_fail(o.handle);
                   if (o.by_page)
                     do_free_page(heap_.virt_to_page(reinterpret_cast<void*>(a.addr)),
                                  a.addr >> cfg.page_shift, a.order);
                   else
                     do_free_address(a.addr, a.order);
                 },
                 [&](const Fill& o) { do_fill(o.handle); },
                 [&](const Verify& o) { do_verify(o.handle); },
                 [&](const InjectFailures& o) {
                   heap_.inject_page_alloc_failures(o.count);
                   model_.inject_failures(o.count);
                 },
                 [&](const DoubleFree& o) {
                   const Allocation& a = handle_or_fail(o.handle);
                   do_free_address(a.addr, a.order);
                 },
                 [&](const FreeWrongOrder& o) {
                   const Allocation& a = handle_or_fail(o.handle);
                   const long order = static_cast<long>(a.order) + o.delta;
                   do_free_address(a.addr, order < 0 ? 0u : static_cast<unsigned>(order));
                 },
                 [&](const FreeInterior& o) {
                   const Allocation& a = handle_or_fail(o.handle);
                   do_free_address(a.addr + o.offset, a.order);
                 },
                 [&](const FreeRaw& o) {
                   do_free_address(model_.arena_start() + (o.page % model_.npages()) * page_size,
                                   o.order);
                 },
                 [&](const FreeOutside& o) {
                   switch (o.where) {
                   case Outside::Below: do_free_address(model_.arena_start() - page_size, 0); break;
                   case Outside::End: do_free_address(model_.arena_end(), 0); break;
                   case Outside::Unaligned: do_free_address(model_.arena_end() + 1, 0); break;
                   case Outside::ForeignPage: do_free_foreign(); break;
                   }
                 },
                 [&](const ValidateAll&) { do_validate_all(); },
             },
             op);
  outcomes_.back() = outcome_;
  check_reports(0);
  check_state();
  if (trace_ != nullptr) {
    std::fprintf(trace_, " %s\n", outcome_.c_str());
    std::fflush(trace_);
  }
}

void BuddyChecker::do_alloc(const AllocPages& op) {
  const AllocExpect e = model_.expect_alloc(op.gfp, op.order);
  struct page* p = heap_.alloc_pages(op.gfp, op.order);
  const auto addr = reinterpret_cast<std::uintptr_t>(heap_.page_address(p));
  const auto h = static_cast<Handle>(model_.handle_count());
  const std::string err = model_.commit_alloc(e, op.gfp, op.order, addr);
  outcome_ = "-> #" + std::to_string(h);
  if (!err.empty())
    fail(err);
  if (e.warning) {
    expected_report_ = e.warning;
    ++misuse_count_;
  }
  if (e.kind != AllocExpect::Success) {
    static const char* const kWhy[] = {"out of contract", "injected failure", "out of memory"};
    outcome_ += " NULL (" + std::string(kWhy[e.kind]) +
                (e.warning ? std::string(", ") + error_kind_name(*e.warning) : "") + ")";
    return;
  }
  const std::uintptr_t pfn = addr >> model_.config().page_shift;
  outcome_ += " = pfn " + hex(pfn) + " in " + model_.zone(e.zone).name + " (split order " +
              std::to_string(e.block_order) + ")";
  if (heap_.virt_to_page(reinterpret_cast<void*>(addr)) != p || heap_.page_to_pfn(p) != pfn)
    fail("virt_to_page / page_to_pfn disagree with page_address for " + hex(addr));
  const PageInfo info = heap_.page_info(reinterpret_cast<void*>(addr));
  if (!info.in_arena || info.owner != PageOwner::PageAlloc || info.block != addr ||
      info.order != op.order || info.zone != e.zone)
    fail("page_info(" + hex(addr) + ") says owner " + page_owner_name(info.owner) + " block " +
         hex(info.block) + " order " + std::to_string(info.order) + " zone " +
         std::to_string(info.zone));
  if (model_.handle(h).zeroed)
    check_fill(h, "after __GFP_ZERO allocation");
}

void BuddyChecker::finish_free(const FreeExpect& e) {
  model_.commit_free(e);
  outcome_ = std::string("=> ") + free_class_name(e.cls);
  if (e.report) {
    expected_report_ = e.report;
    expected_report_address_ = e.report_address;
    outcome_ += std::string(", ") + error_kind_name(*e.report);
    ++misuse_count_;
  } else if (e.cls == FreeClass::Success) {
    outcome_ += " #" + std::to_string(e.handle);
  }
}

void BuddyChecker::do_free_address(std::uintptr_t addr, unsigned order) {
  const FreeExpect e = model_.expect_free_address(addr, order);
  if (e.cls == FreeClass::Success)
    check_fill(e.handle, "before free");
  heap_.free_pages(addr, order);
  finish_free(e);
}

void BuddyChecker::do_free_page(struct page* page, std::uintptr_t pfn, unsigned order) {
  const bool in_arena = pfn >= model_.start_pfn() && pfn < model_.start_pfn() + model_.npages();
  if ((page != nullptr) != in_arena)
    fail("virt_to_page(pfn " + hex(pfn) + ") is " + (page ? "a page" : "NULL") +
         ", the model says the page is " + (in_arena ? "in" : "outside") + " the arena");
  const FreeExpect e = model_.expect_free_page(page != nullptr, pfn, order);
  if (e.cls == FreeClass::Success)
    check_fill(e.handle, "before free");
  heap_.free_pages(page, order);
  finish_free(e);
}

void BuddyChecker::do_free_foreign() {
  FreeExpect e = model_.expect_free_foreign();
  e.report_address = reinterpret_cast<std::uintptr_t>(foreign_page_);
  heap_.free_pages(reinterpret_cast<struct page*>(foreign_page_), 0);
  finish_free(e);
}

void BuddyChecker::do_fill(Handle h) {
  const Allocation& a = handle_or_fail(h);
  if (a.state != HandleState::Live) {
    outcome_ = "(not live: skipped)";
    return;
  }
  const std::size_t page_size = model_.page_size();
  const std::size_t pages = std::size_t{1} << a.order;
  unsigned char stamp[kStamp];
  for (std::size_t i = 0; i < pages; ++i) {
    auto* page = reinterpret_cast<unsigned char*>(a.addr + i * page_size);
    make_stamp(stamp, a.seed, i, 0);
    std::memcpy(page, stamp, kStamp);
    make_stamp(stamp, a.seed, i, 1);
    std::memcpy(page + page_size - kStamp, stamp, kStamp);
  }
  model_.handle(h).filled = true;
}

void BuddyChecker::do_verify(Handle h) {
  const Allocation& a = handle_or_fail(h);
  if (a.state != HandleState::Live) {
    outcome_ = "(not live: skipped)";
    return;
  }
  check_fill(h, "on verify");
}

// NO2: the handle's stamps are intact; an unfilled __GFP_ZERO block reads zero there.
void BuddyChecker::check_fill(Handle h, const char* when) {
  const Allocation& a = model_.handle(h);
  if (!a.filled && !a.zeroed)
    return;
  const std::size_t page_size = model_.page_size();
  const std::size_t pages = std::size_t{1} << a.order;
  unsigned char want[kStamp];
  for (std::size_t i = 0; i < pages; ++i) {
    const auto* page = reinterpret_cast<const unsigned char*>(a.addr + i * page_size);
    for (unsigned which = 0; which < 2; ++which) {
      const unsigned char* got = which == 0 ? page : page + page_size - kStamp;
      if (a.filled)
        make_stamp(want, a.seed, i, which);
      else
        std::memset(want, 0, kStamp);
      if (std::memcmp(got, want, kStamp) != 0)
        fail(std::string("handle #") + std::to_string(h) + " " + when + ": page " +
             std::to_string(i) + (which == 0 ? " first" : " last") + " 16 bytes are " +
             bytes_hex(got, kStamp) + ", expected " + bytes_hex(want, kStamp) +
             (a.filled ? " (fill pattern)" : " (zeroed)"));
    }
  }
}

void BuddyChecker::do_validate_all() {
  // Every page: owner, zone and block as the model has them (one pass over the model's
  // metadata, free blocks and live handles).
  const std::size_t page_size = model_.page_size();
  const std::uintptr_t start = model_.start_pfn();
  struct Expected {
    PageOwner owner = PageOwner::Free;
    bool set = false;
    unsigned zone = 0;
    std::uintptr_t block = 0; // pfn
    unsigned order = 0;
  };
  std::vector<Expected> expected(model_.npages());
  for (std::size_t i = 0; i < model_.metadata_pages(); ++i)
    expected[i] = Expected{PageOwner::Metadata, true, model_.zone_of(start + i), start + i, 0};
  for (unsigned z = 0; z < model_.nr_zones(); ++z)
    for (const ModelBlock& b : model_.zone(z).free)
      for (std::size_t i = 0; i < (std::size_t{1} << b.order); ++i)
        expected[b.pfn - start + i] = Expected{PageOwner::Free, true, z, b.pfn, b.order};
  for (Handle h : model_.live_handles()) {
    const Allocation& a = model_.handle(h);
    const std::uintptr_t pfn = a.addr / page_size;
    for (std::size_t i = 0; i < (std::size_t{1} << a.order); ++i)
      expected[pfn - start + i] = Expected{PageOwner::PageAlloc, true, a.zone, pfn, a.order};
  }
  for (std::size_t i = 0; i < model_.npages(); ++i) {
    const Expected& o = expected[i];
    const std::uintptr_t pfn = start + i;
    if (!o.set)
      fail("model: page " + hex(pfn) + " is neither metadata, free nor allocated");
    const PageInfo info = heap_.page_info(reinterpret_cast<void*>(pfn * page_size));
    if (!info.in_arena || info.owner != o.owner || info.zone != o.zone ||
        info.block != o.block * page_size || info.order != o.order)
      fail("page_info(pfn " + hex(pfn) + "): heap owner " + page_owner_name(info.owner) + " zone " +
           std::to_string(info.zone) + " block " + hex(info.block) + " order " +
           std::to_string(info.order) + "; model owner " + page_owner_name(o.owner) + " zone " +
           std::to_string(o.zone) + " block " + hex(o.block * page_size) + " order " +
           std::to_string(o.order));
  }
  const void* outside[] = {reinterpret_cast<void*>(model_.arena_start() - 1),
                           reinterpret_cast<void*>(model_.arena_end())};
  for (const void* addr : outside)
    if (heap_.page_info(addr).in_arena)
      fail("page_info(" + hex(reinterpret_cast<std::uintptr_t>(addr)) +
           ") claims it is in the arena");

  // /proc/buddyinfo: "Node 0, zone %8s " then "%6lu " per order 0..max_order, then "\n".
  std::string want;
  char buf[64];
  for (unsigned z = 0; z < model_.nr_zones(); ++z) {
    std::snprintf(buf, sizeof buf, "Node 0, zone %8s ", model_.zone(z).name.c_str());
    want += buf;
    for (unsigned o = 0; o <= model_.config().max_order; ++o) {
      std::snprintf(buf, sizeof buf, "%6lu ", static_cast<unsigned long>(model_.nr_free(z, o)));
      want += buf;
    }
    want += '\n';
  }
  const std::size_t length = heap_.buddyinfo(nullptr, 0);
  std::string got(length + 1, '\0');
  heap_.buddyinfo(got.data(), got.size());
  got.resize(length);
  if (got != want)
    fail("buddyinfo:\n" + got + "expected:\n" + want);

  // get_order at every order boundary.
  for (unsigned o = 0; o <= model_.config().max_order + 1; ++o) {
    const std::size_t sizes[] = {(page_size << o) - 1, page_size << o, (page_size << o) + 1};
    for (std::size_t size : sizes)
      if (heap_.get_order(size) != get_order(size, page_size))
        fail("get_order(" + std::to_string(size) + ") = " + std::to_string(heap_.get_order(size)) +
             ", expected " + std::to_string(get_order(size, page_size)));
  }
  for (Handle h : model_.live_handles())
    check_fill(h, "on validate_all");
  const std::string invariant = model_.check_invariants();
  if (!invariant.empty())
    fail(invariant);
}

void BuddyChecker::check_reports(std::size_t from) {
  const std::size_t got = reports_.size() - from;
  const std::size_t want = expected_report_ ? 1 : 0;
  bool ok = got == want;
  if (ok && want == 1) {
    const RecordedReport& r = reports_[from];
    ok = r.kind == *expected_report_ &&
         (expected_report_address_ == 0 || r.address == expected_report_address_);
  }
  if (ok)
    return;
  std::string what = "expected ";
  what += expected_report_
              ? std::string("one ") + error_kind_name(*expected_report_) + " report" +
                    (expected_report_address_ != 0 ? " about " + hex(expected_report_address_)
                                                   : std::string())
              : std::string("no report");
  what += ", got " + std::to_string(got) + ":";
  for (std::size_t i = from; i < reports_.size(); ++i)
    what += std::string(" [") + error_kind_name(reports_[i].kind) + " about " +
            hex(reports_[i].address) + "]";
  fail(what);
}

// expected == nullptr: the model's current free blocks.
std::string BuddyChecker::compare_free_blocks(const std::vector<FreeBlock>* expected_or_null) {
  heap_blocks_.clear();
  heap_.for_each_free_block(
      [](void* ctx, const FreeBlock& b) {
        static_cast<std::vector<FreeBlock>*>(ctx)->push_back(b);
      },
      &heap_blocks_);
  // O(n) set equality: mark each expected block at its page, then each heap block must find
  // its own mark (and clears it, so a block listed twice fails).
  std::size_t expected_count = 0;
  if (expected_or_null != nullptr) {
    expected_count = expected_or_null->size();
  } else {
    for (unsigned z = 0; z < model_.nr_zones(); ++z)
      expected_count += model_.zone(z).free.size();
  }
  if (heap_blocks_.size() == expected_count) {
    marks_.assign(model_.npages(), 0);
    const std::uintptr_t start = model_.start_pfn();
    auto mark = [&](unsigned zone, std::uintptr_t pfn, unsigned order) {
      marks_[pfn - start] = static_cast<std::uint8_t>((zone << 7) | (order + 1));
    };
    if (expected_or_null != nullptr) {
      for (const FreeBlock& b : *expected_or_null)
        mark(b.zone, b.pfn, b.order);
    } else {
      for (unsigned z = 0; z < model_.nr_zones(); ++z)
        for (const ModelBlock& b : model_.zone(z).free)
          mark(z, b.pfn, b.order);
    }
    bool same = true;
    for (const FreeBlock& b : heap_blocks_) {
      const std::uintptr_t i = b.pfn - start;
      if (i >= marks_.size() || b.zone > 1 ||
          marks_[i] != static_cast<std::uint8_t>((b.zone << 7) | (b.order + 1))) {
        same = false;
        break;
      }
      marks_[i] = 0;
    }
    if (same)
      return "";
  }
  const std::vector<FreeBlock> expected =
      expected_or_null != nullptr ? *expected_or_null : model_.free_blocks();
  std::sort(heap_blocks_.begin(), heap_blocks_.end(), block_less);
  std::vector<FreeBlock> missing, extra;
  std::set_difference(expected.begin(), expected.end(), heap_blocks_.begin(), heap_blocks_.end(),
                      std::back_inserter(missing), block_less);
  std::set_difference(heap_blocks_.begin(), heap_blocks_.end(), expected.begin(), expected.end(),
                      std::back_inserter(extra), block_less);
  std::string out = "free blocks differ: heap has " + std::to_string(heap_blocks_.size()) +
                    ", expected " + std::to_string(expected.size()) + ";";
  if (missing.empty() && extra.empty())
    out += " a block is listed twice by the heap";
  for (std::size_t i = 0; i < missing.size() && i < 8; ++i)
    out += " missing " + block_text(missing[i]);
  for (std::size_t i = 0; i < extra.size() && i < 8; ++i)
    out += " extra " + block_text(extra[i]);
  return out;
}

void BuddyChecker::check_state() {
  // One pass over the model's free blocks: nr_free per zone and order, free pages per zone.
  std::size_t want_nr_free[kMaxZones][kMaxOrderLimit + 1] = {};
  std::size_t want_zone_free[kMaxZones] = {};
  std::size_t want_free = 0;
  for (unsigned z = 0; z < model_.nr_zones(); ++z) {
    for (const ModelBlock& b : model_.zone(z).free) {
      ++want_nr_free[z][b.order];
      want_zone_free[z] += std::size_t{1} << b.order;
    }
    want_free += want_zone_free[z];
  }

  // AC2: page counts by owner.
  const PageCounts pc = heap_.page_counts();
  if (pc.total != model_.npages() || pc.metadata != model_.metadata_pages() ||
      pc.free != want_free || pc.page_alloc != model_.live_pages() || pc.slab != 0 ||
      pc.large_kmalloc != 0 ||
      pc.free + pc.metadata + pc.page_alloc + pc.slab + pc.large_kmalloc != pc.total)
    fail("page_counts: total " + std::to_string(pc.total) + " free " + std::to_string(pc.free) +
         " metadata " + std::to_string(pc.metadata) + " alloc_pages " +
         std::to_string(pc.page_alloc) + " slab " + std::to_string(pc.slab) + " large " +
         std::to_string(pc.large_kmalloc) + "; model total " + std::to_string(model_.npages()) +
         " free " + std::to_string(want_free) + " metadata " +
         std::to_string(model_.metadata_pages()) + " alloc_pages " +
         std::to_string(model_.live_pages()));

  // AC3: the free blocks themselves.
  const std::string diff = compare_free_blocks(nullptr);
  if (!diff.empty())
    fail(diff);

  // AC2: nr_free per order and free_pages per zone.
  for (unsigned z = 0; z < model_.nr_zones(); ++z) {
    const ZoneInfo info = heap_.zone_info(z);
    for (unsigned o = 0; o <= kMaxOrderLimit; ++o)
      if (info.nr_free[o] != want_nr_free[z][o])
        fail(std::string("zone ") + info.name + " nr_free[" + std::to_string(o) + "] = " +
             std::to_string(info.nr_free[o]) + ", model " + std::to_string(want_nr_free[z][o]));
    if (info.free_pages != want_zone_free[z])
      fail(std::string("zone ") + info.name + " free_pages = " + std::to_string(info.free_pages) +
           ", model " + std::to_string(want_zone_free[z]));
  }

  // The heap's own walk of every structure.
  const std::size_t before = reports_.size();
  const std::size_t errors = heap_.validate();
  if (errors != 0 || reports_.size() != before) {
    std::string what = "validate() found " + std::to_string(errors) + " errors:";
    for (std::size_t i = before; i < reports_.size(); ++i)
      what += "\n  " + reports_[i].message;
    fail(what);
  }
}

void BuddyChecker::finish() {
  const std::vector<Handle> live = model_.live_handles();
  for (Handle h : live)
    apply(FreePages{h, false});
  // AC4: back to the initial free blocks.
  if (model_.live_pages() != 0)
    fail("model still has live pages after freeing every handle");
  const std::string diff = compare_free_blocks(&model_.initial_free_blocks());
  if (!diff.empty())
    fail("AC4 after freeing everything: " + diff);
  const std::string invariant = model_.check_invariants();
  if (!invariant.empty())
    fail(invariant);
}

void check_ops(const Config& cfg, std::span<const Op> ops, std::FILE* trace) {
  BuddyChecker checker;
  checker.set_trace(trace);
  const Status st = checker.init(cfg);
  if (!st.ok)
    throw CheckError(std::string("heap init failed: ") + st.message);
  for (const Op& op : ops)
    checker.apply(op);
  checker.finish();
}

} // namespace km::model
