// fuzz/fuzz_size_class.cpp - libFuzzer target: a byte string -> a kmalloc profile/config and a
// list of (size, gfp) entries. For each entry the heap's kmalloc_index, kmalloc_size_roundup and
// kmalloc_cache (name, object size, alignment) are compared with the size-class model
// (model/size_class_model.h) and, when asked, the size is really allocated through
// KmallocChecker (cache / large order, ksize, alignment, zone, reports) and freed again.
//
// One region per process (32 MiB, aligned to 64 MiB); a fresh Heap per input. A mismatch prints
// the error and aborts. KMALLOC_FUZZ_TRACE=1 prints each decoded op, KMALLOC_FUZZ_TRACE=cpp the
// op list as C++; KMALLOC_FUZZ_STATS=1 prints "fuzz_stats: inputs=N ops=M ..." at exit.
//
// Encoding. Header, 4 bytes: as fuzz_kmalloc.cpp ([0] profile / page_shift / KMALLOC_MIN_SIZE /
// no-DMA bits, [1] max_order, [2] arena size, [3] ZONE_DMA share). Then entries of 4 bytes:
//   [0] size mode m (bit 7: also kmalloc + kfree it), [1,2] u16 v, [3] gfp
// with the size decoded as in fuzz_kmalloc.cpp: m & 7: 0,1: 1 + (v & 0xff); 2: 1 + (v & 0xfff);
// 3: kmalloc class (v % count) + delta; 4: 2^(v % 28) + delta; 5: ((v & 0x3ff) + 1) pages + delta;
// 6: 0; 7: v << ((m >> 3) & 15); delta = (m >> 3) % 5 - 2. gfp: bit 0 DMA, 1 RECLAIMABLE,
// 2 ZERO, 3 NOWARN, 4 GFP_ATOMIC; bits 5-7 all set: an unknown bit.
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

constexpr std::size_t kMaxEntries = 256;

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
    // The entries are independent allocations: validate() after reports and at the end only.
    checker.set_validate_interval(0);
    start_trace(checker, trace);
    std::size_t count = 0;
    for (std::size_t e = 0; !in.done() && e < kMaxEntries; ++e) {
      const std::uint8_t mode = in.u8();
      const std::uint16_t v = in.u16();
      const gfp_t gfp = decode_gfp(in.u8());
      const std::uint8_t raw[3] = {mode, static_cast<std::uint8_t>(v),
                                   static_cast<std::uint8_t>(v >> 8)};
      ByteReader sizer(raw, sizeof raw);
      const std::uint64_t bytes = decode_size(sizer, checker.model());
      checker.apply(CheckSize{bytes, gfp});
      ++count;
      if ((mode & 0x80) == 0)
        continue;
      const Handle h = static_cast<Handle>(checker.handle_count());
      checker.apply(Kmalloc{bytes, gfp});
      ++count;
      if (checker.allocation(h).state == HandleState::Live) {
        checker.apply(Fill{h});
        checker.apply(Kfree{h});
        count += 2;
      }
    }
    if (trace == Trace::Cpp)
      print_cpp(cfg, checker);
    stats.ops += count;
    stats.skipped_ops += checker.skipped_count();
    stats.misuse += checker.misuse_count();
    checker.finish();
  });
}
