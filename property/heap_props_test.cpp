// property/heap_props_test.cpp - the whole-heap property: any op list, on any config the fuzz
// header can name, runs through the one oracle (model/heap_checker.h) without a difference.
//
// Inputs are generated as fuzz_heap inputs are encoded (fuzz/heap_decode.h): a config header and
// 8-byte op records. RapidCheck shrinks the record list (dropping records, moving bytes toward 0),
// and every op of a shrunk list still decodes and runs, because ops name victims by allocation
// number and an op whose victim does not exist is skipped: the counterexample stays a valid
// program. It is printed as an op list ("kmalloc(96, GFP_KERNEL) -> #0; free(#0); ...").
#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include "fuzz/heap_decode.h"
#include "model/heap_checker.h"
#include "model/heap_op.h"

namespace {

using km::oracle::CheckError;
using km::oracle::HeapChecker;

std::string run_heap_input(const std::vector<std::uint8_t>& bytes) {
  km::fuzz::HeapInput in = km::fuzz::decode_heap_input(bytes.data(), bytes.size(), 8u << 20);
  in.via_c = false; // the C API's default heap belongs to the fuzz target and the C tests
  HeapChecker checker;
  km::oracle::CheckerOptions opts;
  opts.walk_interval = 32;
  if (!checker.init(in.cfg, nullptr, 0, opts).ok) {
    in.cfg.dma_zone_size = 0;
    if (!checker.init(in.cfg, nullptr, 0, opts).ok)
      return "";
  }
  try {
    for (const auto& op : in.ops)
      checker.apply(op);
    checker.finish();
  } catch (const CheckError& e) {
    return std::string(e.what()) + "\n  as an op list: " + km::oracle::format_ops(in.ops);
  }
  return "";
}

RC_GTEST_PROP(HeapProps, AnyOpListMatchesTheModel,
              (const std::array<std::uint8_t, 8>& header,
               const std::vector<std::array<std::uint8_t, 8>>& records)) {
  std::vector<std::uint8_t> bytes(header.begin(), header.end());
  for (const auto& r : records)
    bytes.insert(bytes.end(), r.begin(), r.end());
  const std::string failure = run_heap_input(bytes);
  RC_ASSERT(failure == "");
}

} // namespace
