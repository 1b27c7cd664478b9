// tests/corpus_migration_test.cpp - the corpora of the retired per-layer fuzz targets live on in
// fuzz_heap's encoding: for every old input corpus/legacy/<layer>/<name>, the op list its old
// decoder gives (tools/legacy_decode.h, victims resolved on the allocator) is the op list
// fuzz_heap's decoder reads from corpus/heap/<layer>-<name>, and that file is byte for byte a
// fresh conversion (regenerate with: build/dev/tools/kmalloc_corpus_convert corpus). The
// converted files are replayed through the checker by ctest's corpus_heap.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <vector>

#include "fuzz/fuzz_support.h"
#include "fuzz/heap_decode.h"
#include "model/heap_op.h"
#include "tools/heap_encode.h"
#include "tools/legacy_decode.h"

namespace {

namespace fs = std::filesystem;
using km::oracle::Op;
using km::oracle::OpKind;
using km::tools::Layer;

const fs::path kCorpus = KMALLOC_CORPUS_DIR;

std::vector<std::uint8_t> read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::vector<std::string> cpp_of(const std::vector<Op>& ops) {
  std::vector<std::string> out;
  for (const Op& op : ops)
    out.push_back(km::oracle::to_cpp(op));
  return out;
}

TEST(CorpusMigration, EveryLegacyInputDecodesToItsConvertedOps) {
  unsigned files = 0;
  for (Layer layer : {Layer::Buddy, Layer::Slab, Layer::Kmalloc, Layer::SizeClass}) {
    const std::string name = km::tools::layer_name(layer);
    for (const auto& e : fs::directory_iterator(kCorpus / "legacy" / name)) {
      SCOPED_TRACE(e.path().string());
      const std::vector<std::uint8_t> old = read_file(e.path());
      const km::tools::LegacyInput legacy = km::tools::decode_legacy(layer, old.data(), old.size());
      const fs::path converted = kCorpus / "heap" / (name + "-" + e.path().filename().string());
      ASSERT_TRUE(fs::exists(converted));
      const std::vector<std::uint8_t> bytes = read_file(converted);
      ASSERT_GE(bytes.size(), km::fuzz::kHeaderBytes);
      EXPECT_LT(bytes.size(), 64u * 1024);
      const km::fuzz::HeapInput in =
          km::fuzz::decode_heap_input(bytes.data(), bytes.size(), km::fuzz::kRegionBytes);
      EXPECT_FALSE(in.via_c);
      EXPECT_FALSE(legacy.heap_refused);
      EXPECT_TRUE(std::equal(legacy.header.begin(), legacy.header.end(), bytes.begin()));
      EXPECT_EQ(km::oracle::format_ops(legacy.ops), km::oracle::format_ops(in.ops));
      EXPECT_EQ(cpp_of(legacy.ops), cpp_of(in.ops));
      EXPECT_EQ(km::tools::convert_legacy(layer, old.data(), old.size()), bytes);
      ++files;
    }
  }
  EXPECT_GE(files, 59u); // 14 buddy, 18 slab, 17 kmalloc, 10 size_class inputs were migrated
}

TEST(CorpusMigration, EveryConvertedFileHasItsLegacySource) {
  for (const auto& e : fs::directory_iterator(kCorpus / "heap")) {
    const std::string f = e.path().filename().string();
    for (const char* layer : {"buddy", "slab", "kmalloc", "size_class"}) {
      const std::string prefix = std::string(layer) + "-";
      if (f.rfind(prefix, 0) == 0) {
        EXPECT_TRUE(fs::exists(kCorpus / "legacy" / layer / f.substr(prefix.size()))) << f;
      }
    }
  }
}

// The encoder writes what the decoder reads back, for every nearest size of a sweep, and the
// nearest size keeps the power-of-two bucket (kmalloc class and page order).
TEST(HeapEncode, NearestSizesRoundTripAndKeepTheirBucket) {
  km::tools::Header h{8}; // linux-6, the C++ API
  km::tools::HeapEncoder enc(h);
  auto bucket = [](std::uint64_t x) {
    unsigned k = 0;
    while (k < 64 && (std::uint64_t{1} << k) < x)
      ++k;
    return k;
  };
  unsigned moved = 0;
  for (std::uint64_t s = 1; s < (std::uint64_t{1} << 26); s = s * 9 / 8 + 1) {
    Op op;
    op.kind = OpKind::Kmalloc;
    op.size = km::tools::nearest_size(s);
    EXPECT_EQ(bucket(op.size), bucket(s)) << s;
    moved += op.size != s ? 1 : 0;
    enc.append(op);
  }
  EXPECT_GT(moved, 0u); // the sweep reaches sizes without an encoding
  EXPECT_NO_THROW(enc.bytes());
}

TEST(HeapEncode, RefusesAValueWithoutAnEncoding) {
  std::uint64_t s = 257;
  while (km::tools::nearest_size(s) == s)
    ++s;
  Op op;
  op.kind = OpKind::Kmalloc;
  op.size = s;
  km::tools::HeapEncoder enc(km::tools::Header{8});
  EXPECT_THROW(enc.append(op), std::logic_error);
}

} // namespace
