// property/heap_state_test.cpp - the RapidCheck state machine for the whole heap: commands are
// whole-heap ops (model/heap_op.h) made from 8 random bytes by fuzz_heap's record decoder, the
// system under test is the one oracle (model/heap_checker.h) driving a Heap, so every command is
// checked against the model as it runs, and finish() checks AC4 at the end.
//
// The state is what a command needs to name its victims: how many handles and caches exist.
// Preconditions say an op's handle and cache must exist in the state it runs in, so when
// shrinking removes the command that made #3, the commands naming #3 are dropped rather than
// run on a victim that is not there. A failure prints the shrunk command list as ops.
#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <ostream>

#include <rapidcheck.h>
#include <rapidcheck/gtest.h>
#include <rapidcheck/state.h>

#include "fuzz/heap_decode.h"
#include "model/heap_checker.h"
#include "model/heap_op.h"

namespace {

using km::oracle::CheckError;
using km::oracle::HeapChecker;
using km::oracle::Op;
using km::oracle::OpKind;

struct HeapState {
  std::uint32_t handles = 0;
  std::uint32_t caches = 0;
  unsigned max_order = 10;
  unsigned page_shift = 12;
};

bool names_handle(OpKind kind) {
  return kind == OpKind::Krealloc || kind == OpKind::Ksize || kind == OpKind::Verify ||
         kind == OpKind::Free || kind == OpKind::BadCache;
}

bool names_cache(const Op& op) {
  switch (op.kind) {
  case OpKind::CacheAlloc:
  case OpKind::CacheZalloc:
  case OpKind::CacheShrink:
  case OpKind::CacheDestroy:
  case OpKind::BadCache: return true;
  case OpKind::Free:
  case OpKind::FreeAt: return op.cache != km::oracle::kNoCache;
  default: return false;
  }
}

struct HeapCommand : rc::state::Command<HeapState, HeapChecker> {
  Op op;

  explicit HeapCommand(const HeapState& s) {
    const auto record = *rc::gen::arbitrary<std::array<std::uint8_t, 8>>();
    op = km::fuzz::decode_op(record.data(), s.handles, s.caches, s.max_order, s.page_shift);
  }
  void checkPreconditions(const HeapState& s) const override {
    RC_PRE(!names_handle(op.kind) || op.handle < s.handles);
    RC_PRE(!names_cache(op) || op.cache < s.caches);
  }
  void apply(HeapState& s) const override {
    s.handles += km::oracle::creates_handle(op.kind) ? 1 : 0;
    s.caches += op.kind == OpKind::CacheCreate ? 1 : 0;
  }
  void run(const HeapState&, HeapChecker& checker) const override {
    try {
      checker.apply(op);
    } catch (const CheckError& e) {
      RC_FAIL(e.what());
    }
  }
  void show(std::ostream& os) const override { os << km::oracle::to_string(op); }
};

RC_GTEST_PROP(HeapStateMachine, EveryCommandMatchesTheModel,
              (const std::array<std::uint8_t, 8>& header)) {
  km::Config cfg = km::fuzz::decode_config(header.data(), std::size_t{8} << 20);
  HeapChecker checker;
  km::oracle::CheckerOptions opts;
  opts.walk_interval = 32;
  if (!checker.init(cfg, nullptr, 0, opts).ok) {
    cfg.dma_zone_size = 0;
    RC_PRE(checker.init(cfg, nullptr, 0, opts).ok);
  }
  RC_TAG(km::profile_name(cfg.profile));
  HeapState initial;
  initial.max_order = cfg.max_order;
  initial.page_shift = cfg.page_shift;
  rc::state::check(initial, checker, rc::state::gen::execOneOfWithArgs<HeapCommand>());
  try {
    checker.finish();
  } catch (const CheckError& e) {
    RC_FAIL(e.what());
  }
}

} // namespace
