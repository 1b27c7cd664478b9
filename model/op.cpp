// model/op.cpp - printers for the buddy operation vocabulary.
#include "model/op.h"

#include "model/text.h"

#include <cstdio>
#include <vector>

namespace km::model {

namespace {

template <class... Fs> struct Overloaded : Fs... { using Fs::operator()...; };
template <class... Fs> Overloaded(Fs...) -> Overloaded<Fs...>;

std::string hex(std::uint64_t v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%#llx", static_cast<unsigned long long>(v));
  return buf;
}

std::string handle_name(Handle h) {
  std::string s(1, '#');
  s += std::to_string(h);
  return s;
}

std::string order_of(std::span<const unsigned> orders, Handle h, int delta = 0) {
  if (h >= orders.size()) {
    std::string s(1, '?');
    if (delta > 0)
      s += '+';
    if (delta != 0)
      s += std::to_string(delta);
    return s;
  }
  const long order = static_cast<long>(orders[h]) + delta;
  return std::to_string(order < 0 ? 0 : order);
}

const char* outside_name(Outside where) {
  switch (where) {
  case Outside::Below: return "arena_start - PAGE_SIZE";
  case Outside::End: return "arena_end";
  case Outside::Unaligned: return "arena_end + 1";
  case Outside::ForeignPage: return "foreign struct page";
  }
  return "?";
}

const char* outside_cpp(Outside where) {
  switch (where) {
  case Outside::Below: return "Outside::Below";
  case Outside::End: return "Outside::End";
  case Outside::Unaligned: return "Outside::Unaligned";
  case Outside::ForeignPage: return "Outside::ForeignPage";
  }
  return "?";
}

} // namespace

std::string gfp_to_string(gfp_t gfp) {
  return oracle::gfp_to_string(gfp);
}

std::string to_string(const Op& op, std::span<const unsigned> orders) {
  return std::visit(
      Overloaded{
          [](const AllocPages& o) {
            return "alloc_pages(order=" + std::to_string(o.order) + ", " + gfp_to_string(o.gfp) +
                   ")";
          },
          [&](const FreePages& o) {
            return std::string(o.by_page ? "__free_pages(page(" + handle_name(o.handle) + ")"
                                         : "free_pages(" + handle_name(o.handle)) +
                   ", order=" + order_of(orders, o.handle) + ")";
          },
          [](const Fill& o) { return "fill(" + handle_name(o.handle) + ")"; },
          [](const Verify& o) { return "verify(" + handle_name(o.handle) + ")"; },
          [](const InjectFailures& o) {
            return "inject_page_alloc_failures(" + std::to_string(o.count) + ")";
          },
          [&](const DoubleFree& o) {
            return "free_pages(" + handle_name(o.handle) + ", order=" + order_of(orders, o.handle) +
                   ") [double free]";
          },
          [&](const FreeWrongOrder& o) {
            return "free_pages(" + handle_name(o.handle) +
                   ", order=" + order_of(orders, o.handle, o.delta) + ") [wrong order, " +
                   (o.delta >= 0 ? "+" : "") + std::to_string(o.delta) + "]";
          },
          [&](const FreeInterior& o) {
            return "free_pages(" + handle_name(o.handle) + " + " + hex(o.offset) +
                   ", order=" + order_of(orders, o.handle) + ") [interior]";
          },
          [](const FreeRaw& o) {
            return "free_pages(arena page " + std::to_string(o.page) +
                   ", order=" + std::to_string(o.order) + ") [raw]";
          },
          [](const FreeOutside& o) {
            return std::string("free_pages(") + outside_name(o.where) + ", order=0) [outside]";
          },
          [](const ValidateAll&) { return std::string("validate_all()"); },
      },
      op);
}

std::string format_ops(std::span<const Op> ops, const char* separator) {
  std::vector<unsigned> orders;
  std::string out;
  for (const Op& op : ops) {
    if (!out.empty())
      out += separator;
    out += to_string(op, orders);
    if (const auto* a = std::get_if<AllocPages>(&op)) {
      out += " -> " + handle_name(static_cast<Handle>(orders.size()));
      orders.push_back(a->order);
    }
  }
  return out;
}

std::string to_cpp(const Op& op) {
  return std::visit(
      Overloaded{
          [](const AllocPages& o) {
            return "AllocPages{" + std::to_string(o.order) + ", " + hex(o.gfp) + "}";
          },
          [](const FreePages& o) {
            return "FreePages{" + std::to_string(o.handle) + (o.by_page ? ", true}" : "}");
          },
          [](const Fill& o) { return "Fill{" + std::to_string(o.handle) + "}"; },
          [](const Verify& o) { return "Verify{" + std::to_string(o.handle) + "}"; },
          [](const InjectFailures& o) { return "InjectFailures{" + std::to_string(o.count) + "}"; },
          [](const DoubleFree& o) { return "DoubleFree{" + std::to_string(o.handle) + "}"; },
          [](const FreeWrongOrder& o) {
            return "FreeWrongOrder{" + std::to_string(o.handle) + ", " + std::to_string(o.delta) +
                   "}";
          },
          [](const FreeInterior& o) {
            return "FreeInterior{" + std::to_string(o.handle) + ", " + hex(o.offset) + "}";
          },
          [](const FreeRaw& o) {
            return "FreeRaw{" + std::to_string(o.page) + ", " + std::to_string(o.order) + "}";
          },
          [](const FreeOutside& o) {
            return std::string("FreeOutside{") + outside_cpp(o.where) + "}";
          },
          [](const ValidateAll&) { return std::string("ValidateAll{}"); },
      },
      op);
}

const char* op_name(const Op& op) {
  static constexpr const char* kNames[] = {"alloc_pages",      "free_pages",      "fill",
                                           "verify",           "inject_failures", "double_free",
                                           "free_wrong_order", "free_interior",   "free_raw",
                                           "free_outside",     "validate_all"};
  static_assert(std::variant_size_v<Op> == std::size(kNames));
  return kNames[op.index()];
}

} // namespace km::model
