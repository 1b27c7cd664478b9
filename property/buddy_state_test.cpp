// property/buddy_state_test.cpp - a RapidCheck state machine for the buddy page allocator.
//
// The system under test is model::BuddyChecker: it runs every op on a Heap and on the reference
// model and throws CheckError on the first difference (result, report, page counts, free
// blocks, nr_free, validate(), fill stamps). This file only generates op sequences, including
// misuse, over generated small arenas; a CheckError becomes RC_FAIL with the checker's message
// (config and op history), and RapidCheck shrinks the config and the sequence.
//
// Handles are numbered as the checker numbers them: the n-th AllocPages makes handle #n, even
// when it returns NULL. Commands store the handle number and the order it was allocated with,
// and their preconditions require both to still hold, so a shrunk counterexample prints
// exactly what the checker ran, e.g.
//   alloc_pages(order=2, GFP_KERNEL) -> #0
//   free_pages(#0, order=2)
//   free_pages(#0, order=2) [double free]
// The state machine's own model only tracks what the commands did (allocated, freed); whether
// an allocation succeeded is the checker's business, which is why a "live" handle may be NULL
// (freeing it is free_pages(0): a no-op), and a FreeRaw that hits a live block really frees it
// (the checker then classifies a later free of that handle as a double free).
// Shrinking the config keeps the command sequence, so commands whose arguments depend on the
// config (an order up to max_order + 1, a page index, an offset in pages) require in
// checkPreconditions that they still fit it.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>
#include <rapidcheck/state.h>

#include "kmalloc/config.h"
#include "kmalloc/gfp.h"
#include "kmalloc/heap.h"
#include "model/buddy_model.h"
#include "model/checker.h"
#include "model/op.h"
#include "property_support.h"

namespace {

using km::model::BuddyChecker;
using km::model::CheckError;
using km::model::Handle;
using km::model::Op;
namespace op = km::model;
namespace gen = rc::gen;

// Command sequences are up to kCommandScale * size long (size grows to RC's max_size).
constexpr double kCommandScale = 4.0;

// ---- the state machine's model

struct HandleRec {
  unsigned order = 0;
  bool freed = false;
};

struct MachineModel {
  unsigned max_order = 0;
  std::size_t page_size = 0;
  std::size_t arena_pages = 0;
  std::vector<HandleRec> handles; // index = handle number

