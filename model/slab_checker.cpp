// model/slab_checker.cpp - SlabChecker: one op on heap and model, then every comparison.
#include "model/slab_checker.h"

#include <algorithm>
#include <cstring>
#include <tuple>
#include <variant>

namespace km::model::slab {

namespace {

template <class... Fs> struct Overloaded : Fs... { using Fs::operator()...; };
template <class... Fs> Overloaded(Fs...) -> Overloaded<Fs...>;

// Set while a SlabChecker's kmem_cache_alloc runs: the constructor reports to it.
thread_local std::vector<std::uintptr_t>* g_ctor_calls = nullptr;
thread_local unsigned g_ctor_size = 0;

std::string hex(std::uint64_t v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%#llx", static_cast<unsigned long long>(v));
  return buf;
}

std::uint64_t pattern_word(std::uint64_t seed, std::size_t k) {
  std::uint64_t x = seed + 0x9e3779b97f4a7c15ull * (k + 1);
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

void make_pattern(std::vector<unsigned char>& out, std::uint64_t seed, std::size_t n) {
  out.resize(n);
  for (std::size_t i = 0; i < n; i += 8) {
    const std::uint64_t w = pattern_word(seed, i / 8);
    std::memcpy(out.data() + i, &w, std::min<std::size_t>(8, n - i));
  }
}

bool block_less(const FreeBlock& a, const FreeBlock& b) {
  return std::tie(a.zone, a.pfn, a.order) < std::tie(b.zone, b.pfn, b.order);
}

} // namespace

void SlabChecker::test_ctor(void* object) {
  auto* p = static_cast<unsigned char*>(object);
  for (unsigned i = 0; i < g_ctor_size; ++i)
    p[i] = ctor_byte(i);
  if (g_ctor_calls != nullptr)
    g_ctor_calls->push_back(reinterpret_cast<std::uintptr_t>(object));
}

SlabChecker::~SlabChecker() {
  heap_.destroy();
}

void SlabChecker::record(void* context, const ErrorReport& report) {
  auto* self = static_cast<SlabChecker*>(context);
  self->reports_.push_back(RecordedReport{report.kind, report.address, report.message});
}

std::string SlabChecker::describe_config() const {
  const Config& c = model_.config();
  const BuddyModel& b = model_.buddy();
  return "page_shift=" + std::to_string(c.page_shift) +
         " max_order=" + std::to_string(c.max_order) +
         " arena_pages=" + std::to_string(b.npages()) +
         " dma_pages=" + std::to_string(c.dma_zone_size >> c.page_shift) +
         " metadata_pages=" + std::to_string(b.metadata_pages()) +
         " nr_cpus=" + std::to_string(c.nr_cpus) +
         " slub_min_order=" + std::to_string(c.slub_min_order) +
         " slub_max_order=" + std::to_string(c.slub_max_order) +
         " slub_min_objects=" + std::to_string(c.slub_min_objects) +
         " cache_line_size=" + std::to_string(c.cache_line_size) +
         " max_caches=" + std::to_string(c.max_caches) +
         " freelist_hardened=" + (c.freelist_hardened ? "1" : "0") +
         " random_seed=" + std::to_string(c.random_seed);
}

std::string SlabChecker::history() const {
  std::string out;
  const PrintContext ctx{model_.object_caches()};
  CacheId caches = 0;
  ObjectId objects = 0;
  PagesId pages = 0;
  for (std::size_t i = 0; i < ops_.size(); ++i) {
    out += "  [" + std::to_string(i) + "] ";
    if (std::holds_alternative<CacheCreate>(ops_[i])) {
      out += 'c';
      out += std::to_string(caches++);
      out += " = ";
    }
    out += to_string(ops_[i], ctx);
    if (std::holds_alternative<CacheAlloc>(ops_[i]) &&
        (i >= outcomes_.size() || outcomes_[i].empty()))
      out += " -> #" + std::to_string(objects);
    objects += std::holds_alternative<CacheAlloc>(ops_[i]) ? 1 : 0;
    if (std::holds_alternative<AllocPages>(ops_[i]))
      out += " -> p" + std::to_string(pages++);
    if (i < outcomes_.size() && !outcomes_[i].empty())
      out += " " + outcomes_[i];
    out += '\n';
  }
  return out;
}

void SlabChecker::fail(const std::string& what) const {
  std::string msg = "kmalloc slab check failed";
  if (!ops_.empty())
    msg += " at op [" + std::to_string(ops_.size() - 1) + "] " + op_name(ops_.back());
  msg += ": " + what + "\nconfig: " + describe_config() + "\nops:\n" + history() +
         "as one line: " + format_ops(ops_) + "\n";
  if (!reports_.empty()) {
    msg += "reports during this op:\n";
    for (const RecordedReport& r : reports_)
      msg += "  " + r.message + "\n";
  }
  throw CheckError(msg);
}

Status SlabChecker::init(const Config& cfg, void* region, std::size_t bytes) {
  heap_.destroy();
  ops_.clear();
  outcomes_.clear();
  reports_.clear();
  names_.clear();
  misuse_count_ = 0;
  skipped_ = 0;
  const Status st = region != nullptr ? heap_.init(cfg, region, bytes) : heap_.init(cfg);
  if (!st.ok)
    return st;
  heap_.set_report_handler(&SlabChecker::record, this);
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
  expected_report_.reset();
  check_reports();
  check_state();
  return st;
}

std::uintptr_t SlabChecker::cache_ptr(CacheId id) const {
  if (id >= model_.cache_count())
    fail("op names cache c" + std::to_string(id) + ", but only " +
         std::to_string(model_.cache_count()) + " were created");
  return model_.cache(id).ptr;
}

void SlabChecker::apply(const Op& op) {
  if (!heap_.initialized())
    throw CheckError("SlabChecker::apply before a successful init");
  ops_.push_back(op);
  outcomes_.emplace_back();
  reports_.clear();
  expected_report_.reset();
  expected_report_address_ = 0;
  outcome_.clear();
  if (trace_ != nullptr) {
    std::fprintf(trace_, "[%zu] %s", ops_.size() - 1,
                 to_string(op, PrintContext{model_.object_caches()}).c_str());
    std::fflush(trace_);
  }
  auto object = [&](ObjectId id) -> const ModelObject& {
    if (id >= model_.object_count())
      fail("op names object #" + std::to_string(id) + ", but only " +
           std::to_string(model_.object_count()) + " were allocated");
    return model_.object(id);
  };
  auto live_cache = [&](CacheId id) {
    const std::uintptr_t ptr = cache_ptr(id);
    if (ptr != 0 && model_.cache(id).live)
      return true;
    outcome_ = "(cache not live: skipped)";
    ++skipped_;
    return false;
  };
  bool full_sweep = false;
  std::visit(
      Overloaded{
          [&](const CacheCreate& o) { do_create(o); },
          [&](const CacheAlloc& o) {
            if (live_cache(o.cache))
              do_alloc(o);
            else // still #N, as a NULL object, so later ops keep their numbers
              outcome_ += " -> #" + std::to_string(model_.add_null_object(o.cache));
          },
          [&](const CacheFree& o) {
            const ModelObject& m = object(o.object);
            do_free(model_.cache(m.cache).ptr, m.addr);
          },
          [&](const SetCpu& o) {
            const unsigned cpu = o.cpu % model_.config().nr_cpus;
            heap_.set_cpu(cpu);
            model_.set_cpu(cpu);
          },
          [&](const Flush& o) {
            if (!live_cache(o.cache))
              return;
            heap_.kmem_cache_flush(reinterpret_cast<struct kmem_cache*>(cache_ptr(o.cache)));
            model_.flush(o.cache);
            full_sweep = true;
          },
          [&](const FlushAll&) {
            heap_.flush_cpu_slabs();
            model_.flush_all();
            full_sweep = true;
          },
          [&](const Shrink& o) {
            if (!live_cache(o.cache))
              return;
            const int got =
                heap_.kmem_cache_shrink(reinterpret_cast<struct kmem_cache*>(cache_ptr(o.cache)));
            const int want = model_.shrink(o.cache);
            outcome_ = "= " + std::to_string(got);
            if (got != want)
              fail("kmem_cache_shrink returned " + std::to_string(got) + ", expected " +
                   std::to_string(want));
            full_sweep = true;
          },
          [&](const Destroy& o) {
            do_destroy(cache_ptr(o.cache));
            full_sweep = true;
          },
          [&](const Fill& o) {
            if (object(o.object).state != ObjState::Live) {
              outcome_ = "(not live: skipped)";
              ++skipped_;
              return;
            }
            fill_object(o.object);
          },
          [&](const Verify& o) {
            if (object(o.object).state != ObjState::Live) {
              outcome_ = "(not live: skipped)";
              ++skipped_;
              return;
            }
            check_object(o.object, "on verify");
          },
          [&](const InjectPageFailures& o) {
            heap_.inject_page_alloc_failures(o.count);
            model_.inject_failures(o.count);
          },
          [&](const AllocPages& o) {
            const std::uintptr_t got =
                heap_.get_free_pages(GFP_KERNEL | (o.dma ? __GFP_DMA : 0), o.order);
            const std::string err = model_.alloc_pages(o.order, o.dma, got);
            outcome_ = got != 0 ? "= " + hex(got) : "NULL";
            if (!err.empty())
              fail(err);
          },
          [&](const FreePages& o) {
            if (o.pages >= model_.pages_count())
              fail("op names page block p" + std::to_string(o.pages) + " that does not exist");
            const PageBlock& b = model_.pages(o.pages);
            if (!b.live) {
              outcome_ = "(not live: skipped)";
              ++skipped_;
              return;
            }
            heap_.free_pages(b.addr, b.order);
            const std::string err = model_.free_pages(o.pages);
            if (!err.empty())
              fail(err);
          },
          [&](const WrongCacheFree& o) { do_free(cache_ptr(o.cache), object(o.object).addr); },
          [&](const InteriorFree& o) {
            const ModelObject& m = object(o.object);
            do_free(model_.cache(m.cache).ptr, m.addr == 0 ? 0 : m.addr + o.offset);
          },
          [&](const DoubleFree& o) {
            const ModelObject& m = object(o.object);
            do_free(model_.cache(m.cache).ptr, m.addr);
          },
          [&](const FreeForeign& o) {
            const BuddyModel& b = model_.buddy();
            std::uintptr_t addr = 0;
            switch (o.where) {
            case Foreign::PageBlock:
              if (o.pages < model_.pages_count() && model_.pages(o.pages).addr != 0) {
                const PageBlock& p = model_.pages(o.pages);
                addr = p.addr + o.offset % (b.page_size() << p.order);
              } else {
                addr = foreign() + 8;
              }
              break;
            case Foreign::Below: addr = b.arena_start() - 8; break;
            case Foreign::End: addr = b.arena_end(); break;
            case Foreign::Metadata: addr = b.arena_start() + o.offset % b.page_size(); break;
            case Foreign::Stack: addr = foreign() + 8; break;
            }
            if (addr == 0)
              addr = foreign() + 8;
            do_free(cache_ptr(o.cache), addr);
          },
          [&](const InvalidCache& o) {
            std::uintptr_t bad = foreign();
            if (o.kind != BadCache::Foreign && o.cache < model_.cache_count() &&
                model_.cache(o.cache).ptr != 0)
              bad = model_.cache(o.cache).ptr + (o.kind == BadCache::Interior ? 8 : 0);
            if (o.destroy) {
              do_destroy(bad);
              full_sweep = true;
            } else {
              do_free(bad, object(o.object).addr);
            }
          },
          [&](const ValidateAll&) { full_sweep = true; },
      },
      op);
  outcomes_.back() = outcome_;
  check_reports();
  check_state();
  if (full_sweep)
    sweep();
  if (trace_ != nullptr) {
    std::fprintf(trace_, " %s\n", outcome_.c_str());
    std::fflush(trace_);
  }
}

void SlabChecker::check_layout(CacheId id) {
  const ModelCache& c = model_.cache(id);
  const ModelLayout& l = c.layout;
  const CacheInfo ci = heap_.cache_info(reinterpret_cast<const struct kmem_cache*>(c.ptr));
  if (ci.object_size != l.object_size || ci.size != l.size || ci.align != l.align ||
      ci.offset != l.offset || ci.objects_per_slab != l.objects || ci.order != l.order ||
      ci.min_order != l.min_order || ci.min_partial != l.min_partial || ci.flags != c.flags ||
      names_[id] != ci.name)
    fail("cache_info(c" + std::to_string(id) + "): object_size " + std::to_string(ci.object_size) +
         " size " + std::to_string(ci.size) + " align " + std::to_string(ci.align) + " offset " +
         std::to_string(ci.offset) + " objects " + std::to_string(ci.objects_per_slab) + " order " +
         std::to_string(ci.order) + " min_order " + std::to_string(ci.min_order) + " min_partial " +
         std::to_string(ci.min_partial) + "; model: object_size " + std::to_string(l.object_size) +
         " size " + std::to_string(l.size) + " align " + std::to_string(l.align) + " offset " +
         std::to_string(l.offset) + " objects " + std::to_string(l.objects) + " order " +
         std::to_string(l.order) + " min_order " + std::to_string(l.min_order) + " min_partial " +
         std::to_string(l.min_partial));
}

void SlabChecker::do_create(const CacheCreate& op) {
  const auto id = static_cast<CacheId>(model_.cache_count());
  names_.push_back("c" + std::to_string(id));
  const CreateExpect e = model_.expect_create(op);
  struct kmem_cache* s = heap_.kmem_cache_create(names_.back().c_str(), op.size, op.align, op.flags,
                                                 op.ctor ? &test_ctor : nullptr);
  const auto ptr = reinterpret_cast<std::uintptr_t>(s);
  const std::string err = model_.commit_create(e, op, ptr);
  if (!err.empty())
    fail(err);
  expected_report_ = e.report;
  if (e.report) {
    ++misuse_count_;
    outcome_ = "-> NULL (" + e.layout.why + ")";
    return;
  }
  const ModelLayout& l = e.layout;
  outcome_ = "-> c" + std::to_string(id) + " (size " + std::to_string(l.size) + " align " +
             std::to_string(l.align) + ", " + std::to_string(l.objects) + " objects/order " +
             std::to_string(l.order) + ")";
  check_layout(id);
}

void SlabChecker::fill_object(ObjectId id) {
  ModelObject& o = const_cast<ModelObject&>(model_.object(id));
  const std::size_t n = model_.cache(o.cache).layout.object_size;
  std::vector<unsigned char> want;
  make_pattern(want, o.seed, n);
  std::memcpy(reinterpret_cast<void*>(o.addr), want.data(), n);
  o.content = Content::Pattern;
}

// NO2: the object's bytes are what the model says they must be.
void SlabChecker::check_object(ObjectId id, const char* when) {
  const ModelObject& o = model_.object(id);
  if (o.content == Content::Unknown)
    return;
  const std::size_t n = model_.cache(o.cache).layout.object_size;
  std::vector<unsigned char> want(n, 0);
  if (o.content == Content::Pattern)
    make_pattern(want, o.seed, n);
  else if (o.content == Content::Ctor)
    for (std::size_t i = 0; i < n; ++i)
      want[i] = ctor_byte(i);
  const auto* got = reinterpret_cast<const unsigned char*>(o.addr);
  for (std::size_t i = 0; i < n; ++i) {
    if (got[i] != want[i]) {
      static const char* const kWhat[] = {"?", "zero", "the constructor's pattern",
                                          "its fill pattern"};
      char buf[64];
      std::snprintf(buf, sizeof buf, "byte %zu is %#04x, expected %#04x", i, got[i], want[i]);
      fail("object #" + std::to_string(id) + " at " + hex(o.addr) + " " + when + ": " + buf + " (" +
           kWhat[static_cast<unsigned>(o.content)] + ")");
    }
  }
}

void SlabChecker::do_alloc(const CacheAlloc& op) {
  const ModelCache& c = model_.cache(op.cache);
  ctor_calls_.clear();
  g_ctor_calls = &ctor_calls_;
  g_ctor_size = c.layout.object_size;
  void* p = heap_.kmem_cache_alloc(reinterpret_cast<struct kmem_cache*>(c.ptr), op.gfp);
  g_ctor_calls = nullptr;
  const auto got = reinterpret_cast<std::uintptr_t>(p);
  AllocResult r;
  const std::string err = model_.alloc(op.cache, op.gfp, got, r);
  outcome_ = "-> #" + std::to_string(r.object) + (got != 0 ? " = " + hex(got) : " NULL");
  if (r.new_slab)
    outcome_ += " (new slab " + hex(r.slab_base) + " order " + std::to_string(r.slab_order) + ")";
  if (!err.empty())
    fail(err);
  expected_report_ = r.warning;
  if (r.warning)
    ++misuse_count_;
  // The constructor: once per object of a new slab, in a ctor cache; never otherwise.
  const ModelLayout& l = c.layout;
  std::vector<std::uintptr_t> want;
  if (r.new_slab && c.ctor)
    for (unsigned i = 0; i < r.slab_capacity; ++i)
      want.push_back(r.slab_base + std::uintptr_t{i} * l.size);
  std::vector<std::uintptr_t> calls = ctor_calls_;
  std::sort(calls.begin(), calls.end());
  if (calls != want)
    fail("the constructor ran " + std::to_string(calls.size()) + " times" +
         (calls.empty() ? std::string() : " (first at " + hex(calls.front()) + ")") +
         ", expected " + std::to_string(want.size()) + " calls");
  if (got == 0)
    return;
  // AL2 and NO1.
  if (got % l.align != 0)
    fail("object " + hex(got) + " is not aligned to " + std::to_string(l.align));
  const ModelSlab* s = model_.slab_at(got);
  const SlabObject so = heap_.slab_object(p);
  const auto idx = static_cast<unsigned>((got - s->base) / l.size);
  if (reinterpret_cast<std::uintptr_t>(so.cache) != c.ptr || so.object != got ||
      so.slab != s->base || so.index != idx)
    fail("slab_object(" + hex(got) + "): object " + hex(so.object) + " slab " + hex(so.slab) +
         " index " + std::to_string(so.index) + ", model slab " + hex(s->base) + " index " +
         std::to_string(idx));
  const PageInfo pi = heap_.page_info(p);
  if (!pi.in_arena || pi.owner != PageOwner::Slab || pi.block != s->base || pi.order != s->order ||
      reinterpret_cast<std::uintptr_t>(pi.cache) != c.ptr)
    fail("page_info(" + hex(got) + "): owner " + page_owner_name(pi.owner) + " block " +
         hex(pi.block) + " order " + std::to_string(pi.order) + "; model slab " + hex(s->base) +
         " order " + std::to_string(s->order));
  check_object(r.object, "after allocation");
  fill_object(r.object);
}

void SlabChecker::do_free(std::uintptr_t cptr, std::uintptr_t addr) {
  const FreeExpect e = model_.expect_free(cptr, addr);
  outcome_ = std::string("=> ") + free_class_name(e.cls);
  if (e.cls == FreeClass::Success) {
    outcome_ += " #" + std::to_string(e.object);
    check_object(e.object, "before free");
    const ModelObject& o = model_.object(e.object);
    if (model_.cache(o.cache).ctor) {
      // Objects go back to a ctor cache in their constructed state.
      auto* p = reinterpret_cast<unsigned char*>(o.addr);
      for (unsigned i = 0; i < model_.cache(o.cache).layout.object_size; ++i)
        p[i] = ctor_byte(i);
    }
  }
  heap_.kmem_cache_free(reinterpret_cast<struct kmem_cache*>(cptr), reinterpret_cast<void*>(addr));
  model_.commit_free(e);
  if (e.report) {
    expected_report_ = e.report;
    expected_report_address_ = e.report_address;
    outcome_ += std::string(", ") + error_kind_name(*e.report);
    ++misuse_count_;
  }
}

void SlabChecker::do_destroy(std::uintptr_t cptr) {
  heap_.kmem_cache_destroy(reinterpret_cast<struct kmem_cache*>(cptr));
  const DestroyExpect e = model_.destroy(cptr);
  static const char* const kWhat[] = {"no-op", "invalid cache", "objects remain", "destroyed"};
  outcome_ = std::string("=> ") + kWhat[e.kind];
  if (e.report) {
    expected_report_ = e.report;
    expected_report_address_ = e.report_address;
    ++misuse_count_;
  }
}

void SlabChecker::check_reports() {
  const std::size_t got = reports_.size();
  const std::size_t want = expected_report_ ? 1 : 0;
  bool ok = got == want;
  if (ok && want == 1) {
    const RecordedReport& r = reports_[0];
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
  for (const RecordedReport& r : reports_)
    what += std::string(" [") + error_kind_name(r.kind) + " about " + hex(r.address) + "]";
  fail(what);
}

// The heap's free blocks against the model's (or, for AC4, the initial ones): same count, and
// every heap block is one of them.
std::string SlabChecker::compare_free_blocks(bool initial) {
  blocks_.clear();
  heap_.for_each_free_block(
      [](void* ctx, const FreeBlock& fb) {
        static_cast<std::vector<FreeBlock>*>(ctx)->push_back(fb);
      },
      &blocks_);
  const BuddyModel& b = model_.buddy();
  std::size_t want = 0;
  if (initial) {
    want = b.initial_free_blocks().size();
  } else {
    for (unsigned z = 0; z < b.nr_zones(); ++z)
      want += b.zone(z).free.size();
  }
  for (const FreeBlock& fb : blocks_) {
    const bool found = initial ? std::binary_search(b.initial_free_blocks().begin(),
                                                    b.initial_free_blocks().end(), fb, block_less)
                               : fb.zone < b.nr_zones() &&
                                     b.zone(fb.zone).free.count(ModelBlock{fb.pfn, fb.order});
    if (!found)
      return "free blocks differ: the heap has (zone " + std::to_string(fb.zone) + ", pfn " +
             hex(fb.pfn) + ", order " + std::to_string(fb.order) + "), the model does not";
  }
  if (blocks_.size() != want)
    return "free blocks differ: the heap has " + std::to_string(blocks_.size()) + ", the model " +
           std::to_string(want);
  return "";
}

void SlabChecker::check_state() {
  const BuddyModel& b = model_.buddy();
  // AC2: pages by owner.
  const PageCounts pc = heap_.page_counts();
  if (pc.total != b.npages() || pc.metadata != b.metadata_pages() || pc.free != b.free_pages() ||
      pc.slab != model_.slab_pages() || pc.page_alloc != model_.page_alloc_pages() ||
      pc.large_kmalloc != 0 ||
      pc.free + pc.metadata + pc.page_alloc + pc.slab + pc.large_kmalloc != pc.total)
    fail("page_counts: total " + std::to_string(pc.total) + " free " + std::to_string(pc.free) +
         " metadata " + std::to_string(pc.metadata) + " alloc_pages " +
         std::to_string(pc.page_alloc) + " slab " + std::to_string(pc.slab) + " large " +
         std::to_string(pc.large_kmalloc) + "; model total " + std::to_string(b.npages()) +
         " free " + std::to_string(b.free_pages()) + " metadata " +
         std::to_string(b.metadata_pages()) + " alloc_pages " +
         std::to_string(model_.page_alloc_pages()) + " slab " +
         std::to_string(model_.slab_pages()));

  // The free blocks: slab pages were taken from (and returned to) exactly these.
  const std::string diff = compare_free_blocks(false);
  if (!diff.empty())
    fail(diff);

  // AC1: every live cache's counters.
  std::size_t heap_caches = 0;
  heap_.for_each_cache(
      [](void* ctx, const struct kmem_cache*) { ++*static_cast<std::size_t*>(ctx); }, &heap_caches);
  const std::vector<CacheId> live = model_.live_caches();
  if (heap_caches != live.size())
    fail("for_each_cache lists " + std::to_string(heap_caches) + " caches, the model has " +
         std::to_string(live.size()) + " live");
  for (CacheId id : live) {
    const CacheInfo ci =
        heap_.cache_info(reinterpret_cast<const struct kmem_cache*>(model_.cache(id).ptr));
    const CacheCounters n = model_.counters(id);
    if (ci.nr_slabs != n.nr_slabs || ci.nr_partial != n.nr_partial || ci.nr_full != n.nr_full ||
        ci.nr_cpu_slabs != n.nr_cpu_slabs || ci.total_objects != n.total_objects ||
        ci.active_objects != n.active_objects || ci.free_objects != n.free_objects)
      fail("cache_info(c" + std::to_string(id) + ") counters: slabs " +
           std::to_string(ci.nr_slabs) + " partial " + std::to_string(ci.nr_partial) + " full " +
           std::to_string(ci.nr_full) + " cpu " + std::to_string(ci.nr_cpu_slabs) + " total " +
           std::to_string(ci.total_objects) + " active " + std::to_string(ci.active_objects) +
           " free " + std::to_string(ci.free_objects) + "; model slabs " +
           std::to_string(n.nr_slabs) + " partial " + std::to_string(n.nr_partial) + " full " +
           std::to_string(n.nr_full) + " cpu " + std::to_string(n.nr_cpu_slabs) + " total " +
           std::to_string(n.total_objects) + " active " + std::to_string(n.active_objects) +
           " free " + std::to_string(n.free_objects));
    // After a flush the slabinfo view is exact: active objects are the live ones.
    if (n.nr_cpu_slabs == 0 && ci.active_objects != model_.cache(id).live_objects)
      fail("cache_info(c" + std::to_string(id) + ") active_objects " +
           std::to_string(ci.active_objects) + " with no cpu slabs, but " +
           std::to_string(model_.cache(id).live_objects) + " objects are live");
  }

  const std::size_t before = reports_.size();
  const std::size_t errors = heap_.validate();
  if (errors != 0 || reports_.size() != before) {
    std::string what = "validate() found " + std::to_string(errors) + " errors:";
    for (std::size_t i = before; i < reports_.size(); ++i)
      what += "\n  " + reports_[i].message;
    fail(what);
  }
}

// Every slab's pages and every live object, as the heap's introspection shows them.
void SlabChecker::sweep() {
  const std::string invariant = model_.check_invariants();
  if (!invariant.empty())
    fail(invariant);
  const std::size_t page_size = model_.page_size();
  for (CacheId id : model_.live_caches()) {
    const ModelCache& c = model_.cache(id);
    check_layout(id);
    for (const auto& [base, s] : c.slabs) {
      const std::uintptr_t pages[] = {base, base + (page_size << s.order) - 1};
      for (std::uintptr_t a : pages) {
        const PageInfo pi = heap_.page_info(reinterpret_cast<void*>(a));
        if (!pi.in_arena || pi.owner != PageOwner::Slab || pi.block != base ||
            pi.order != s.order || reinterpret_cast<std::uintptr_t>(pi.cache) != c.ptr)
          fail("page_info(" + hex(a) + "): owner " + page_owner_name(pi.owner) + " block " +
               hex(pi.block) + " order " + std::to_string(pi.order) + "; model: slab of c" +
               std::to_string(id) + " at " + hex(base) + " order " + std::to_string(s.order));
      }
      for (const auto& [idx, oid] : s.live) {
        const std::uintptr_t addr = base + std::uintptr_t{idx} * c.layout.size;
        const SlabObject so = heap_.slab_object(reinterpret_cast<void*>(addr + 1));
        if (reinterpret_cast<std::uintptr_t>(so.cache) != c.ptr || so.object != addr ||
            so.slab != base || so.index != idx || model_.object(oid).addr != addr)
          fail("slab_object(" + hex(addr + 1) + ") of object #" + std::to_string(oid) +
               ": object " + hex(so.object) + " slab " + hex(so.slab) + " index " +
               std::to_string(so.index));
        check_object(oid, "on sweep");
      }
    }
  }
}

void SlabChecker::finish() {
  for (ObjectId id = 0; id < model_.object_count(); ++id)
    if (model_.object(id).state == ObjState::Live)
      apply(CacheFree{id});
  for (PagesId id = 0; id < model_.pages_count(); ++id)
    if (model_.pages(id).live)
      apply(FreePages{id});
  for (CacheId id : model_.live_caches())
    apply(Destroy{id});
  // AC4: back to the initial free blocks.
  if (model_.slab_pages() != 0 || model_.page_alloc_pages() != 0 || !model_.live_caches().empty())
    fail("model still has slabs, pages or caches after finish");
  const std::string diff = compare_free_blocks(true);
  if (!diff.empty())
    fail("AC4 after destroying everything: " + diff);
}

void check_slab_ops(const Config& cfg, std::span<const Op> ops, std::FILE* trace) {
  SlabChecker checker;
  checker.set_trace(trace);
  const Status st = checker.init(cfg);
  if (!st.ok)
    throw CheckError(std::string("heap init failed: ") + st.message);
  for (const Op& op : ops)
    checker.apply(op);
  checker.finish();
}

} // namespace km::model::slab
