// fuzz/fuzz_kmalloc.cpp - libFuzzer target: a byte string -> a kmalloc profile/config and an op
// stream, run through KmallocChecker (heap vs the size-class model; model/kmalloc_checker.h).
//
// Every input gets a fresh Heap over one region mapped once per process (32 MiB, aligned to
// 64 MiB). A mismatch prints the error with the op list (and the ops as C++) and aborts.
// KMALLOC_FUZZ_TRACE=1 prints each decoded op as it runs, KMALLOC_FUZZ_TRACE=cpp the op list as
// C++ for a regression test; KMALLOC_FUZZ_STATS=1 prints "fuzz_stats: inputs=N ops=M ..." at exit.
//
// Encoding. Header, 4 bytes:
//   [0] bit 0: profile linux-4-slab (else linux-6); bits 1-2: page_shift {12, 14, 16, 12};
//       bits 3-4: KMALLOC_MIN_SIZE {default, default, 64, 128}; bit 5: no ZONE_DMA;
//       bit 6: nr_cpus 4 (else 1)
//   [1] max_order: linux-6 1 + b % 10, linux-4-slab b % 11
//   [2] arena: bit 7: the whole region (32 MiB), else 32 + (b & 0x7f) * 8 pages (at most 32 MiB)
//   [3] ZONE_DMA: pages * b / 256
// Then ops: a code byte (& 31) and its arguments; a size is 3 bytes (see decode_size), a gfp one
// byte (decode_gfp), a handle one byte (the first suitable handle from b % count, wrapping).
//   0-5 kmalloc(size, gfp)          6 kzalloc(size, gfp)
//   7   kcalloc / kmalloc_array: flags byte (bit 0 kmalloc_array, bit 1 overflowing n), n byte,
//       size, gfp                    8-9 krealloc(handle, size, gfp, fail: byte % 4 if bit 7)
//   10-13 kfree(live handle)        14 kfree_sensitive(live handle)   15 ksize(handle)
//   16-17 fill(live handle)         18 verify(live handle)            19 fail_next(byte % 4)
//   20  kfree(live handle + u16)    21 kfree(freed handle) again
//   22  kfree(foreign: byte % 5, u16 offset)                        23 check_size(size, gfp)
//   24-31 verify (as 18)
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <vector>

#include "fuzz/fuzz_support.h"
#include "fuzz/kmalloc_decode.h"
#include "kmalloc/config.h"
#include "kmalloc/gfp.h"
#include "model/kmalloc_checker.h"
#include "model/kmalloc_op.h"

namespace {

using namespace km::fuzz;
using namespace km::model::front;

constexpr std::size_t kMaxOps = 512;

template <class Pred> bool pick(std::size_t n, unsigned sel, Pred pred, Handle& out) {
  for (std::size_t k = 0; k < n; ++k) {
    const std::size_t i = (sel + k) % n;
    if (pred(i)) {
      out = static_cast<Handle>(i);
      return true;
    }
  }
  return false;
}

bool decode_op(ByteReader& in, const KmallocChecker& c, Op& out) {
  const unsigned code = in.u8() & 31;
  const SizeClassModel& m = c.model();
  const std::size_t n = c.handle_count();
  auto state = [&](std::size_t i) { return c.allocation(static_cast<Handle>(i)).state; };
  auto live = [&](std::size_t i) { return state(i) == HandleState::Live; };
  auto not_freed = [&](std::size_t i) { return state(i) != HandleState::Freed; };
  auto freed = [&](std::size_t i) { return state(i) == HandleState::Freed; };
  auto any = [&](std::size_t) { return true; };
  Handle h = 0;
  switch (code) {
  case 0:
  case 1:
  case 2:
  case 3:
  case 4:
  case 5: {
    const std::uint64_t size = decode_size(in, m);
    out = Kmalloc{size, decode_gfp(in.u8())};
    return true;
  }
  case 6: {
    const std::uint64_t size = decode_size(in, m);
    out = Kzalloc{size, decode_gfp(in.u8())};
    return true;
  }
  case 7: {
    const std::uint8_t flags = in.u8();
    const std::uint8_t nb = in.u8();
    std::uint64_t size = decode_size(in, m);
    const gfp_t gfp = decode_gfp(in.u8());
    std::uint64_t count = nb % 16;
    if (flags & 0x02) { // n * size overflows
      count = (std::uint64_t{1} << 63) + nb;
      size = size < 2 ? 2 : size;
    }
    out = Kcalloc{count, size, gfp, (flags & 1) == 0};
    return true;
  }
  case 8:
  case 9: {
    const std::uint8_t sel = in.u8();
    const std::uint64_t size = decode_size(in, m);
    const gfp_t gfp = decode_gfp(in.u8());
    const std::uint8_t fb = in.u8();
    if (!pick(n, sel, not_freed, h))
      return false;
    out = Krealloc{h, size, gfp, (fb & 0x80) ? fb % 4u : 0u};
    return true;
  }
  case 10:
  case 11:
  case 12:
  case 13:
    if (!pick(n, in.u8(), live, h))
      return false;
    out = Kfree{h};
    return true;
  case 14:
    if (!pick(n, in.u8(), live, h))
      return false;
    out = KfreeSensitive{h};
    return true;
  case 15:
    if (!pick(n, in.u8(), any, h))
      return false;
    out = Ksize{h};
    return true;
  case 16:
  case 17:
    if (!pick(n, in.u8(), live, h))
      return false;
    out = Fill{h};
    return true;
  case 19: out = FailNext{in.u8() % 4u}; return true;
  case 20: {
    const std::uint8_t sel = in.u8();
    const std::uint16_t off = in.u16();
    if (!pick(n, sel, live, h))
      return false;
    out = KfreeInterior{h, off};
    return true;
  }
  case 21:
    if (!pick(n, in.u8(), freed, h))
      return false;
    out = KfreeTwice{h};
    return true;
  case 22: {
    const std::uint8_t kind = in.u8();
    const std::uint16_t off = in.u16();
    out = KfreeForeign{static_cast<Foreign>(kind % kForeignKinds), off};
    return true;
  }
  case 23: {
    const std::uint64_t size = decode_size(in, m);
    out = CheckSize{size, decode_gfp(in.u8())};
    return true;
  }
  default:
    if (!pick(n, in.u8(), live, h))
      return false;
    out = Verify{h};
    return true;
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Stats& stats = begin_input();
  ByteReader in(data, size);
  km::Config cfg = decode_config(in);
  const Trace trace = trace_mode();
  return run_checked([&] {
    KmallocChecker checker;
    const km::Status st = init_checker(checker, cfg);
    if (!st.ok) {
      ++stats.skipped_inputs;
      if (trace != Trace::Off)
        std::printf("heap init refused the config (%s): %s\n", st.field, st.message);
      return;
    }
    // validate() walks the whole arena: every op on small arenas, every 8th on the region.
    checker.set_validate_interval(cfg.arena_size >= (std::size_t{8} << 20) ? 8 : 1);
    start_trace(checker, trace);
    std::size_t count = 0;
    while (!in.done() && count < kMaxOps) {
      Op op;
      if (!decode_op(in, checker, op))
        continue;
      checker.apply(op);
      ++count;
    }
    if (trace == Trace::Cpp)
      print_cpp(cfg, checker);
    stats.ops += count;
    stats.skipped_ops += checker.skipped_count();
    stats.misuse += checker.misuse_count();
    checker.finish();
  });
}