  std::vector<Handle> handles_where(bool freed) const {
    std::vector<Handle> out;
    for (std::size_t h = 0; h < handles.size(); ++h)
      if (handles[h].freed == freed)
        out.push_back(static_cast<Handle>(h));
    return out;
  }
  bool is(Handle h, unsigned order, bool freed) const {
    return h < handles.size() && handles[h].order == order && handles[h].freed == freed;
  }
};

using Command = rc::state::Command<MachineModel, BuddyChecker>;

// The checker's message, plus the ops as C++ initialisers for a regression test.
std::string failure_text(const BuddyChecker& sut, const CheckError& e) {
  std::string out = e.what();
  out += "as C++ ops:\n";
  for (const Op& o : sut.ops())
    out += "  " + op::to_cpp(o) + ",\n";
  return out;
}

void run_op(BuddyChecker& sut, const Op& o) {
  try {
    sut.apply(o);
  } catch (const CheckError& e) {
    RC_FAIL(failure_text(sut, e));
  }
}

// The op as the checker prints it, with handle h known to have `order`.
std::string op_text(const Op& o, Handle h, unsigned order) {
  std::vector<unsigned> orders(static_cast<std::size_t>(h) + 1, 0);
  orders[h] = order;
  return op::to_string(o, orders);
}

// Picks a victim among `from`; false when there is none (the command is then invalid and
// RapidCheck generates another one).
bool pick(const std::vector<Handle>& from, Handle& h) {
  if (from.empty())
    return false;
  h = *gen::elementOf(from);
  return true;
}

// GFP_KERNEL, GFP_DMA or GFP_KERNEL|__GFP_DMA, each modifier with probability 1/4. Shrinks by
// dropping one modifier or the DMA bits at a time, so a counterexample keeps only the flags
// that matter.
constexpr gfp_t kGfpModifiers[] = {__GFP_ZERO, __GFP_NOWARN, __GFP_NOFAIL};

rc::Seq<gfp_t> shrink_gfp(gfp_t gfp) {
  std::vector<gfp_t> smaller;
  if ((gfp & __GFP_DMA) != 0)
    smaller.push_back((gfp & ~__GFP_DMA) | GFP_KERNEL);
  for (gfp_t bit : kGfpModifiers)
    if ((gfp & bit) != 0)
      smaller.push_back(gfp & ~bit);
  return rc::seq::fromContainer(std::move(smaller));
}

rc::Gen<gfp_t> gen_gfp() {
  return gen::shrink(gen::exec([] {
                       gfp_t gfp =
                           *gen::element<gfp_t>(GFP_KERNEL, GFP_DMA, GFP_KERNEL | __GFP_DMA);
                       for (gfp_t bit : kGfpModifiers)
                         if (*gen::weightedElement<bool>({{3, false}, {1, true}}))
                           gfp |= bit;
                       return gfp;
                     }),
                     [](gfp_t gfp) { return shrink_gfp(gfp); });
}

// ---- commands

class AllocPages : public Command {
public:
  explicit AllocPages(const MachineModel& s) : handle_(static_cast<Handle>(s.handles.size())) {
    // Mostly small orders (they fit and split), sometimes any order up to max_order + 1.
    const unsigned small = std::min(s.max_order, 3u);
    order_ = *gen::weightedOneOf<unsigned>(
        {{3, gen::inRange(0u, small + 1)}, {1, gen::inRange(0u, s.max_order + 2)}});
    gfp_ = *gen_gfp();
  }
  void checkPreconditions(const MachineModel& s) const override {
    RC_PRE(s.handles.size() == handle_ && order_ <= s.max_order + 1);
  }
  void apply(MachineModel& s) const override { s.handles.push_back(HandleRec{order_, false}); }
  void run(const MachineModel&, BuddyChecker& sut) const override {
    run_op(sut, op::AllocPages{order_, gfp_});
  }
  void show(std::ostream& os) const override {
    os << op::to_string(op::AllocPages{order_, gfp_}) << " -> #" << handle_;
  }

private:
  Handle handle_;
  unsigned order_ = 0;
  gfp_t gfp_ = GFP_KERNEL;
};

// Base for commands on one handle in a given state (live or freed).
class OnHandle : public Command {
protected:
  OnHandle(const MachineModel& s, bool freed) : freed_(freed) {
    valid_ = pick(s.handles_where(freed), handle_);
    if (valid_)
      order_ = s.handles[handle_].order;
  }
  void checkPreconditions(const MachineModel& s) const override {
    RC_PRE(valid_ && s.is(handle_, order_, freed_));
  }
  void show_op(std::ostream& os, const Op& o) const { os << op_text(o, handle_, order_); }

