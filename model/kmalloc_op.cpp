// model/kmalloc_op.cpp - printers for the kmalloc operation vocabulary.
#include "model/kmalloc_op.h"

#include <cstdio>

#include "model/op.h"

namespace km::model::front {

namespace {

template <class... Fs> struct Overloaded : Fs... { using Fs::operator()...; };
template <class... Fs> Overloaded(Fs...) -> Overloaded<Fs...>;

std::string hex(std::uint64_t v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%#llx", static_cast<unsigned long long>(v));
  return buf;
}

std::string h(Handle handle) {
  std::string s(1, '#');
  s += std::to_string(handle);
  return s;
}

std::string num(std::uint64_t v) {
  return std::to_string(v);
}

const char* foreign_name(Foreign where) {
  switch (where) {
  case Foreign::Stack: return "stack object";
  case Foreign::Below: return "arena_start - 64";
  case Foreign::End: return "arena_end";
  case Foreign::Metadata: return "arena_start";
  case Foreign::PageBlock: return "alloc_pages block";
  }
  return "?";
}

const char* foreign_cpp(Foreign where) {
  switch (where) {
  case Foreign::Stack: return "Foreign::Stack";
  case Foreign::Below: return "Foreign::Below";
  case Foreign::End: return "Foreign::End";
  case Foreign::Metadata: return "Foreign::Metadata";
  case Foreign::PageBlock: return "Foreign::PageBlock";
  }
  return "Foreign::Stack";
}

} // namespace

std::string gfp_to_string(gfp_t gfp) {
  return km::model::gfp_to_string(gfp);
}

std::string to_string(const Op& op) {
  return std::visit(
      Overloaded{
          [](const Kmalloc& o) {
            return "kmalloc(" + num(o.size) + ", " + gfp_to_string(o.gfp) + ")";
          },
          [](const Kzalloc& o) {
            return "kzalloc(" + num(o.size) + ", " + gfp_to_string(o.gfp) + ")";
          },
          [](const Kcalloc& o) {
            return std::string(o.zero ? "kcalloc(" : "kmalloc_array(") + num(o.n) + ", " +
                   num(o.size) + ", " + gfp_to_string(o.gfp) + ")";
          },
          [](const Krealloc& o) {
            return "krealloc(" + h(o.handle) + ", " + num(o.new_size) + ", " +
                   gfp_to_string(o.gfp) + ")" +
                   (o.fail != 0 ? " [fail " + num(o.fail) + " page allocs]" : "");
          },
          [](const Kfree& o) { return "kfree(" + h(o.handle) + ")"; },
          [](const KfreeSensitive& o) { return "kfree_sensitive(" + h(o.handle) + ")"; },
          [](const Ksize& o) { return "ksize(" + h(o.handle) + ")"; },
          [](const Fill& o) { return "fill(" + h(o.handle) + ")"; },
          [](const Verify& o) { return "verify(" + h(o.handle) + ")"; },
          [](const FailNext& o) { return "fail_next(" + num(o.count) + ")"; },
          [](const KfreeInterior& o) {
            return "kfree(" + h(o.handle) + " + " + num(o.offset) + ") [interior]";
          },
          [](const KfreeTwice& o) { return "kfree(" + h(o.handle) + ") [twice]"; },
          [](const KfreeForeign& o) {
            return std::string("kfree(") + foreign_name(o.where) + " + " + num(o.offset) +
                   ") [foreign]";
          },
          [](const CheckSize& o) {
            return "check_size(" + num(o.size) + ", " + gfp_to_string(o.gfp) + ")";
          },
      },
      op);
}

std::string format_ops(std::span<const Op> ops, const char* separator) {
  std::string out;
  Handle next = 0;
  for (std::size_t i = 0; i < ops.size(); ++i) {
    if (i != 0)
      out += separator;
    out += to_string(ops[i]);
    if (creates_handle(ops[i]))
      out += " -> " + h(next++);
  }
  return out;
}

std::string to_cpp(const Op& op) {
  return std::visit(
      Overloaded{
          [](const Kmalloc& o) { return "Kmalloc{" + num(o.size) + "u, " + hex(o.gfp) + "}"; },
          [](const Kzalloc& o) { return "Kzalloc{" + num(o.size) + "u, " + hex(o.gfp) + "}"; },
          [](const Kcalloc& o) {
            return "Kcalloc{" + hex(o.n) + "u, " + hex(o.size) + "u, " + hex(o.gfp) + ", " +
                   (o.zero ? "true" : "false") + "}";
          },
          [](const Krealloc& o) {
            return "Krealloc{" + num(o.handle) + ", " + num(o.new_size) + "u, " + hex(o.gfp) +
                   ", " + num(o.fail) + "}";
          },
          [](const Kfree& o) { return "Kfree{" + num(o.handle) + "}"; },
          [](const KfreeSensitive& o) { return "KfreeSensitive{" + num(o.handle) + "}"; },
          [](const Ksize& o) { return "Ksize{" + num(o.handle) + "}"; },
          [](const Fill& o) { return "Fill{" + num(o.handle) + "}"; },
          [](const Verify& o) { return "Verify{" + num(o.handle) + "}"; },
          [](const FailNext& o) { return "FailNext{" + num(o.count) + "}"; },
          [](const KfreeInterior& o) {
            return "KfreeInterior{" + num(o.handle) + ", " + num(o.offset) + "}";
          },
          [](const KfreeTwice& o) { return "KfreeTwice{" + num(o.handle) + "}"; },
          [](const KfreeForeign& o) {
            return std::string("KfreeForeign{") + foreign_cpp(o.where) + ", " + num(o.offset) + "}";
          },
          [](const CheckSize& o) { return "CheckSize{" + num(o.size) + "u, " + hex(o.gfp) + "}"; },
      },
      op);
}

const char* op_name(const Op& op) {
  static constexpr const char* kNames[] = {
      "kmalloc",         "kzalloc",     "kcalloc",       "krealloc",  "kfree",
      "kfree_sensitive", "ksize",       "fill",          "verify",    "fail_next",
      "kfree_interior",  "kfree_twice", "kfree_foreign", "check_size"};
  static_assert(sizeof kNames / sizeof kNames[0] == std::variant_size_v<Op>);
  return kNames[op.index()];
}

bool creates_handle(const Op& op) {
  return std::holds_alternative<Kmalloc>(op) || std::holds_alternative<Kzalloc>(op) ||
         std::holds_alternative<Kcalloc>(op);
}

} // namespace km::model::front
