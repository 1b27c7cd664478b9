// property/slab_state_test.cpp - a RapidCheck state machine for the slab layer.
//
// The system under test is model::slab::SlabChecker: it runs every op on a Heap and on the slab
// model and throws CheckError on the first difference (layout, the allowed objects, reports,
// cache_info counters, page counts, free blocks, validate(), fill patterns, constructor calls).
// This file only generates op sequences, misuse included, over generated small configs; a
// CheckError becomes RC_FAIL with the checker's message, and RapidCheck shrinks the sequence.
//
// Handles are numbered as the checker numbers them: the n-th create is cN, the n-th alloc #n
// (even when the cache turned out not to exist or the alloc returned NULL). The machine's own
// model only tracks what the commands did (created, destroyed, allocated, freed); whether a call
// succeeded is the checker's business.
//
// Shrinking removes and regenerates commands, so a command may meet a state it was not
// generated for: every command that names a cache, an object or a CPU checks in
// checkPreconditions that the name still exists in the machine's model (and is live, freed or
// of a debug cache as the command needs); RapidCheck then drops or regenerates it.
// RC_PRE(a && b) does not short-circuit: RapidCheck captures the expression to print it and
// evaluates every operand, so a condition whose later operands index the model is computed
// into a bool first.
// SlabStateMachineShrink runs the machine with a test hook that makes the 5th cache creation
// fail, in a child process, and checks that RapidCheck prints a shrunk counterexample.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>
#include <rapidcheck/state.h>

#include "kmalloc/config.h"
#include "kmalloc/gfp.h"
#include "kmalloc/slab.h"
#include "model/checker.h"
#include "model/slab_checker.h"
#include "model/slab_op.h"

namespace {

namespace sl = km::model::slab;
using km::model::CheckError;
using sl::SlabChecker;
namespace gen = rc::gen;

struct CacheRec {
  bool debug = false;
  bool destroyed = false;
};
struct ObjectRec {
  std::uint32_t cache = 0;
  bool freed = false;
};

struct MachineModel {
  unsigned nr_cpus = 1;
  std::vector<CacheRec> caches;
  std::vector<ObjectRec> objects;

