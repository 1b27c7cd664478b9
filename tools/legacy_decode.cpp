// tools/legacy_decode.cpp - the old fuzz_buddy / fuzz_slab / fuzz_kmalloc / fuzz_size_class
// decoders, decoding into the one op vocabulary; see legacy_decode.h. Each *_config and decode_*
// below follows the old target's decode_config and decode_op byte for byte (the old targets and
// the encoding tables of corpus/README.md are in git history before the oracles were retired).
#include "tools/legacy_decode.h"

#include <algorithm>
#include <cstdlib>
#include <initializer_list>
#include <set>
#include <utility>

#include "fuzz/fuzz_support.h"
#include "kmalloc/heap.h"
#include "model/heap_checker.h"
#include "model/size_class_model.h"

namespace km::tools {

namespace {

using fuzz::ByteReader;
using fuzz::kRegionBytes;
using oracle::FreeRoute;
using oracle::Handle;
using oracle::Kind;
using oracle::Op;
using oracle::OpKind;
using oracle::Where;

// ---- the header: each field searched over the values fuzz_heap's decoder gives it

std::uint64_t distance(std::uint64_t a, std::uint64_t b) {
  return a > b ? a - b : b - a;
}

Config header_config(const Header& h) {
  return fuzz::decode_heap_input(h.data(), h.size(), kRegionBytes).cfg;
}

// The value of byte `at` (among `values`) whose decoded config scores lowest (first wins).
template <class Score> void choose(Header& h, unsigned at, unsigned values, Score score) {
  std::uint8_t best = h[at];
  std::uint64_t best_score = ~std::uint64_t{0};
  for (unsigned v = 0; v < values; ++v) {
    h[at] = static_cast<std::uint8_t>(v);
    const std::uint64_t s = score(header_config(h));
    if (s < best_score) {
      best = h[at];
      best_score = s;
    }
  }
  h[at] = best;
}

Header header_for(const Config& old) {
  Header h{};
  // Byte 0: the profile, with bits 3-6 not 0 (the C++ API: old targets did not use the C API).
  h[0] = old.profile == Profile::Linux6 ? 8 : old.profile == Profile::Linux4Slab ? 13 : 15;
  choose(h, 1, 8, [&](const Config& c) { return distance(c.page_shift, old.page_shift); });
  choose(h, 2, 8, [&](const Config& c) { return distance(c.max_order, old.max_order); });
  choose(h, 3, 8, [&](const Config& c) { return distance(c.arena_size, old.arena_size); });
  choose(h, 4, 8,
         [&](const Config& c) { return distance(c.kmalloc_min_size, old.kmalloc_min_size); });
  // ZONE_DMA: none, or the nearest fraction of the arena (in 1/4096ths); never "default".
  auto dma_share = [](const Config& c) {
    return c.dma_zone_size == kDmaZoneDefault
               ? ~std::uint64_t{0} >> 1
               : std::uint64_t{c.dma_zone_size} * 4096 / std::max<std::size_t>(c.arena_size, 1);
  };
  choose(h, 5, 256, [&](const Config& c) {
    if (old.dma_zone_size == 0 || c.dma_zone_size == 0)
      return (old.dma_zone_size == 0) == (c.dma_zone_size == 0) ? 0 : ~std::uint64_t{0} >> 2;
    return distance(dma_share(c), dma_share(old));
  });
  choose(h, 6, 8, [&](const Config& c) { return distance(c.nr_cpus, old.nr_cpus); });
  choose(h, 7, 16, [&](const Config& c) {
    const std::uint64_t min_objects =
        old.slub_min_objects == 0
            ? (c.slub_min_objects == 0 ? 0 : 1000)
            : (c.slub_min_objects == 0 ? 1000 : distance(c.slub_min_objects, old.slub_min_objects));
    return (c.freelist_hardened != old.freelist_hardened ? 100000 : 0) + min_objects * 10 +
           distance(c.slub_max_order, old.slub_max_order);
  });
  return h;
}

// ---- the run: ops go to the checker as they are decoded, so victims can be resolved

class Run {
public:
  Run(LegacyInput& out, const Config& old) : out_(out) {
    out.old_cfg = old;
    out.header = header_for(old);
    cfg_ = header_config(out.header);
    note_config(old);
    oracle::CheckerOptions opts;
    ok_ = checker_.init(cfg_, fuzz::region(), cfg_.arena_size, opts).ok;
    if (!ok_ && cfg_.dma_zone_size != 0) { // as fuzz_heap does
      cfg_.dma_zone_size = 0;
      ok_ = checker_.init(cfg_, fuzz::region(), cfg_.arena_size, opts).ok;
    }
    out.heap_refused = !ok_;
  }
  bool full() const { return out_.ops.size() >= fuzz::kMaxHeapOps; }
  const Config& cfg() const { return cfg_; }
  void note(const char* what) { ++out_.approximations[what]; }
  // Appends op and runs it; returns the handle it created (if it creates one).
  Handle emit(const Op& op) {
    if (full())
      return oracle::kNone;
    out_.ops.push_back(op);
    if (ok_)
      checker_.apply(op);
    return oracle::creates_handle(op.kind) ? handles_++ : oracle::kNone;
  }
  const oracle::Allocation* alloc(Handle h) const {
    return ok_ && h < checker_.handle_count() ? &checker_.allocation(h) : nullptr;
  }
  bool live(Handle h) const {
    const oracle::Allocation* a = alloc(h);
    return a != nullptr && a->live && a->kind != Kind::Null && a->kind != Kind::Zero;
  }
  bool freed(Handle h) const {
    const oracle::Allocation* a = alloc(h);
    return a != nullptr && !a->live && a->kind != Kind::Null && a->kind != Kind::Zero;
  }
  bool null(Handle h) const {
    const oracle::Allocation* a = alloc(h);
    return a == nullptr || a->kind == Kind::Null;
  }
  // The live kmem_caches of the heap (the converter may ask the allocator: it is no oracle).
  std::set<std::uintptr_t> heap_caches() {
    std::set<std::uintptr_t> s;
    if (ok_)
      checker_.heap().for_each_cache(
          [](void* ctx, const struct kmem_cache* c) {
            static_cast<std::set<std::uintptr_t>*>(ctx)->insert(
                reinterpret_cast<std::uintptr_t>(c));
          },
          &s);
    return s;
  }