  bool freed_;
  bool valid_ = false;
  Handle handle_ = 0;
  unsigned order_ = 0;
};

class FreePages : public OnHandle {
public:
  explicit FreePages(const MachineModel& s) : OnHandle(s, false) {
    by_page_ = *gen::element(false, true);
  }
  void apply(MachineModel& s) const override { s.handles[handle_].freed = true; }
  void run(const MachineModel&, BuddyChecker& sut) const override { run_op(sut, make()); }
  void show(std::ostream& os) const override { show_op(os, make()); }

private:
  Op make() const { return op::FreePages{handle_, by_page_}; }
  bool by_page_ = false;
};

class Fill : public OnHandle {
public:
  explicit Fill(const MachineModel& s) : OnHandle(s, false) {}
  void run(const MachineModel&, BuddyChecker& sut) const override {
    run_op(sut, op::Fill{handle_});
  }
  void show(std::ostream& os) const override { show_op(os, op::Fill{handle_}); }
};

class Verify : public OnHandle {
public:
  explicit Verify(const MachineModel& s) : OnHandle(s, false) {}
  void run(const MachineModel&, BuddyChecker& sut) const override {
    run_op(sut, op::Verify{handle_});
  }
  void show(std::ostream& os) const override { show_op(os, op::Verify{handle_}); }
};

class DoubleFree : public OnHandle {
public:
  explicit DoubleFree(const MachineModel& s) : OnHandle(s, true) {}
  void run(const MachineModel&, BuddyChecker& sut) const override {
    run_op(sut, op::DoubleFree{handle_});
  }
  void show(std::ostream& os) const override { show_op(os, op::DoubleFree{handle_}); }
};

// free_pages(addr, order + delta), with order + delta in [0, max_order + 1] and delta != 0.
class FreeWrongOrder : public OnHandle {
public:
  explicit FreeWrongOrder(const MachineModel& s) : OnHandle(s, false) {
    if (!valid_)
      return;
    std::vector<int> deltas;
    for (int d : {-2, -1, 1, 2}) {
      const int given = static_cast<int>(order_) + d;
      if (given >= 0 && given <= static_cast<int>(s.max_order) + 1)
        deltas.push_back(d);
    }
    valid_ = !deltas.empty();
    if (valid_)
      delta_ = *gen::elementOf(deltas);
  }
  void run(const MachineModel&, BuddyChecker& sut) const override {
    run_op(sut, op::FreeWrongOrder{handle_, delta_});
  }
  void show(std::ostream& os) const override { show_op(os, op::FreeWrongOrder{handle_, delta_}); }
  // order + delta stays within [0, max_order + 1] (order + delta >= 0 holds by construction).
  void checkPreconditions(const MachineModel& s) const override {
    OnHandle::checkPreconditions(s);
    RC_PRE(static_cast<int>(order_) + delta_ <= static_cast<int>(s.max_order) + 1);
  }

private:
  int delta_ = 1;
};

// free_pages(addr + offset, order) with 0 < offset < block size: a tail page or an unaligned
// address inside the block.
class FreeInterior : public OnHandle {
public:
  explicit FreeInterior(const MachineModel& s) : OnHandle(s, false) {
    if (!valid_)
      return;
    const std::uint64_t pages = std::uint64_t{1} << order_;
    if (pages > 1 && *gen::element(false, true))
      offset_ = s.page_size * *gen::inRange<std::uint64_t>(1, pages);
    else
      offset_ = *gen::inRange<std::uint64_t>(1, s.page_size * pages);
    page_size_ = s.page_size;
  }
  // The offset must stay inside the block if a shrunk config has another page size.
  void checkPreconditions(const MachineModel& s) const override {
    OnHandle::checkPreconditions(s);
    RC_PRE(s.page_size == page_size_);
  }
  void run(const MachineModel&, BuddyChecker& sut) const override {
    run_op(sut, op::FreeInterior{handle_, offset_});
  }
  void show(std::ostream& os) const override { show_op(os, op::FreeInterior{handle_, offset_}); }

private:
  std::uint64_t offset_ = 1;
  std::size_t page_size_ = 0;
};

class InjectFailures : public Command {
public:
  explicit InjectFailures(const MachineModel&)
      : count_(*gen::weightedElement<unsigned>({{4, 1u}, {1, 2u}})) {}
  void run(const MachineModel&, BuddyChecker& sut) const override {
    run_op(sut, op::InjectFailures{count_});
  }
  void show(std::ostream& os) const override { os << op::to_string(op::InjectFailures{count_}); }

private:
  unsigned count_;
};

// free_pages of any page of the arena with any order: metadata, free, head, tail, right or
// wrong order. It may really free a live block; the checker knows.
class FreeRaw : public Command {
public:
  explicit FreeRaw(const MachineModel& s)
      : page_(*gen::inRange<std::uint64_t>(0, s.arena_pages)),
        order_(*gen::inRange(0u, s.max_order + 1)), arena_pages_(s.arena_pages) {}
  void checkPreconditions(const MachineModel& s) const override {
    RC_PRE(s.arena_pages == arena_pages_ && order_ <= s.max_order);
  }
  void run(const MachineModel&, BuddyChecker& sut) const override {
    run_op(sut, op::FreeRaw{page_, order_});
  }
  void show(std::ostream& os) const override { os << op::to_string(op::FreeRaw{page_, order_}); }

private:
  std::uint64_t page_;
  unsigned order_;
  std::size_t arena_pages_;
};

class FreeOutside : public Command {
public:
  explicit FreeOutside(const MachineModel&)
      : where_(static_cast<op::Outside>(*gen::inRange(0u, op::kOutsideKinds))) {}
  void run(const MachineModel&, BuddyChecker& sut) const override {
    run_op(sut, op::FreeOutside{where_});
  }
  void show(std::ostream& os) const override { os << op::to_string(op::FreeOutside{where_}); }

private:
  op::Outside where_;
};

class ValidateAll : public Command {
public:
  explicit ValidateAll(const MachineModel&) {}
  void run(const MachineModel&, BuddyChecker& sut) const override {
    run_op(sut, op::ValidateAll{});
  }
  void show(std::ostream& os) const override { os << op::to_string(op::ValidateAll{}); }
};

// ---- distribution over all cases of a run (printed at the end of the test program)

struct Stats {
  std::size_t cases = 0;
  std::map<std::string, std::size_t> ops;
  std::map<unsigned, std::size_t> alloc_orders; // successful alloc_pages by order
  std::size_t null_allocs = 0;
  std::map<std::string, std::size_t> frees; // by the model's classification
  std::size_t misuse = 0;