  std::vector<std::uint32_t> caches_where(bool destroyed) const {
    std::vector<std::uint32_t> out;
    for (std::size_t i = 0; i < caches.size(); ++i)
      if (caches[i].destroyed == destroyed)
        out.push_back(static_cast<std::uint32_t>(i));
    return out;
  }
  std::size_t live_in(std::uint32_t cache) const {
    std::size_t n = 0;
    for (const ObjectRec& o : objects)
      n += (o.cache == cache && !o.freed) ? 1 : 0;
    return n;
  }
  bool live_cache(std::uint32_t cache) const {
    return cache < caches.size() && !caches[cache].destroyed;
  }
  bool object_is(std::uint32_t object, bool freed) const {
    return object < objects.size() && objects[object].freed == freed;
  }
  bool debug_object(std::uint32_t object) const {
    return object < objects.size() && objects[object].cache < caches.size() &&
           caches[objects[object].cache].debug;
  }
  std::vector<std::uint32_t> objects_where(bool freed, bool debug_only = false) const {
    std::vector<std::uint32_t> out;
    for (std::size_t i = 0; i < objects.size(); ++i) {
      const auto id = static_cast<std::uint32_t>(i);
      if (object_is(id, freed) && (!debug_only || debug_object(id)))
        out.push_back(id);
    }
    return out;
  }
};

// Test hook (SlabStateMachineShrink only): when non-zero, the n-th cache creation of a case
// fails the property, as a checker that found a difference there would.
unsigned g_fail_on_create = 0;

using Command = rc::state::Command<MachineModel, SlabChecker>;

void run_op(SlabChecker& sut, const sl::Op& o) {
  try {
    sut.apply(o);
  } catch (const CheckError& e) {
    std::string text = e.what();
    text += "as C++ ops:\n";
    for (const sl::Op& op : sut.ops())
      text += "  " + sl::to_cpp(op) + ",\n";
    RC_FAIL(text);
  }
}

std::uint32_t pick(const std::vector<std::uint32_t>& from) {
  RC_PRE(!from.empty());
  return *gen::elementOf(from);
}

// A command that is one op; `valid` checks the victims still qualify after shrinking.
struct OpCommand : Command {
  sl::Op op;
  void run(const MachineModel&, SlabChecker& sut) const override { run_op(sut, op); }
  void show(std::ostream& os) const override { os << sl::to_string(op); }
};

struct Create : OpCommand {
  Create() {
    sl::CacheCreate c;
    c.size = *gen::weightedOneOf<unsigned>({{6, gen::inRange(1u, 600u)},
                                            {2, gen::element(8u, 96u, 192u, 256u, 1024u, 4096u)},
                                            {1, gen::inRange(0u, 20000u)}});
    c.align = *gen::weightedElement<unsigned>({{8, 0u}, {1, 16u}, {1, 64u}, {1, 24u}});
    if (*gen::weightedElement<bool>({{1, true}, {2, false}}))
      c.flags |= SLAB_HWCACHE_ALIGN;
    if (*gen::weightedElement<bool>({{1, true}, {4, false}}))
      c.flags |= SLAB_CACHE_DMA;
    if (*gen::weightedElement<bool>({{1, true}, {3, false}}))
      c.flags |= SLAB_CONSISTENCY_CHECKS;
    if (*gen::weightedElement<bool>({{1, true}, {12, false}}))
      c.flags |= *gen::element(SLAB_RED_ZONE, SLAB_POISON, SLAB_TYPESAFE_BY_RCU);
    c.ctor = *gen::weightedElement<bool>({{1, true}, {3, false}});
    op = c;
  }
  void apply(MachineModel& m) const override {
    const auto& c = std::get<sl::CacheCreate>(op);
    m.caches.push_back(CacheRec{(c.flags & SLAB_CONSISTENCY_CHECKS) != 0, false});
  }
  void run(const MachineModel& m, SlabChecker& sut) const override {
    OpCommand::run(m, sut);
    if (g_fail_on_create != 0 && m.caches.size() + 1 == g_fail_on_create)
      RC_FAIL("test hook: cache creation " + std::to_string(g_fail_on_create) + " fails");
  }
  void show(std::ostream& os) const override { os << "create " << sl::to_string(op); }
};

struct Alloc : OpCommand {
  explicit Alloc(const MachineModel& m) {
    gfp_t gfp = *gen::element<gfp_t>(GFP_KERNEL, GFP_ATOMIC);
    if (*gen::weightedElement<bool>({{1, true}, {3, false}}))
      gfp |= __GFP_ZERO;
    if (*gen::weightedElement<bool>({{1, true}, {8, false}}))
      gfp |= __GFP_NOFAIL;
    op = sl::CacheAlloc{pick(m.caches_where(false)), gfp};
  }
  void checkPreconditions(const MachineModel& m) const override {
    RC_PRE(m.live_cache(std::get<sl::CacheAlloc>(op).cache));
  }
  void apply(MachineModel& m) const override {
    m.objects.push_back(ObjectRec{std::get<sl::CacheAlloc>(op).cache, false});
  }
};

struct Free : OpCommand {
  explicit Free(const MachineModel& m) { op = sl::CacheFree{pick(m.objects_where(false))}; }
  void checkPreconditions(const MachineModel& m) const override {
    RC_PRE(m.object_is(std::get<sl::CacheFree>(op).object, false));
  }
  void apply(MachineModel& m) const override {
    m.objects[std::get<sl::CacheFree>(op).object].freed = true;
  }
};

// Ops on a live cache that change nothing the machine tracks.
template <class T> struct OnCache : OpCommand {
  explicit OnCache(const MachineModel& m) { op = T{pick(m.caches_where(false))}; }
  void checkPreconditions(const MachineModel& m) const override {
    RC_PRE(m.live_cache(std::get<T>(op).cache));
  }
  void apply(MachineModel&) const override {}
};
using Flush = OnCache<sl::Flush>;
using Shrink = OnCache<sl::Shrink>;

struct Destroy : OpCommand {
  explicit Destroy(const MachineModel& m) { op = sl::Destroy{pick(m.caches_where(false))}; }
  void checkPreconditions(const MachineModel& m) const override {
    RC_PRE(m.live_cache(std::get<sl::Destroy>(op).cache));
  }
  void apply(MachineModel& m) const override {
    const auto id = std::get<sl::Destroy>(op).cache;
    if (m.live_in(id) == 0) // else ObjectsRemaining: the cache stays
      m.caches[id].destroyed = true;
  }
};

struct Simple : OpCommand {
  explicit Simple(const MachineModel& m) {
    switch (*gen::inRange(0, 5)) {
    case 0: op = sl::SetCpu{*gen::inRange(0u, m.nr_cpus)}; break;
    case 1: op = sl::FlushAll{}; break;
    case 2: op = sl::InjectPageFailures{*gen::inRange(1u, 3u)}; break;
    case 3: op = sl::ValidateAll{}; break;
    default: op = sl::InvalidCache{sl::BadCache::Foreign, 0, 0, true}; break;
    }
  }
  // A shrunk config may have fewer CPUs.
  void checkPreconditions(const MachineModel& m) const override {
    if (const auto* c = std::get_if<sl::SetCpu>(&op))
      RC_PRE(c->cpu < m.nr_cpus);
  }
  void apply(MachineModel&) const override {}
};

// Misuse on a live object: wrong cache, interior pointer, foreign pointer, bad cache pointer.
struct Misuse : OpCommand {
  explicit Misuse(const MachineModel& m) {
    const std::uint32_t obj = pick(m.objects_where(false));
    const std::uint32_t cache = pick(m.caches_where(false));
    switch (*gen::inRange(0, 4)) {
    case 0:
      RC_PRE(cache != m.objects[obj].cache);
      op = sl::WrongCacheFree{obj, cache};
      break;
    case 1: op = sl::InteriorFree{obj, *gen::inRange(1u, 8u)}; break;
    case 2:
      op = sl::FreeForeign{cache,
                           *gen::element(sl::Foreign::Below, sl::Foreign::End,
                                         sl::Foreign::Metadata, sl::Foreign::Stack),
                           0, *gen::inRange(0u, 4096u)};
      break;
    default:
      op = sl::InvalidCache{*gen::element(sl::BadCache::Interior, sl::BadCache::Foreign), cache,
                            obj, false};
      break;
    }
  }
  void checkPreconditions(const MachineModel& m) const override {
    std::visit(
        [&](const auto& o) {
          using T = std::decay_t<decltype(o)>;
          if constexpr (std::is_same_v<T, sl::WrongCacheFree>) {
            const bool valid = m.object_is(o.object, false) && m.live_cache(o.cache) &&
                               o.cache != m.objects[o.object].cache;
            RC_PRE(valid);
          }
          if constexpr (std::is_same_v<T, sl::InteriorFree> || std::is_same_v<T, sl::InvalidCache>)
            RC_PRE(m.object_is(o.object, false));
          if constexpr (std::is_same_v<T, sl::FreeForeign> || std::is_same_v<T, sl::InvalidCache>)
            RC_PRE(m.live_cache(o.cache));
        },
        op);
  }
  void apply(MachineModel&) const override {}
};

// Fill / Verify a live object, or free a freed object of a debug cache again.
struct Touch : OpCommand {
  explicit Touch(const MachineModel& m) {
    if (*gen::weightedElement<bool>({{1, true}, {2, false}})) {
      op = sl::DoubleFree{pick(m.objects_where(true, true))};
    } else {
      const std::uint32_t obj = pick(m.objects_where(false));
      op = *gen::element<sl::Op>(sl::Fill{obj}, sl::Verify{obj});
    }
  }
  void checkPreconditions(const MachineModel& m) const override {
    std::visit(
        [&](const auto& o) {
          using T = std::decay_t<decltype(o)>;
          if constexpr (std::is_same_v<T, sl::DoubleFree>) {
            const bool valid = m.object_is(o.object, true) && m.debug_object(o.object);
            RC_PRE(valid);
          }
          if constexpr (std::is_same_v<T, sl::Fill> || std::is_same_v<T, sl::Verify>)
            RC_PRE(m.object_is(o.object, false));
        },
        op);
  }
  void apply(MachineModel&) const override {}
};

km::Config gen_config() {
  km::Config cfg;
  cfg.page_shift = *gen::element(12u, 14u);
  cfg.max_order = *gen::inRange(3u, 11u);
  const std::size_t pages = *gen::inRange<std::size_t>(64, 257);
  cfg.arena_size = pages << cfg.page_shift;
  cfg.dma_zone_size = *gen::element<std::size_t>(0, pages / 4) << cfg.page_shift;
  cfg.nr_cpus = *gen::inRange(1u, 9u);
  cfg.max_caches = 16;
  cfg.freelist_hardened = *gen::arbitrary<bool>();
  if (*gen::weightedElement<bool>({{1, true}, {3, false}}))
    cfg.slub_max_order = *gen::inRange(0u, 4u);
  cfg.random_seed = 7;
  return cfg;
}

// The property: a generated config, then a generated command sequence run on the checker.
void heap_matches_model() {
  const km::Config cfg = gen_config();
  RC_TAG(cfg.page_shift, cfg.nr_cpus > 1);
  SlabChecker checker;
  try {
    const km::Status st = checker.init(cfg);
    if (!st.ok)
      RC_FAIL(std::string("heap init failed: ") + st.message);
  } catch (const CheckError& e) {
    RC_FAIL(e.what());
  }
  MachineModel initial;
  initial.nr_cpus = cfg.nr_cpus;
  const auto commands = *gen::scale(
      3.0,
      rc::state::gen::commands(
          initial,
          rc::state::gen::execOneOfWithArgs<Create, Alloc, Alloc, Alloc, Alloc, Free, Free, Free,
                                            Flush, Shrink, Destroy, Simple, Misuse, Touch>()));
  RC_PRE(!commands.empty());
  rc::state::runAll(commands, initial, checker);
  try {
    checker.finish();
  } catch (const CheckError& e) {
    RC_FAIL(e.what());
  }
}

// The child of SlabStateMachineShrink: checks the machine with the hook failing the 5th cache
// creation (fixed seed), prints the shrunk counterexample and exits 0 if it is exactly five
// cache creations, 2 if it is anything else, 3 if the property did not fail.
[[noreturn]] void shrink_demo() {
  g_fail_on_create = 5;
  rc::detail::TestParams params;
  params.seed = 20261202;
  params.maxSuccess = 200;
  const rc::detail::TestResult result =
      rc::detail::checkTestable(&heap_matches_model, rc::detail::TestMetadata{}, params);
  rc::detail::FailureResult failure;
  if (!result.match(failure)) {
    rc::detail::printResultMessage(result, std::cerr);
    std::exit(3);
  }
  std::cerr << "shrunk counterexample:\n";
  int creates = 0;
  int commands = 0;
  for (const auto& [type, value] : failure.counterExample) {
    std::cerr << type << ":\n" << value << "\n";
    if (type.find("Commands") == std::string::npos && type.find("vector") == std::string::npos)
      continue;
    std::istringstream lines(value);
    for (std::string line; std::getline(lines, line);) {
      if (line.find_first_not_of(" \t[],") == std::string::npos)
        continue;
      ++commands;
      creates += line.find("create ") != std::string::npos ? 1 : 0;
    }
  }
  std::cerr << failure.description << "\n"
            << "counterexample: " << commands << " commands, " << creates << " creates\n";
  std::exit(commands == 5 && creates == 5 ? 0 : 2);
}

} // namespace

RC_GTEST_PROP(SlabStateMachine, HeapMatchesModel, ()) {
  heap_matches_model();
}

// A failing run shrinks to a counterexample instead of crashing: in a child process, the
// machine with the 5th cache creation failing (test hook) shrinks to the five creations.
TEST(SlabStateMachineShrink, FailingRunPrintsShrunkCounterexample) {
  EXPECT_EXIT(shrink_demo(), ::testing::ExitedWithCode(0),
              "test hook: cache creation 5 fails(.|\n)*counterexample: 5 commands, 5 creates");
}