  // Nearest-value helpers that count what they changed.
  std::uint64_t size(std::uint64_t s) { return changed(s, nearest_size(s), "kmalloc size"); }
  gfp_t gfp(gfp_t g, bool seven = false) { return changed(g, nearest_gfp(g, seven), "gfp mask"); }
  std::uint32_t order(unsigned o) {
    return changed(o, std::min(o, cfg_.max_order + 1), "alloc_pages order");
  }
  std::uint32_t fail_count(unsigned n, unsigned most) {
    return changed(n, std::min(n, most), "failure count");
  }

private:
  template <class T> T changed(T from, T to, const char* what) {
    if (from != to)
      note(what);
    return to;
  }
  void note_config(const Config& old) {
    const Config& c = cfg_;
    if (c.max_order != old.max_order)
      note("config max_order");
    if (c.arena_size != old.arena_size)
      note("config arena size");
    if (c.dma_zone_size != old.dma_zone_size)
      note("config ZONE_DMA");
    if (c.nr_cpus != old.nr_cpus)
      note("config nr_cpus");
    if (c.slub_min_objects != old.slub_min_objects || c.slub_max_order != old.slub_max_order)
      note("config slub_min_objects/slub_max_order");
    if (old.cache_line_size != 64)
      note("config cache_line_size");
  }

