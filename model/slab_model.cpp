// model/slab_model.cpp - the slab layer's specification; see slab_model.h.
#include "model/slab_model.h"

#include <algorithm>
#include <cstdio>
#include <optional>
#include <utility>

namespace km::model::slab {

namespace {

constexpr unsigned kPointer = 8;          // sizeof(void*)
constexpr unsigned kMinAlign = 8;         // ARCH_SLAB_MINALIGN
constexpr std::uint64_t kMaxObjs = 32767; // MAX_OBJS_PER_PAGE

std::string hex(std::uint64_t v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%#llx", static_cast<unsigned long long>(v));
  return buf;
}

std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

std::string set_text(const std::set<unsigned>& s) {
  std::string out = "{";
  std::size_t n = 0;
  for (unsigned i : s) {
    if (n++ == 16) {
      out += " ...";
      break;
    }
    if (n > 1)
      out += ' ';
    out += std::to_string(i);
  }
  return out + "}";
}

} // namespace

const char* free_class_name(FreeClass c) {
  switch (c) {
  case FreeClass::NoOp: return "no-op";
  case FreeClass::Success: return "freed";
  case FreeClass::InvalidCache: return "invalid cache";
  case FreeClass::Outside: return "outside the arena";
  case FreeClass::NotSlab: return "not a slab page";
  case FreeClass::WrongCache: return "wrong cache";
  case FreeClass::NotObject: return "not an object start";
  case FreeClass::DoubleFree: return "double free";
  }
  return "?";
}

// ---- state

void SlabModel::init(const Config& cfg, std::uintptr_t arena_start, std::size_t npages,
                     std::size_t metadata_pages) {
  *this = SlabModel{};
  buddy_.init(cfg, arena_start, npages, metadata_pages);
}

std::optional<CacheId> SlabModel::cache_by_ptr(std::uintptr_t ptr) const {
  const auto it = live_ptrs_.find(ptr);
  if (it == live_ptrs_.end())
    return std::nullopt;
  return it->second;
}

std::vector<CacheId> SlabModel::live_caches() const {
  std::vector<CacheId> out;
  for (const ModelCache& c : caches_)
    if (c.live)
      out.push_back(c.id);
  return out;
}

CreateExpect SlabModel::expect_create(const CacheCreate& op) const {
  CreateExpect e;
  e.layout = calc_layout(config(), op.size, op.align, op.flags, op.ctor);
  if (e.layout.ok && live_ptrs_.size() >= config().max_caches) {
    e.layout.ok = false;
    e.layout.why = "no free kmem_cache descriptor";
  }
  if (!e.layout.ok)
    e.report = (op.flags & SLAB_PANIC) != 0 ? ErrorKind::SlabPanic : ErrorKind::CacheCreateFailed;
  return e;
}

std::string SlabModel::commit_create(const CreateExpect& e, const CacheCreate& op,
                                     std::uintptr_t ptr) {
  ModelCache c;
  c.id = static_cast<CacheId>(caches_.size());
  c.flags = op.flags;
  c.ctor = op.ctor;
  c.layout = e.layout;
  c.cpu_slab.assign(config().nr_cpus, 0);
  std::string err;
  if (!e.layout.ok && ptr != 0)
    err = "kmem_cache_create must fail (" + e.layout.why + "), returned " + hex(ptr);
  else if (e.layout.ok && ptr == 0)
    err = "kmem_cache_create returned NULL for a valid cache";
  else if (ptr != 0 && live_ptrs_.count(ptr) != 0)
    err = "kmem_cache_create returned " + hex(ptr) + ", the pointer of live cache c" +
          std::to_string(live_ptrs_.at(ptr));
  if (err.empty() && ptr != 0) {
    c.ptr = ptr;
    c.live = true;
    live_ptrs_[ptr] = c.id;
  }
  caches_.push_back(std::move(c));
  return err;
}

CacheCounters SlabModel::counters(CacheId id) const {
  const ModelCache& c = caches_[id];
  CacheCounters n;
  n.nr_slabs = c.slabs.size();
  n.nr_partial = c.partial.size();
  std::size_t partial_free = 0;
  for (const auto& [base, s] : c.slabs) {
    n.total_objects += s.capacity;
    n.free_objects += s.nr_free();
    if (s.state == SlabState::Full)
      ++n.nr_full;
    else if (s.state == SlabState::Cpu)
      ++n.nr_cpu_slabs;
    else
      partial_free += s.nr_free();
  }
  n.active_objects = n.total_objects - partial_free;
  return n;
}

ModelSlab* SlabModel::find_slab(std::uintptr_t addr) {
  auto it = slab_index_.upper_bound(addr);
  if (it == slab_index_.begin())
    return nullptr;
  --it;
  ModelSlab& s = caches_[it->second].slabs.at(it->first);
  if (addr >= s.base + (page_size() << s.order))
    return nullptr;
  return &s;
}

const ModelSlab* SlabModel::slab_at(std::uintptr_t addr) const {
  return const_cast<SlabModel*>(this)->find_slab(addr);
}

// The slab goes back to the page allocator.
void SlabModel::discard(ModelCache& c, std::uintptr_t base) {
  ModelSlab& s = c.slabs.at(base);
  const auto e = buddy_.expect_free_address(base, s.order);
  buddy_.commit_free(e);
  slab_pages_ -= std::size_t{1} << s.order;
  slab_index_.erase(base);
  c.slabs.erase(base);
}

// deactivate_slab: the cpu's free objects join the slab's freelist; the slab leaves the cpu for
// the page allocator (empty, and min_partial slabs are kept already), the full state, or the
// partial list - its tail if it received remote frees while frozen, else its head.
void SlabModel::deactivate(ModelCache& c, unsigned cpu) {
  const std::uintptr_t base = c.cpu_slab[cpu];
  if (base == 0)
    return;
  c.cpu_slab[cpu] = 0;
  ModelSlab& s = c.slabs.at(base);
  const bool remote_frees = !s.free.empty();
  s.free.insert(s.cpu_free.begin(), s.cpu_free.end());
  s.cpu_free.clear();
  if (s.live.empty() && c.partial.size() >= c.layout.min_partial) {
    discard(c, base);
  } else if (s.free.empty()) {
    s.state = SlabState::Full;
  } else {
    s.state = SlabState::Partial;
    if (remote_frees)
      c.partial.push_back(base);
    else
      c.partial.push_front(base);
  }
}

std::string SlabModel::alloc(CacheId id, gfp_t gfp, std::uintptr_t got, AllocResult& out) {
  ModelCache& c = caches_[id];
  const ModelLayout& l = c.layout;
  const auto oid = static_cast<ObjectId>(objects_.size());
  out = AllocResult{};
  out.object = oid;
  objects_.push_back(ModelObject{id, 0, ObjState::Null, Content::Unknown, splitmix64(oid + 1)});
  object_cache_.push_back(static_cast<int>(id));
  if ((gfp & ~__GFP_BITS_MASK) != 0) {
    out.null_expected = true;
    out.why_null = "gfp bits outside __GFP_BITS_MASK";
    if ((gfp & __GFP_NOWARN) == 0)
      out.warning = ErrorKind::InvalidGfp;
    return got == 0 ? "" : "kmem_cache_alloc must return NULL (bad gfp), returned " + hex(got);
  }

  // Where the object must come from: the cpu slab's cpu freelist, else its remote frees, else
  // the head of the partial list, else a new slab.
  std::uintptr_t& cpu_slab = c.cpu_slab[cpu_];
  ModelSlab* from = nullptr;
  if (cpu_slab != 0) {
    ModelSlab& s = c.slabs.at(cpu_slab);
    if (s.cpu_free.empty())
      std::swap(s.cpu_free, s.free);
    if (!s.cpu_free.empty())
      from = &s;
    else
      deactivate(c, cpu_);
  }
  if (from == nullptr && !c.partial.empty()) {
    const std::uintptr_t base = c.partial.front();
    c.partial.pop_front();
    ModelSlab& s = c.slabs.at(base);
    s.state = SlabState::Cpu;
    s.cpu = cpu_;
    s.cpu_free = std::move(s.free);
    s.free.clear();
    cpu_slab = base;
    from = &s;
  }
  if (from == nullptr) {
    // allocate_slab: the preferred order without retrying hard, then the minimum order with
    // the caller's flags. Zone bits come from the cache, never from the caller.
    gfp_t base_gfp = gfp & ~(__GFP_DMA | __GFP_DMA32 | __GFP_HIGHMEM | __GFP_MOVABLE | __GFP_ZERO);
    if ((c.flags & SLAB_CACHE_DMA) != 0)
      base_gfp |= __GFP_DMA;
    if ((c.flags & SLAB_RECLAIM_ACCOUNT) != 0)
      base_gfp |= __GFP_RECLAIMABLE;
    gfp_t try_gfp = (base_gfp | __GFP_NOWARN | __GFP_NORETRY) & ~__GFP_NOFAIL;
    unsigned order = l.order;
    unsigned capacity = l.objects;
    AllocExpect e = buddy_.expect_alloc(try_gfp, order);
    if (e.kind != AllocExpect::Success) {
      (void)buddy_.commit_alloc(e, try_gfp, order, 0);
      try_gfp = base_gfp;
      order = l.min_order;
      capacity = l.min_objects;
      e = buddy_.expect_alloc(try_gfp, order);
    }
    if (e.kind != AllocExpect::Success) {
      (void)buddy_.commit_alloc(e, try_gfp, order, 0);
      out.null_expected = true;
      out.why_null = e.kind == AllocExpect::Injected ? "injected page failures" : "no pages";
      return got == 0
                 ? ""
                 : "kmem_cache_alloc must return NULL (" + out.why_null + "), returned " + hex(got);
    }
    if (got == 0)
      return "kmem_cache_alloc returned NULL; the model expects a new slab of order " +
             std::to_string(order);
    const std::uintptr_t block = got & ~((std::uintptr_t{page_size()} << order) - 1);
    const auto handle = static_cast<Handle>(buddy_.handle_count());
    const std::string err = buddy_.commit_alloc(e, try_gfp, order, block);
    if (!err.empty())
      return "new slab for object " + hex(got) + ": " + err;
    ModelSlab s;
    s.cache = id;
    s.base = block;
    s.order = order;
    s.capacity = capacity;
    s.page_handle = handle;
    s.state = SlabState::Cpu;
    s.cpu = cpu_;
    for (unsigned i = 0; i < capacity; ++i)
      s.cpu_free.insert(i);
    slab_index_[block] = id;
    slab_pages_ += std::size_t{1} << order;
    cpu_slab = block;
    from = &c.slabs.emplace(block, std::move(s)).first->second;
    out.new_slab = true;
    out.slab_base = block;
    out.slab_order = order;
    out.slab_capacity = capacity;
  }

  ModelSlab& s = *from;
  auto where = [&] {
    std::string text = "slab ";
    text += hex(s.base);
    text += " (order " + std::to_string(s.order) + ", " + std::to_string(s.capacity);
    text += " objects of stride " + std::to_string(l.size) + "), cpu freelist ";
    text += set_text(s.cpu_free);
    return text;
  };
  if (got == 0)
    return "kmem_cache_alloc returned NULL; the model expects an object of " + where();
  if (got < s.base || (got - s.base) % l.size != 0 || (got - s.base) / l.size >= s.capacity)
    return "kmem_cache_alloc returned " + hex(got) + ", not an object start of " + where();
  const auto idx = static_cast<unsigned>((got - s.base) / l.size);
  if (s.cpu_free.count(idx) == 0)
    return "kmem_cache_alloc returned object " + std::to_string(idx) + " (" + hex(got) +
           "), which is not on the cpu freelist of " + where();
  s.cpu_free.erase(idx);
  s.live[idx] = oid;
  ++c.live_objects;
  ModelObject& o = objects_[oid];
  o.addr = got;
  o.state = ObjState::Live;
  o.content = (gfp & __GFP_ZERO) != 0 ? Content::Zero : c.ctor ? Content::Ctor : Content::Unknown;
  return "";
}

ObjectId SlabModel::add_null_object(CacheId cache) {
  const auto oid = static_cast<ObjectId>(objects_.size());
  objects_.push_back(ModelObject{cache, 0, ObjState::Null, Content::Unknown, splitmix64(oid + 1)});
  object_cache_.push_back(static_cast<int>(cache));
  return oid;
}

FreeExpect SlabModel::expect_free(std::uintptr_t cache_ptr, std::uintptr_t addr) const {
  FreeExpect e;
  if (addr == 0)
    return e;
  const auto id = cache_by_ptr(cache_ptr);
  if (!id) {
    e.cls = FreeClass::InvalidCache;
    e.report = ErrorKind::InvalidCache;
    e.report_address = cache_ptr;
    return e;
  }
  e.cache = *id;
  e.report_address = addr;
  e.report = ErrorKind::InvalidObjectPointer;
  if (addr < buddy_.arena_start() || addr >= buddy_.arena_end()) {
    e.cls = FreeClass::Outside;
    return e;
  }
  const ModelSlab* s = slab_at(addr);
  if (s == nullptr) {
    e.cls = FreeClass::NotSlab;
    return e;
  }
  if (s->cache != *id) {
    e.cls = FreeClass::WrongCache;
    e.report = ErrorKind::WrongCache;
    return e;
  }
  const unsigned stride = caches_[*id].layout.size;
  if ((addr - s->base) % stride != 0 || (addr - s->base) / stride >= s->capacity) {
    e.cls = FreeClass::NotObject;
    return e;
  }
  const auto idx = static_cast<unsigned>((addr - s->base) / stride);
  const auto live = s->live.find(idx);
  if (live != s->live.end()) {
    e.cls = FreeClass::Success;
    e.report.reset();
    e.object = live->second;
    return e;
  }
  // A free object of the cache: the allocation bitmap makes every double free detectable, in
  // every cache (the kernel needs SLAB_CONSISTENCY_CHECKS for it).
  e.cls = FreeClass::DoubleFree;
  e.report = ErrorKind::ObjectDoubleFree;
  return e;
}

void SlabModel::commit_free(const FreeExpect& e) {
  ++free_counts_[static_cast<unsigned>(e.cls)];
  if (e.cls != FreeClass::Success)
    return;
  ModelObject& o = objects_[e.object];
  ModelCache& c = caches_[o.cache];
  ModelSlab& s = *find_slab(o.addr);
  const auto idx = static_cast<unsigned>((o.addr - s.base) / c.layout.size);
  s.live.erase(idx);
  o.state = ObjState::Freed;
  --c.live_objects;
  if (s.state == SlabState::Cpu) {
    // This cpu's slab: its cpu freelist; another cpu's: the slab's freelist (remote free).
    (s.cpu == cpu_ ? s.cpu_free : s.free).insert(idx);
    return;
  }
  const bool was_full = s.state == SlabState::Full;
  s.free.insert(idx);
  if (s.live.empty() && c.partial.size() >= c.layout.min_partial) {
    if (!was_full)
      c.partial.erase(std::find(c.partial.begin(), c.partial.end(), s.base));
    discard(c, s.base);
    return;
  }
  if (was_full) {
    s.state = SlabState::Partial;
    c.partial.push_back(s.base);
  }
}

void SlabModel::flush(CacheId id) {
  ModelCache& c = caches_[id];
  for (unsigned cpu = 0; cpu < c.cpu_slab.size(); ++cpu)
    deactivate(c, cpu);
}

void SlabModel::flush_all() {
  for (std::size_t i = caches_.size(); i-- > 0;)
    if (caches_[i].live)
      flush(static_cast<CacheId>(i));
}

int SlabModel::shrink(CacheId id) {
  flush(id);
  ModelCache& c = caches_[id];
  const std::deque<std::uintptr_t> partial = c.partial;
  for (std::uintptr_t base : partial) {
    if (c.slabs.at(base).live.empty()) {
      c.partial.erase(std::find(c.partial.begin(), c.partial.end(), base));
      discard(c, base);
    }
  }
  return c.slabs.empty() ? 0 : 1;
}

DestroyExpect SlabModel::destroy(std::uintptr_t ptr) {
  DestroyExpect e;
  if (ptr == 0)
    return e;
  const auto id = cache_by_ptr(ptr);
  if (!id) {
    e.kind = DestroyExpect::Invalid;
    e.report = ErrorKind::InvalidCache;
    e.report_address = ptr;
    return e;
  }
  e.cache = *id;
  flush(*id);
  ModelCache& c = caches_[*id];
  if (c.live_objects != 0) {
    e.kind = DestroyExpect::Remaining;
    e.report = ErrorKind::ObjectsRemaining;
    return e;
  }
  while (!c.partial.empty()) {
    const std::uintptr_t base = c.partial.front();
    c.partial.pop_front();
    discard(c, base);
  }
  c.live = false;
  live_ptrs_.erase(ptr);
  e.kind = DestroyExpect::Destroyed;
  return e;
}

std::string SlabModel::alloc_pages(unsigned order, bool dma, std::uintptr_t got) {
  const gfp_t gfp = GFP_KERNEL | (dma ? __GFP_DMA : 0);
  const AllocExpect e = buddy_.expect_alloc(gfp, order);
  const auto handle = static_cast<Handle>(buddy_.handle_count());
  const std::string err = buddy_.commit_alloc(e, gfp, order, got);
  PageBlock b;
  b.handle = handle;
  b.order = order;
  if (err.empty() && e.kind == AllocExpect::Success) {
    b.addr = got;
    b.live = true;
    page_alloc_pages_ += std::size_t{1} << order;
  }
  pages_.push_back(b);
  return err;
}

std::string SlabModel::free_pages(PagesId id) {
  PageBlock& b = pages_[id];
  const auto e = buddy_.expect_free_address(b.addr, b.order);
  if (b.addr != 0 && e.cls != model::FreeClass::Success)
    return "model: free_pages(p" + std::to_string(id) + ") is not a plain free";
  buddy_.commit_free(e);
  if (b.live) {
    b.live = false;
    page_alloc_pages_ -= std::size_t{1} << b.order;
  }
  return "";
}

std::string SlabModel::check_invariants() const {
  std::size_t pages = 0;
  for (const ModelCache& c : caches_) {
    const std::string name = "model: c" + std::to_string(c.id);
    if (!c.live && !c.slabs.empty())
      return name + " is destroyed but has slabs";
    std::size_t live = 0;
    for (const auto& [base, s] : c.slabs) {
      pages += std::size_t{1} << s.order;
      live += s.live.size();
      if (s.live.size() + s.nr_free() != s.capacity)
        return name + " slab " + hex(base) + ": live + free != capacity";
      const bool cpu_ok =
          s.state != SlabState::Cpu || (s.cpu < c.cpu_slab.size() && c.cpu_slab[s.cpu] == base);
      const bool on_partial =
          std::find(c.partial.begin(), c.partial.end(), base) != c.partial.end();
      if (!cpu_ok || on_partial != (s.state == SlabState::Partial) ||
          (s.state == SlabState::Full && s.nr_free() != 0) ||
          (s.state == SlabState::Partial && s.nr_free() == 0) ||
          (s.state != SlabState::Cpu && !s.cpu_free.empty()))
        return name + " slab " + hex(base) + " is in an inconsistent state";
      if (slab_index_.count(base) == 0)
        return name + " slab " + hex(base) + " is not indexed";
    }
    if (live != c.live_objects)
      return name + ": live object count is off";
  }
  if (pages != slab_pages_ || slab_index_.size() > pages)
    return "model: slab page count is off";
  if (slab_pages_ + page_alloc_pages_ != buddy_.live_pages())
    return "model: slab + alloc_pages pages != the buddy model's live pages";
  return buddy_.check_invariants();
}

} // namespace km::model::slab