  void add(const BuddyChecker& c) {
    ++cases;
    for (const Op& o : c.ops())
      ++ops[op::op_name(o)];
    const op::BuddyModel& m = c.model();
    for (Handle h = 0; h < m.handle_count(); ++h) {
      if (m.handle(h).state == op::HandleState::Null)
        ++null_allocs;
      else
        ++alloc_orders[m.handle(h).order];
    }
    for (unsigned k = 0; k < op::kFreeClassCount; ++k) {
      const auto cls = static_cast<op::FreeClass>(k);
      if (m.free_count(cls) != 0)
        frees[op::free_class_name(cls)] += m.free_count(cls);
    }
    misuse += c.misuse_count();
  }

  void print(std::ostream& os) const {
    os << "buddy state machine: " << cases << " cases (shrink runs included)\n  ops:";
    for (const auto& [name, n] : ops)
      os << " " << name << "=" << n;
    os << "\n  successful alloc_pages by order:";
    for (const auto& [order, n] : alloc_orders)
      os << " " << order << ":" << n;
    os << "  NULL:" << null_allocs << "\n  frees by class:";
    for (const auto& [name, n] : frees)
      os << " [" << name << "]=" << n;
    os << "\n  ops the model classified as misuse: " << misuse << std::endl;
  }
};

Stats& stats() {
  static Stats s;
  return s;
}

class StatsPrinter : public ::testing::Environment {
public:
  void TearDown() override {
    if (stats().cases != 0)
      stats().print(std::cout);
  }
};
[[maybe_unused]] ::testing::Environment* const kStatsPrinter =
    ::testing::AddGlobalTestEnvironment(new StatsPrinter);

const char* order_bucket(const op::BuddyModel& m) {
  int top = -1;
  for (Handle h = 0; h < m.handle_count(); ++h)
    if (m.handle(h).state != op::HandleState::Null)
      top = std::max(top, static_cast<int>(m.handle(h).order));
  if (top < 0)
    return "no block allocated";
  if (top == 0)
    return "max order 0";
  if (top <= 2)
    return "max order 1-2";
  if (top <= 5)
    return "max order 3-5";
  return "max order 6+";
}

} // namespace

// Every op on heap and model together; at the end free everything and check AC4.
RC_GTEST_PROP(BuddyStateMachine, HeapMatchesModel, ()) {
  const km::property::ArenaSpec spec = *km::property::gen_arena_spec();
  km::property::Arena arena;
  std::string why;
  if (!km::property::make_arena(spec, arena, why))
    RC_FAIL(why);

  BuddyChecker checker;
  try {
    const km::Status st = checker.init(arena.cfg, arena.region, arena.bytes);
    if (!st.ok)
      RC_FAIL(std::string("heap init failed: ") + st.message);
  } catch (const CheckError& e) {
    RC_FAIL(std::string("initial state: ") + e.what());
  }

  const MachineModel initial{
      arena.cfg.max_order, std::size_t{1} << arena.cfg.page_shift, arena.arena_pages, {}};
  // rc::state::check(initial, checker, ...) with longer sequences: up to kCommandScale times
  // the size RapidCheck asks for (which grows to max_size, 100 by default). A command type
  // listed n times is picked n times as often: of 19, alloc 6, free 4, every other kind 1.
  const auto commands = *gen::scale(
      kCommandScale,
      rc::state::gen::commands(
          initial,
          rc::state::gen::execOneOfWithArgs<
              AllocPages, AllocPages, AllocPages, AllocPages, AllocPages, AllocPages, FreePages,
              FreePages, FreePages, FreePages, Fill, Verify, InjectFailures, DoubleFree,
              FreeWrongOrder, FreeInterior, FreeRaw, FreeOutside, ValidateAll>()));
  rc::state::runAll(commands, initial, checker);

  stats().add(checker);
  RC_TAG(order_bucket(checker.model()), checker.misuse_count() != 0 ? "misuse" : "no misuse");

  try {
    checker.finish();
  } catch (const CheckError& e) {
    RC_FAIL(failure_text(checker, e));
  }
}