  LegacyInput& out_;
  Config cfg_;
  oracle::HeapChecker checker_;
  bool ok_ = false;
  Handle handles_ = 0;
};

Op make(OpKind kind) {
  Op op;
  op.kind = kind;
  return op;
}

Op free_op(Handle h, FreeRoute route) {
  Op op = make(OpKind::Free);
  op.handle = h;
  op.route = route;
  return op;
}

Op free_at(FreeRoute route, Where where, std::uint64_t offset = 0) {
  Op op = make(OpKind::FreeAt);
  op.route = route;
  op.arg = static_cast<std::uint32_t>(where);
  op.size = offset;
  return op;
}

Op with_handle(OpKind kind, Handle h) {
  Op op = make(kind);
  op.handle = h;
  return op;
}

// inject_page_alloc_failures(n) as a fail-next; false for n == 0 (a no-op: no op).
bool fail_next(Run& run, unsigned n, Op& op) {
  if (n == 0) {
    run.note("inject 0 failures");
    return false;
  }
  op = make(OpKind::FailNext);
  op.arg = run.fail_count(n, 3);
  return true;
}

// How fuzz_slab and fuzz_kmalloc chose a victim: the first i of sel % n, sel % n + 1, ...
// (wrapping) for which pred(i) holds.
template <class Pred>
bool pick_wrapping(std::size_t n, unsigned sel, Pred pred, std::uint32_t& out) {
  for (std::size_t k = 0; k < n; ++k) {
    const std::size_t i = (sel + k) % n;
    if (pred(i)) {
      out = static_cast<std::uint32_t>(i);
      return true;
    }
  }
  return false;
}

// The flags of `bits` whose mask bit is set in byte b, or'd together.
template <class T> struct Bit {
  std::uint8_t mask;
  T flag;
};
template <class T> T flags_of(std::uint8_t b, std::initializer_list<Bit<T>> bits) {
  T out = 0;
  for (const Bit<T>& bit : bits)
    out |= (b & bit.mask) != 0 ? bit.flag : T{0};
  return out;
}

// ---- fuzz_buddy

// Config::nr_cpus defaulted to 8 when the old targets ran (now kNrCpusAuto, the machine's), so
// a legacy input that never set it decodes with 8, on every machine.
constexpr unsigned kLegacyDefaultCpus = 8;

Config buddy_config(ByteReader& in) {
  static constexpr unsigned kShifts[] = {12, 14, 16};
  Config cfg;
  cfg.page_shift = kShifts[in.u8() % 3];
  cfg.max_order = in.u8() % 13;
  const std::size_t base = std::size_t{16} << (in.u8() % 7);
  std::size_t pages = base + in.u8() * base / 256;
  if (pages > (kRegionBytes >> cfg.page_shift))
    pages = kRegionBytes >> cfg.page_shift;
  cfg.arena_size = pages << cfg.page_shift;
  const unsigned dma = in.u8();
  cfg.dma_zone_size = (pages * dma / 256) << cfg.page_shift;
  cfg.max_caches = 16;
  cfg.nr_cpus = kLegacyDefaultCpus; // fuzz_buddy left it at the default of its day
  return cfg;
}

gfp_t buddy_gfp(std::uint8_t b) {
  static constexpr gfp_t kBase[] = {GFP_KERNEL, GFP_KERNEL | __GFP_DMA, GFP_KERNEL | __GFP_DMA32,
                                    GFP_ATOMIC | __GFP_HIGHMEM};
  gfp_t gfp = kBase[b & 3] |
              flags_of<gfp_t>(b, {{0x04, __GFP_ZERO}, {0x08, __GFP_NOWARN}, {0x10, __GFP_NOFAIL}});
  switch ((b >> 5) & 3) {
  case 0: break;
  case 1: gfp |= __GFP_COMP; break;
  case 2: gfp |= __GFP_MOVABLE; break;
  case 3: gfp |= (b & 0x80) ? 0x800000u : 0x200u; break;
  }
  if ((b & 0x80) && ((b >> 5) & 3) != 3)
    gfp |= __GFP_ACCOUNT;
  return gfp;
}

void decode_buddy(Run& run, ByteReader& in, const Config& old) {
  const unsigned max_order = old.max_order;
  const std::uint64_t page_size = std::uint64_t{1} << old.page_shift;
  const std::uint64_t npages = old.arena_size >> old.page_shift;
  std::vector<Handle> handles; // every AllocPages so far (old and new numbers agree)
  auto list = [&](auto pred) {
    std::vector<Handle> v;
    for (Handle h : handles)
      if (pred(h))
        v.push_back(h);
    return v;
  };
  auto live = [&] { return list([&](Handle h) { return run.live(h); }); };
  auto pick = [](const std::vector<Handle>& from, std::uint8_t sel, Handle& h) {
    if (from.empty())
      return false;
    h = from[sel % from.size()];
    return true;
  };
  std::size_t count = 0;
  while (!in.done() && count < 4096 && !run.full()) {
    const unsigned code = in.u8() & 15;
    Handle h = 0;
    Op op;
    switch (code) {
    case 0:
    case 1:
    case 2:
    case 3: {
      const std::uint8_t ob = in.u8();
      const std::uint8_t gb = in.u8();
      const unsigned order =
          (ob & 0x80) ? max_order + 1 + (ob & 0x0f) : (ob & 0x7f) % (max_order + 1);
      op = make(OpKind::AllocPages);
      op.arg = run.order(order);
      op.gfp = run.gfp(buddy_gfp(gb));
      handles.push_back(run.emit(op));
      ++count;
      continue;
    }
    case 4:
    case 5:
    case 6: { // live handles, then NULL handles
      const std::uint8_t sel = in.u8();
      const std::vector<Handle> l = live();
      const std::vector<Handle> n = list([&](Handle x) { return run.null(x); });
      if (l.empty() && n.empty())
        continue;
      const std::size_t i = (sel & 0x7f) % (l.size() + n.size());
      op = free_op(i < l.size() ? l[i] : n[i - l.size()],
                   (sel & 0x80) != 0 ? FreeRoute::PageFree : FreeRoute::FreePages);
      break;
    }
    case 7:
      if (!pick(live(), in.u8(), h))
        continue;
      run.note("fill");
      ++count;
      continue; // the checker fills every allocation
    case 8:
      if (!pick(live(), in.u8(), h))
        continue;
      op = with_handle(OpKind::Verify, h);
      break;
    case 9: {
      if (!fail_next(run, in.u8() % 4u, op)) {
        ++count;
        continue;
      }
      break;
    }
    case 10:
      if (!pick(list([&](Handle x) { return run.freed(x); }), in.u8(), h))
        continue;
      op = free_op(h, FreeRoute::FreePages);
      break;
    case 11: {
      const bool ok = pick(live(), in.u8(), h);
      const std::uint8_t d = in.u8();
      if (!ok)
        continue;
      const unsigned order = run.alloc(h)->order;
      const unsigned given = (order + 1 + d % (max_order + 1)) % (max_order + 2);
      op = free_op(h, FreeRoute::FreePages);
      op.arg = 1;
      if ((order + 2) % (run.cfg().max_order + 1) == given)
        op.arg = 2;
      else if ((order + 1) % (run.cfg().max_order + 1) != given)
        run.note("wrong free order");
      break;
    }
    case 12: {
      const bool ok = pick(live(), in.u8(), h);
      const std::uint8_t b = in.u8();
      if (!ok)
        continue;
      const std::uint64_t pages = std::uint64_t{1} << run.alloc(h)->order;
      const std::uint64_t offset =
          (b & 0x80) ? 1 + (b & 0x7f) * (page_size / 128) : (1 + (b & 0x7f) % pages) * page_size;
      op = free_op(h, FreeRoute::FreePages);
      op.size = interior_size(offset, run.alloc(h)->usable);
      break;
    }
    case 13: {
      const std::uint16_t page = in.u16();
      const std::uint8_t ob = in.u8();
      if (ob % (max_order + 1) != 0)
        run.note("raw free order");
      op = free_at(FreeRoute::FreePages, Where::ArenaPage, (page % npages) * page_size);
      break;
    }
    case 14:
      switch (in.u8() % 4) { // Below, End, Unaligned, ForeignPage
      case 0:
        run.note("free below the arena");
        op = free_at(FreeRoute::FreePages, Where::Below);
        break;
      case 1: op = free_at(FreeRoute::FreePages, Where::End); break;
      case 2:
        run.note("unaligned free past the arena");
        op = free_at(FreeRoute::FreePages, Where::Outside, 1);
        break;
      default: op = free_at(FreeRoute::PageFree, Where::Outside); break;
      }
      break;
    default: op = make(OpKind::Validate); break;
    }
    run.emit(op);
    ++count;
  }
}

// ---- fuzz_slab

Config slab_config(ByteReader& in) {
  static constexpr unsigned kShifts[] = {12, 14, 16};
  static constexpr unsigned kCaches[] = {16, 16, 4, 128};
  Config cfg;
  const std::uint8_t b0 = in.u8();
  cfg.page_shift = kShifts[b0 % 3];
  cfg.freelist_hardened = (b0 & 0x04) == 0;
  cfg.max_caches = kCaches[(b0 >> 3) & 3];
  const std::uint8_t b1 = in.u8();
  cfg.nr_cpus = (b1 & 0x80) ? 1 + (b1 & 63u) : 1 + (b1 & 3u);
  cfg.max_order = 10 - in.u8() % 11;
  const std::uint16_t pv = in.u16();
  std::size_t pages = (pv & 0x8000) ? 16 + pv % (2048 - 16 + 1) : 16 + pv % (256 - 16 + 1);
  pages = std::min(pages, std::max(std::size_t{16}, std::size_t{64} << cfg.max_order));
  if (pages > (kRegionBytes >> cfg.page_shift))
    pages = kRegionBytes >> cfg.page_shift;
  cfg.arena_size = pages << cfg.page_shift;
  cfg.dma_zone_size = (pages * in.u8() / 256) << cfg.page_shift;
  const std::uint8_t b6 = in.u8();
  const std::uint8_t b7 = in.u8();
  if (b6 & 0x01)
    cfg.slub_min_objects = 1 + b7;
  if (b6 & 0x02)
    cfg.slub_max_order = (b6 >> 2) & 7;
  if (b6 & 0x20)
    cfg.cache_line_size = 32;
  else if (b6 & 0x40)
    cfg.cache_line_size = 128;
  cfg.random_seed = 0x5eed;
  return cfg;
}

gfp_t slab_gfp(std::uint8_t b) {
  const gfp_t bad = (b & 0xf0) == 0xf0 ? 0x800000u : 0u;
  return ((b & 1) ? GFP_ATOMIC : GFP_KERNEL) | bad |
         flags_of<gfp_t>(b, {{0x02, __GFP_ZERO}, {0x04, __GFP_NOWARN}, {0x08, __GFP_NOFAIL}});
}

unsigned slab_object_size(std::uint16_t v) {
  static constexpr unsigned kKmalloc[] = {8,   16,  32,   64,   96,   128,  192,
                                          256, 512, 1024, 2048, 4096, 8192, 24};
  switch (v >> 14) {
  case 0: return 1 + (v & 0xff);
  case 1: return 1 + (v & 0xfff);
  case 2: return kKmalloc[(v & 0x3fff) % 14];
  default: return v & 0x3fff;
  }
}

Op slab_create(Run& run, std::uint16_t size, std::uint8_t ab, std::uint8_t fb) {
  static constexpr slab_flags_t kUnsupported[] = {
      SLAB_RED_ZONE,        SLAB_POISON,      SLAB_STORE_USER, SLAB_TRACE,
      SLAB_TYPESAFE_BY_RCU, SLAB_CACHE_DMA32, 0x80000000u,     SLAB_RED_ZONE};
  const unsigned object = slab_object_size(size);
  const unsigned align = (ab & 0x80) ? ((ab & 0x40) ? 24u : 1u << (ab & 7)) : 0u;
  slab_flags_t flags =
      flags_of<slab_flags_t>(fb, {{0x01, SLAB_HWCACHE_ALIGN},
                                  {0x02, SLAB_CACHE_DMA},
                                  {0x04, SLAB_CONSISTENCY_CHECKS},
                                  {0x10, SLAB_RECLAIM_ACCOUNT},
                                  {0x20, SLAB_PANIC},
                                  {0x40, SLAB_ACCOUNT | SLAB_NO_MERGE | SLAB_KMALLOC}});
  if (fb & 0x80)
    flags |= kUnsupported[(ab >> 3) & 7];
  Op op = make(OpKind::CacheCreate);
  op.size = nearest_object_size(object);
  op.n = nearest_align(align);
  op.flags = nearest_slab_flags(flags);
  op.arg = (fb & 0x08) != 0 ? 1 : 0;
  if (op.size != object)
    run.note("object size");
  if (op.n != align)
    run.note("alignment");
  if (op.flags != flags)
    run.note("slab flags");
  return op;
}

void decode_slab(Run& run, ByteReader& in, const Config& old) {
  struct Cache {
    std::uintptr_t ptr = 0;
    bool dead = false;
    bool debug = false;
  };
  struct Object {
    Handle handle;
    std::uint32_t cache;
  };
  std::vector<Cache> caches;
  std::vector<Object> objects;
  std::vector<Handle> pages;
  auto live_cache = [&](std::size_t i) { return caches[i].ptr != 0 && !caches[i].dead; };
  auto live_object = [&](std::size_t i) { return run.live(objects[i].handle); };
  auto any_object = [&](std::size_t i) { return !run.freed(objects[i].handle); };
  auto freed_debug = [&](std::size_t i) {
    return run.freed(objects[i].handle) && caches[objects[i].cache].debug;
  };
  auto pick = [](std::size_t n, unsigned sel, auto pred, std::uint32_t& out) {
    return pick_wrapping(n, sel, pred, out);
  };
  // kmem_cache_free(cN, #h): Free of #h through cN.
  auto cache_free = [](Handle h, std::uint32_t cache) {
    Op op = free_op(h, FreeRoute::CacheFree);
    op.cache = cache;
    return op;
  };
  std::size_t count = 0;
  while (!in.done() && count < 2048 && !run.full()) {
    const unsigned code = in.u8() & 31;
    const std::size_t nc = caches.size(), no = objects.size();
    std::uint32_t a = 0, b = 0;
    Op op;
    switch (code) {
    case 0:
    case 1:
    case 2:
    case 3:
    case 4:
    case 5:
    case 6: {
      const std::uint8_t sel = in.u8();
      const std::uint8_t g = in.u8();
      if (!pick(nc, sel, live_cache, a))
        continue;
      op = make(OpKind::CacheAlloc);
      op.cache = a;
      op.gfp = run.gfp(slab_gfp(g), true);
      objects.push_back(Object{run.emit(op), a});
      ++count;
      continue;
    }
    case 7:
    case 8:
    case 9:
    case 10:
    case 11:
    case 29:
    case 30:
      if (!pick(no, in.u16(), any_object, a))
        continue;
      op = cache_free(objects[a].handle, objects[a].cache);
      break;
    case 12: {
      const std::uint16_t size = in.u16();
      const std::uint8_t ab = in.u8();
      const std::uint8_t fb = in.u8();
      op = slab_create(run, size, ab, fb);
      const std::set<std::uintptr_t> before = run.heap_caches();
      run.emit(op);
      Cache c;
      c.debug = (op.flags & SLAB_CONSISTENCY_CHECKS) != 0;
      for (std::uintptr_t p : run.heap_caches())
        if (before.count(p) == 0)
          c.ptr = p;
      caches.push_back(c);
      ++count;
      continue;
    }
    case 13:
      op = make(OpKind::SetCpu);
      op.arg = in.u8();
      break;
    case 14:
      if (!pick(nc, in.u8(), live_cache, a))
        continue;
      run.note("kmem_cache_flush");
      op = make(OpKind::Flush);
      break;
    case 15: op = make(OpKind::Flush); break;
    case 16:
      if (!pick(nc, in.u8(), live_cache, a))
        continue;
      op = make(OpKind::CacheShrink);
      op.cache = a;
      break;
    case 17: {
      if (!pick(
              nc, in.u8(), [](std::size_t) { return true; }, a))
        continue;
      op = make(OpKind::CacheDestroy);
      op.cache = a;
      run.emit(op);
      if (caches[a].ptr != 0 && run.heap_caches().count(caches[a].ptr) == 0)
        caches[a].dead = true;
      ++count;
      continue;
    }
    case 18:
      if (!pick(no, in.u16(), live_object, a))
        continue;
      run.note("fill");
      ++count;
      continue;
    case 19:
      if (!pick(no, in.u16(), live_object, a))
        continue;
      op = with_handle(OpKind::Verify, objects[a].handle);
      break;
    case 20: {
      if (!fail_next(run, in.u8() % 4u, op)) {
        ++count;
        continue;
      }
      break;
    }
    case 21: {
      const std::uint8_t ob = in.u8();
      op = make(OpKind::AllocPages);
      const unsigned order = (ob & 0x7f) % (old.max_order + 1);
      op.arg = run.order(order);
      op.gfp = (ob & 0x80) != 0 ? GFP_KERNEL | __GFP_DMA : GFP_KERNEL;
      pages.push_back(run.emit(op));
      ++count;
      continue;
    }
    case 22:
      if (!pick(
              pages.size(), in.u8(), [&](std::size_t i) { return run.live(pages[i]); }, a))
        continue;
      op = free_op(pages[a], FreeRoute::FreePages);
      break;
    case 23: {
      const std::uint16_t os = in.u16();
      const std::uint8_t cs = in.u8();
      if (!pick(no, os, live_object, a) || !pick(nc, cs, live_cache, b))
        continue;
      op = cache_free(objects[a].handle, b);
      break;
    }
    case 24: {
      const std::uint16_t os = in.u16();
      const std::uint16_t off = in.u16();
      if (!pick(no, os, live_object, a))
        continue;
      op = cache_free(objects[a].handle, objects[a].cache);
      op.size = interior_size(1u + off, run.alloc(objects[a].handle)->usable);
      if (1u + off >= run.alloc(objects[a].handle)->usable)
        run.note("interior offset");
      break;
    }
    case 25:
      if (!pick(no, in.u16(), freed_debug, a))
        continue;
      op = cache_free(objects[a].handle, objects[a].cache);
      break;
    case 26: {
      const std::uint8_t kind = in.u8();
      const std::uint8_t cs = in.u8();
      const std::uint8_t ps = in.u8();
      const std::uint16_t off = in.u16();
      if (!pick(nc, cs, live_cache, a))
        continue;
      switch (kind % 5) { // PageBlock, Below, End, Metadata, Stack
      case 0:
        if (!pages.empty() && run.alloc(pages[ps % pages.size()])->addr != 0) {
          const oracle::Allocation& p = *run.alloc(pages[ps % pages.size()]);
          op = cache_free(pages[ps % pages.size()], a);
          op.size = interior_size(off % p.usable, p.usable);
        } else {
          op = free_at(FreeRoute::CacheFree, Where::Outside, 8);
        }
        break;
      case 1: op = free_at(FreeRoute::CacheFree, Where::Below); break;
      case 2: op = free_at(FreeRoute::CacheFree, Where::End); break;
      case 3:
        op = free_at(FreeRoute::CacheFree, Where::ArenaPage, off % (1u << old.page_shift));
        break;
      default: op = free_at(FreeRoute::CacheFree, Where::Outside, 8); break;
      }
      if (op.kind == OpKind::FreeAt)
        op.cache = a;
      break;
    }
    case 27: {
      const std::uint8_t kind = in.u8();
      const std::uint8_t cs = in.u8();
      const std::uint16_t os = in.u16();
      const bool destroy = (kind & 0x80) != 0;
      op = make(OpKind::BadCache);
      op.arg = kind % 3; // Stale, Interior, Foreign in both vocabularies
      op.cache = nc != 0 ? cs % static_cast<unsigned>(nc) : 0;
      op.n = destroy ? 3 : 1; // kmem_cache_destroy, kmem_cache_free
      if (!destroy) {
        if (!pick(no, os, live_object, a))
          continue;
        op.handle = objects[a].handle;
      }
      break;
    }
    default: op = make(OpKind::Validate); break;
    }
    run.emit(op);
    ++count;
  }
}

// ---- fuzz_kmalloc

Config kmalloc_config(ByteReader& in) {
  static constexpr unsigned kShifts[] = {12, 14, 16, 12};
  static constexpr unsigned kMinSizes[] = {0, 0, 64, 128};
  Config cfg;
  const std::uint8_t b0 = in.u8();
  cfg.profile = (b0 & 1) ? Profile::Linux4Slab : Profile::Linux6;
  cfg.page_shift = kShifts[(b0 >> 1) & 3];
  cfg.kmalloc_min_size = kMinSizes[(b0 >> 3) & 3];
  cfg.nr_cpus = (b0 & 0x40) ? 4 : 1;
  const std::uint8_t b1 = in.u8();
  cfg.max_order = cfg.profile == Profile::Linux6 ? 1 + b1 % 10 : b1 % 11;
  const std::uint8_t b2 = in.u8();
  std::size_t bytes =
      (b2 & 0x80) ? kRegionBytes : (std::size_t{32} + (b2 & 0x7fu) * 8) << cfg.page_shift;
  bytes = std::min(bytes, kRegionBytes);
  cfg.arena_size = bytes;
  const std::size_t pages = bytes >> cfg.page_shift;
  const std::uint8_t b3 = in.u8();
  cfg.dma_zone_size = (b0 & 0x20) ? 0 : (pages * b3 / 256) << cfg.page_shift;
  cfg.random_seed = 0x5eed;
  return cfg;
}

gfp_t kmalloc_gfp(std::uint8_t b) {
  const gfp_t bad = (b & 0xe0) == 0xe0 ? 0x800000u : 0u;
  return ((b & 0x10) ? GFP_ATOMIC : GFP_KERNEL) | bad |
         flags_of<gfp_t>(b, {{0x01, __GFP_DMA},
                             {0x02, __GFP_RECLAIMABLE},
                             {0x04, __GFP_ZERO},
                             {0x08, __GFP_NOWARN}});
}

std::uint64_t kmalloc_size(ByteReader& in, const model::front::SizeClassModel& m) {
  const std::uint8_t mode = in.u8();
  const std::uint16_t v = in.u16();
  const long delta = static_cast<long>((mode >> 3) % 5) - 2;
  auto plus = [&](std::uint64_t base) {
    const long r = static_cast<long>(base) + delta;
    return static_cast<std::uint64_t>(r < 0 ? 0 : r);
  };
  switch (mode & 7) {
  case 0:
  case 1: return 1 + (v & 0xffu);
  case 2: return 1 + (v & 0xfffu);
  case 3: {
    const auto& c = m.cache_sizes();
    return c.empty() ? v : plus(c[v % c.size()]);
  }
  case 4: return plus(std::uint64_t{1} << (v % 28));
  case 5: return plus(((v & 0x3ffu) + 1) * m.page_size());
  case 6: return 0;
  default: return static_cast<std::uint64_t>(v) << ((mode >> 3) & 15);
  }
}

void decode_kmalloc(Run& run, ByteReader& in, const Config& old) {
  const model::front::SizeClassModel m(old);
  std::vector<Handle> handles; // old handle -> new handle
  enum class State { Null, Zero, Live, Freed };
  auto state = [&](std::size_t i) {
    const oracle::Allocation* a = run.alloc(handles[i]);
    if (a == nullptr || a->kind == Kind::Null)
      return State::Null;
    if (a->kind == Kind::Zero)
      return State::Zero;
    return a->live ? State::Live : State::Freed;
  };
  auto pick = [&](unsigned sel, auto pred, Handle& out) {
    std::uint32_t i = 0;
    if (!pick_wrapping(handles.size(), sel, pred, i))
      return false;
    out = handles[i];
    return true;
  };
  auto live = [&](std::size_t i) { return state(i) == State::Live; };
  auto not_freed = [&](std::size_t i) { return state(i) != State::Freed; };
  auto freed = [&](std::size_t i) { return state(i) == State::Freed; };
  auto any = [](std::size_t) { return true; };
  auto alloc = [&](OpKind kind, std::uint64_t size, gfp_t gfp) {
    Op op = make(kind);
    op.size = run.size(size);
    op.gfp = run.gfp(gfp);
    return op;
  };
  std::size_t count = 0;
  while (!in.done() && count < 512 && !run.full()) {
    const unsigned code = in.u8() & 31;
    Handle h = 0;
    Op op;
    switch (code) {
    case 0:
    case 1:
    case 2:
    case 3:
    case 4:
    case 5:
    case 6: {
      const std::uint64_t size = kmalloc_size(in, m);
      op = alloc(code == 6 ? OpKind::Kzalloc : OpKind::Kmalloc, size, kmalloc_gfp(in.u8()));
      handles.push_back(run.emit(op));
      ++count;
      continue;
    }
    case 7: {
      const std::uint8_t flags = in.u8();
      const std::uint8_t nb = in.u8();
      std::uint64_t size = kmalloc_size(in, m);
      const gfp_t gfp = kmalloc_gfp(in.u8());
      std::uint64_t n = nb % 16;
      if (flags & 0x02) { // n * size overflows: (1 << 63) + nb
        n = (~std::uint64_t{0} >> 1) + std::min(nb + 1u, 255u);
        if (nb == 255)
          run.note("kcalloc count");
        size = size < 2 ? 2 : size;
      }
      op = alloc((flags & 1) == 0 ? OpKind::Kcalloc : OpKind::KmallocArray, size, gfp);
      op.n = n;
      handles.push_back(run.emit(op));
      ++count;
      continue;
    }
    case 8:
    case 9: {
      const std::uint8_t sel = in.u8();
      const std::uint64_t size = kmalloc_size(in, m);
      const gfp_t gfp = kmalloc_gfp(in.u8());
      const std::uint8_t fb = in.u8();
      if (!pick(sel, not_freed, h))
        continue;
      op = make(OpKind::Krealloc);
      op.handle = h;
      op.size = run.size(size);
      op.gfp = run.gfp(gfp, true);
      op.arg = run.fail_count((fb & 0x80) ? fb % 4u : 0u, 2);
      break;
    }
    case 10:
    case 11:
    case 12:
    case 13:
    case 14:
      if (!pick(in.u8(), live, h))
        continue;
      op = free_op(h, code == 14 ? FreeRoute::KfreeSensitive : FreeRoute::Kfree);
      break;
    case 15:
      if (!pick(in.u8(), any, h))
        continue;
      op = with_handle(OpKind::Ksize, h);
      break;
    case 16:
    case 17:
      if (!pick(in.u8(), live, h))
        continue;
      run.note("fill");
      ++count;
      continue;
    case 19: {
      if (!fail_next(run, in.u8() % 4u, op)) {
        ++count;
        continue;
      }
      break;
    }
    case 20: {
      const std::uint8_t sel = in.u8();
      const std::uint16_t off = in.u16();
      if (!pick(sel, live, h))
        continue;
      // The old target skipped it below two usable bytes; so does the new checker (size 0).
      const std::size_t usable = run.alloc(h)->usable;
      op = free_op(h, FreeRoute::Kfree);
      op.size = usable < 2 ? 0 : interior_size(1 + off % (usable - 1), usable);
      break;
    }
    case 21:
      if (!pick(in.u8(), freed, h))
        continue;
      op = free_op(h, FreeRoute::Kfree);
      break;
    case 22: {
      const std::uint8_t kind = in.u8();
      const std::uint16_t off = in.u16();
      switch (kind % 5) { // Stack, Below, End, Metadata, PageBlock
      case 0: op = free_at(FreeRoute::Kfree, Where::Outside, off); break;
      case 1: op = free_at(FreeRoute::Kfree, Where::Below); break;
      case 2: op = free_at(FreeRoute::Kfree, Where::End); break;
      case 3:
        op =
            free_at(FreeRoute::Kfree, Where::ArenaPage, off % (std::uint64_t{1} << old.page_shift));
        break;
      default: { // a fresh alloc_pages(GFP_KERNEL, 0) block + offset, freed afterwards
        Op pages = make(OpKind::AllocPages);
        const Handle p = run.emit(pages);
        const oracle::Allocation* a = run.alloc(p);
        Op bad = free_op(p, FreeRoute::Kfree);
        bad.size =
            a == nullptr ? 0 : interior_size(off % std::max<std::size_t>(a->usable, 1), a->usable);
        run.emit(bad);
        op = free_op(p, FreeRoute::FreePages);
        break;
      }
      }
      break;
    }
    case 23: {
      const std::uint64_t size = kmalloc_size(in, m);
      op = alloc(OpKind::CheckSize, size, kmalloc_gfp(in.u8()));
      break;
    }
    default:
      if (!pick(in.u8(), live, h))
        continue;
      op = with_handle(OpKind::Verify, h);
      break;
    }
    run.emit(op);
    ++count;
  }
}

// ---- fuzz_size_class: fuzz_kmalloc's header, then (size mode, u16, gfp) entries; mode bit 7:
// also kmalloc the size and kfree it

void decode_size_class(Run& run, ByteReader& in, const Config& old) {
  const model::front::SizeClassModel m(old);
  for (std::size_t e = 0; !in.done() && e < 256 && !run.full(); ++e) {
    const std::uint8_t mode = in.u8();
    const std::uint16_t v = in.u16();
    const gfp_t gfp = run.gfp(kmalloc_gfp(in.u8()));
    const std::uint8_t raw[3] = {mode, static_cast<std::uint8_t>(v),
                                 static_cast<std::uint8_t>(v >> 8)};
    ByteReader sizer(raw, sizeof raw);
    Op op = make(OpKind::CheckSize);
    op.size = run.size(kmalloc_size(sizer, m));
    op.gfp = gfp;
    run.emit(op);
    if ((mode & 0x80) == 0)
      continue;
    op.kind = OpKind::Kmalloc;
    const Handle h = run.emit(op);
    if (h != oracle::kNone && run.live(h))
      run.emit(free_op(h, FreeRoute::Kfree));
  }
}

} // namespace

const char* layer_name(Layer layer) {
  switch (layer) {
  case Layer::Buddy: return "buddy";
  case Layer::Slab: return "slab";
  case Layer::Kmalloc: return "kmalloc";
  case Layer::SizeClass: return "size_class";
  }
  return "?";
}

LegacyInput decode_legacy(Layer layer, const std::uint8_t* data, std::size_t size) {
  LegacyInput out;
  ByteReader in(data, size);
  const Config old = layer == Layer::Buddy  ? buddy_config(in)
                     : layer == Layer::Slab ? slab_config(in)
                                            : kmalloc_config(in); // also fuzz_size_class's
  Run run(out, old);
  switch (layer) {
  case Layer::Buddy: decode_buddy(run, in, old); break;
  case Layer::Slab: decode_slab(run, in, old); break;
  case Layer::Kmalloc: decode_kmalloc(run, in, old); break;
  case Layer::SizeClass: decode_size_class(run, in, old); break;
  }
  return out;
}

std::vector<std::uint8_t> convert_legacy(Layer layer, const std::uint8_t* data, std::size_t size) {
  const LegacyInput in = decode_legacy(layer, data, size);
  HeapEncoder enc(in.header);
  for (const Op& op : in.ops)
    enc.append(op);
  return enc.bytes();
}

} // namespace km::tools
