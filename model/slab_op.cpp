// model/slab_op.cpp - printers for the slab op vocabulary; see slab_op.h.
#include "model/slab_op.h"

#include "model/text.h"

#include <cstdio>
#include <vector>

#include "model/op.h" // gfp_to_string

namespace km::model::slab {

namespace {

template <class... Fs> struct Overloaded : Fs... { using Fs::operator()...; };
template <class... Fs> Overloaded(Fs...) -> Overloaded<Fs...>;

std::string c(CacheId id) {
  std::string s(1, 'c');
  s += std::to_string(id);
  return s;
}
std::string obj(ObjectId id) {
  std::string s(1, '#');
  s += std::to_string(id);
  return s;
}
std::string cache_of(ObjectId id, const PrintContext& ctx) {
  if (id < ctx.object_cache.size() && ctx.object_cache[id] >= 0)
    return c(static_cast<CacheId>(ctx.object_cache[id]));
  return "c?";
}
std::string hex(std::uint64_t v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%#llx", static_cast<unsigned long long>(v));
  return buf;
}

const char* foreign_name(Foreign f) {
  switch (f) {
  case Foreign::PageBlock: return "page_block";
  case Foreign::Below: return "below_arena";
  case Foreign::End: return "arena_end";
  case Foreign::Metadata: return "metadata";
  case Foreign::Stack: return "not_heap";
  }
  return "?";
}
const char* bad_cache_name(BadCache b) {
  switch (b) {
  case BadCache::Stale: return "stale";
  case BadCache::Interior: return "interior";
  case BadCache::Foreign: return "foreign";
  }
  return "?";
}

} // namespace

std::string slab_flags_to_string(slab_flags_t flags) {
  return oracle::slab_flags_to_string(flags);
}

std::string to_string(const Op& op, const PrintContext& ctx) {
  return std::visit(
      Overloaded{
          [&](const CacheCreate& o) {
            return "kmem_cache_create(" + std::to_string(o.size) + ", " + std::to_string(o.align) +
                   ", " + slab_flags_to_string(o.flags) + (o.ctor ? ", ctor)" : ")");
          },
          [&](const CacheAlloc& o) {
            return "kmem_cache_alloc(" + c(o.cache) +
                   (o.gfp == GFP_KERNEL ? std::string() : ", " + gfp_to_string(o.gfp)) + ")";
          },
          [&](const CacheFree& o) {
            return "kmem_cache_free(" + cache_of(o.object, ctx) + ", " + obj(o.object) + ")";
          },
          [&](const SetCpu& o) { return "set_cpu(" + std::to_string(o.cpu) + ")"; },
          [&](const Flush& o) { return "kmem_cache_flush(" + c(o.cache) + ")"; },
          [&](const FlushAll&) { return std::string("flush_cpu_slabs()"); },
          [&](const Shrink& o) { return "kmem_cache_shrink(" + c(o.cache) + ")"; },
          [&](const Destroy& o) { return "kmem_cache_destroy(" + c(o.cache) + ")"; },
          [&](const Fill& o) { return "fill(" + obj(o.object) + ")"; },
          [&](const Verify& o) { return "verify(" + obj(o.object) + ")"; },
          [&](const InjectPageFailures& o) {
            return "inject_page_alloc_failures(" + std::to_string(o.count) + ")";
          },
          [&](const AllocPages& o) {
            return "alloc_pages(order=" + std::to_string(o.order) +
                   (o.dma ? ", GFP_KERNEL|__GFP_DMA)" : ", GFP_KERNEL)");
          },
          [&](const FreePages& o) { return "free_pages(p" + std::to_string(o.pages) + ")"; },
          [&](const WrongCacheFree& o) {
            return "kmem_cache_free(" + c(o.cache) + ", " + obj(o.object) + ") [wrong cache]";
          },
          [&](const InteriorFree& o) {
            return "kmem_cache_free(" + cache_of(o.object, ctx) + ", " + obj(o.object) + " + " +
                   std::to_string(o.offset) + ") [interior]";
          },
          [&](const DoubleFree& o) {
            return "kmem_cache_free(" + cache_of(o.object, ctx) + ", " + obj(o.object) +
                   ") [double free]";
          },
          [&](const FreeForeign& o) {
            std::string where = foreign_name(o.where);
            if (o.where == Foreign::PageBlock)
              where = "p" + std::to_string(o.pages) + " + " + std::to_string(o.offset);
            else if (o.where == Foreign::Metadata)
              where += " + " + std::to_string(o.offset);
            return "kmem_cache_free(" + c(o.cache) + ", " + where + ") [foreign]";
          },
          [&](const InvalidCache& o) {
            const std::string bad = std::string(bad_cache_name(o.kind)) +
                                    (o.kind == BadCache::Foreign ? "" : ":" + c(o.cache));
            if (o.destroy)
              return "kmem_cache_destroy(" + bad + ") [invalid cache]";
            return "kmem_cache_free(" + bad + ", " + obj(o.object) + ") [invalid cache]";
          },
          [&](const ValidateAll&) { return std::string("validate_all()"); },
      },
      op);
}

std::string format_ops(std::span<const Op> ops, const char* separator) {
  std::vector<int> object_cache;
  CacheId caches = 0;
  PagesId pages = 0;
  std::string out;
  for (const Op& op : ops) {
    if (!out.empty())
      out += separator;
    const PrintContext ctx{object_cache};
    if (const auto* cc = std::get_if<CacheCreate>(&op)) {
      const std::string name = c(caches++);
      out += name + " = kmem_cache_create(\"" + name + "\", " + std::to_string(cc->size) + ", " +
             std::to_string(cc->align) + ", " + slab_flags_to_string(cc->flags) +
             (cc->ctor ? ", ctor)" : ")");
    } else if (const auto* ca = std::get_if<CacheAlloc>(&op)) {
      out += to_string(op, ctx) + " -> #" + std::to_string(object_cache.size());
      object_cache.push_back(static_cast<int>(ca->cache));
    } else if (std::holds_alternative<AllocPages>(op)) {
      out += to_string(op, ctx) + " -> p" + std::to_string(pages++);
    } else {
      out += to_string(op, ctx);
    }
  }
  return out;
}

std::string to_cpp(const Op& op) {
  auto u = [](std::uint64_t v) { return std::to_string(v); };
  auto b = [](bool v) { return std::string(v ? "true" : "false"); };
  return std::visit(
      Overloaded{
          [&](const CacheCreate& o) {
            return "CacheCreate{" + u(o.size) + ", " + u(o.align) + ", " + hex(o.flags) + ", " +
                   b(o.ctor) + "}";
          },
          [&](const CacheAlloc& o) { return "CacheAlloc{" + u(o.cache) + ", " + hex(o.gfp) + "}"; },
          [&](const CacheFree& o) { return "CacheFree{" + u(o.object) + "}"; },
          [&](const SetCpu& o) { return "SetCpu{" + u(o.cpu) + "}"; },
          [&](const Flush& o) { return "Flush{" + u(o.cache) + "}"; },
          [&](const FlushAll&) { return std::string("FlushAll{}"); },
          [&](const Shrink& o) { return "Shrink{" + u(o.cache) + "}"; },
          [&](const Destroy& o) { return "Destroy{" + u(o.cache) + "}"; },
          [&](const Fill& o) { return "Fill{" + u(o.object) + "}"; },
          [&](const Verify& o) { return "Verify{" + u(o.object) + "}"; },
          [&](const InjectPageFailures& o) { return "InjectPageFailures{" + u(o.count) + "}"; },
          [&](const AllocPages& o) { return "AllocPages{" + u(o.order) + ", " + b(o.dma) + "}"; },
          [&](const FreePages& o) { return "FreePages{" + u(o.pages) + "}"; },
          [&](const WrongCacheFree& o) {
            return "WrongCacheFree{" + u(o.object) + ", " + u(o.cache) + "}";
          },
          [&](const InteriorFree& o) {
            return "InteriorFree{" + u(o.object) + ", " + u(o.offset) + "}";
          },
          [&](const DoubleFree& o) { return "DoubleFree{" + u(o.object) + "}"; },
          [&](const FreeForeign& o) {
            return "FreeForeign{" + u(o.cache) + ", Foreign(" + u(static_cast<unsigned>(o.where)) +
                   "), " + u(o.pages) + ", " + u(o.offset) + "}";
          },
          [&](const InvalidCache& o) {
            return "InvalidCache{BadCache(" + u(static_cast<unsigned>(o.kind)) + "), " +
                   u(o.cache) + ", " + u(o.object) + ", " + b(o.destroy) + "}";
          },
          [&](const ValidateAll&) { return std::string("ValidateAll{}"); },
      },
      op);
}

const char* op_name(const Op& op) {
  static const char* const kNames[] = {
      "cache_create",
      "cache_alloc",
      "cache_free",
      "set_cpu",
      "flush",
      "flush_all",
      "shrink",
      "destroy",
      "fill",
      "verify",
      "inject_page_failures",
      "alloc_pages",
      "free_pages",
      "wrong_cache_free",
      "interior_free",
      "double_free",
      "free_foreign",
      "invalid_cache",
      "validate_all",
  };
  static_assert(sizeof kNames / sizeof kNames[0] == std::variant_size_v<Op>);
  return kNames[op.index()];
}

} // namespace km::model::slab
