// model/heap_op.cpp - names and printers of the whole-heap operation vocabulary (heap_op.h).
#include "model/heap_op.h"

#include "model/text.h"

namespace km::oracle {

namespace {

std::string num(std::uint64_t v) {
  return std::to_string(v);
}
std::string h(Handle handle) {
  return "#" + num(handle);
}
std::string c(CacheId cache) {
  return "c" + num(cache);
}

constexpr const char* kOpNames[kOpKinds] = {"kmalloc",
                                            "kzalloc",
                                            "kmalloc_array",
                                            "kcalloc",
                                            "krealloc",
                                            "ksize",
                                            "kmem_cache_create",
                                            "kmem_cache_alloc",
                                            "kmem_cache_zalloc",
                                            "kmem_cache_shrink",
                                            "kmem_cache_destroy",
                                            "alloc_pages",
                                            "free",
                                            "free_at",
                                            "bad_cache",
                                            "verify",
                                            "flush_cpu_slabs",
                                            "set_cpu",
                                            "fail_next",
                                            "check_size",
                                            "validate"};
constexpr const char* kRouteNames[kFreeRoutes + 1] = {
    "kfree", "kfree_sensitive", "kmem_cache_free", "free_pages", "__free_pages", "free"};
constexpr const char* kWhereNames[kWheres] = {"outside", "below", "end", "arena_page", "slab_tail"};
constexpr const char* kBadNames[kBadPointers] = {"stale", "interior", "foreign"};
constexpr const char* kBadCalls[4] = {"kmem_cache_alloc", "kmem_cache_free", "kmem_cache_shrink",
                                      "kmem_cache_destroy"};

// The pointer and order arguments of a Free, as its route spells them.
std::string free_args(const Op& op) {
  std::string p = h(op.handle) + (op.size != 0 ? " + " + num(op.size) : "");
  const std::string order =
      "order(" + h(op.handle) + ")" + (op.arg != 0 ? " + " + num(op.arg) : "");
  switch (op.route) {
  case FreeRoute::Kfree:
  case FreeRoute::KfreeSensitive: return p;
  case FreeRoute::CacheFree:
    return (op.cache == kNoCache ? "cache(" + h(op.handle) + ")" : c(op.cache)) + ", " + p;
  case FreeRoute::FreePages: return p + ", " + order;
  case FreeRoute::PageFree: return "virt_to_page(" + p + "), " + order;
  case FreeRoute::Own: return p + (op.arg != 0 ? ", " + order : "");
  }
  return p;
}

} // namespace

bool creates_handle(OpKind kind) {
  return kind == OpKind::Kmalloc || kind == OpKind::Kzalloc || kind == OpKind::KmallocArray ||
         kind == OpKind::Kcalloc || kind == OpKind::CacheAlloc || kind == OpKind::CacheZalloc ||
         kind == OpKind::AllocPages;
}

const char* op_name(OpKind kind) {
  const auto k = static_cast<unsigned>(kind);
  return k < kOpKinds ? kOpNames[k] : "?";
}

const char* route_name(FreeRoute route) {
  const auto r = static_cast<unsigned>(route);
  return r <= kFreeRoutes ? kRouteNames[r] : "?";
}

std::string to_string(const Op& op) {
  const std::string name = op_name(op.kind);
  const std::string gfp = gfp_to_string(op.gfp);
  switch (op.kind) {
  case OpKind::Kmalloc:
  case OpKind::Kzalloc: return name + "(" + num(op.size) + ", " + gfp + ")";
  case OpKind::KmallocArray:
  case OpKind::Kcalloc: return name + "(" + num(op.n) + ", " + num(op.size) + ", " + gfp + ")";
  case OpKind::Krealloc:
    return name + "(" + h(op.handle) + ", " + num(op.size) + ", " + gfp + ")" +
           (op.arg != 0 ? " [fail " + num(op.arg) + "]" : "");
  case OpKind::Ksize:
  case OpKind::Verify: return name + "(" + h(op.handle) + ")";
  case OpKind::CacheCreate:
    return name + "(" +
           (op.name_len == 0            ? ""
            : op.name_len == kNullName  ? "NULL, "
            : op.name_len == kEmptyName ? "\"\", "
                                        : "name[" + num(op.name_len) + "], ") +
           num(op.size) + ", " + num(op.n) + ", " + slab_flags_to_string(op.flags) +
           (op.arg != 0 ? ", ctor)" : ", NULL)");
  case OpKind::CacheAlloc:
  case OpKind::CacheZalloc: return name + "(" + c(op.cache) + ", " + gfp + ")";
  case OpKind::CacheShrink:
  case OpKind::CacheDestroy: return name + "(" + c(op.cache) + ")";
  case OpKind::AllocPages:
    return (op.n != 0 ? "__get_free_pages" : name) + "(" + gfp + ", " + num(op.arg) + ")";
  case OpKind::Free: return std::string(route_name(op.route)) + "(" + free_args(op) + ")";
  case OpKind::FreeAt: {
    const std::string where = op.arg < kWheres ? kWhereNames[op.arg] : "?";
    std::string args = where + "(" + num(op.size) + ")";
    if (op.route == FreeRoute::CacheFree)
      args = (op.cache == kNoCache ? "c?" : c(op.cache)) + ", " + args;
    if (op.route == FreeRoute::FreePages || op.route == FreeRoute::PageFree)
      args += ", 0";
    return std::string(route_name(op.route)) + "(" + args + ")";
  }
  case OpKind::BadCache:
    return std::string(kBadCalls[op.n % 4]) + "(" +
           (op.arg < kBadPointers ? kBadNames[op.arg] : "?") + "(" + c(op.cache) + ")" +
           (op.n % 4 == 1 ? ", " + h(op.handle) : "") + ")";
  case OpKind::Flush:
  case OpKind::Validate: return name + "()";
  case OpKind::SetCpu:
  case OpKind::FailNext: return name + "(" + num(op.arg) + ")";
  case OpKind::CheckSize: return name + "(" + num(op.size) + ", " + gfp + ")";
  }
  return name;
}

std::string format_ops(std::span<const Op> ops, const char* separator) {
  std::string out;
  Handle next_handle = 0;
  CacheId next_cache = 0;
  for (const Op& op : ops) {
    if (!out.empty())
      out += separator;
    if (op.kind == OpKind::CacheCreate)
      out += c(next_cache++) + " = ";
    out += to_string(op);
    if (creates_handle(op.kind))
      out += " -> " + h(next_handle++);
  }
  return out;
}

std::string to_cpp(const Op& op) {
  std::string out = "{.kind = OpKind::";
  static constexpr const char* kKinds[kOpKinds] = {
      "Kmalloc",     "Kzalloc",    "KmallocArray", "Kcalloc",     "Krealloc",     "Ksize",
      "CacheCreate", "CacheAlloc", "CacheZalloc",  "CacheShrink", "CacheDestroy", "AllocPages",
      "Free",        "FreeAt",     "BadCache",     "Verify",      "Flush",        "SetCpu",
      "FailNext",    "CheckSize",  "Validate"};
  static constexpr const char* kRoutes[kFreeRoutes + 1] = {
      "Kfree", "KfreeSensitive", "CacheFree", "FreePages", "PageFree", "Own"};
  out += kKinds[static_cast<unsigned>(op.kind) % kOpKinds];
  auto field = [&](const char* name, std::uint64_t v, std::uint64_t dflt) {
    if (v != dflt)
      out += std::string(", .") + name + " = " + hex(v);
  };
  field("size", op.size, 0);
  field("n", op.n, 0);
  field("gfp", op.gfp, GFP_KERNEL);
  field("handle", op.handle, 0);
  field("cache", op.cache, kNoCache);
  field("flags", op.flags, 0);
  field("arg", op.arg, 0);
  field("name_len", op.name_len, 0);
  if (op.route != FreeRoute::Kfree)
    out += std::string(", .route = FreeRoute::") + kRoutes[static_cast<unsigned>(op.route) % 6];
  return out + "}";
}

} // namespace km::oracle
