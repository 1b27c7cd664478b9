// tools/corpus_convert.cpp - migrates the corpora of the retired per-layer fuzz targets into
// fuzz_heap's encoding: every file corpus/legacy/<layer>/<name> (layer: buddy, slab, kmalloc,
// size_class) becomes corpus/heap/<layer>-<name>.
//
//   kmalloc_corpus_convert <corpus dir>          convert everything, print what was approximated
//   kmalloc_corpus_convert <corpus dir> --check  only compare: exit 1 if a converted file differs
//
// Each old input is decoded by its old decoder (tools/legacy_decode.h) straight into the one op
// vocabulary, with victims resolved by running the ops on the allocator through the HeapChecker,
// and written by tools/heap_encode.h. Configs and values the new encoding cannot express map to
// the nearest it can (the list is in legacy_decode.h). tests/corpus_migration_test.cpp checks
// that the files in corpus/heap are what this writes and decode to the old op lists.
#include <algorithm>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <vector>

#include "tools/legacy_decode.h"

namespace fs = std::filesystem;
using km::tools::Layer;

namespace {

std::vector<std::uint8_t> read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

} // namespace

int main(int argc, char** argv) {
  if (argc < 2 || argc > 3 || (argc == 3 && std::string(argv[2]) != "--check")) {
    std::fprintf(stderr, "usage: %s <corpus dir> [--check]\n", argv[0]);
    return 2;
  }
  const fs::path corpus = argv[1];
  const bool check = argc == 3;
  std::map<std::string, unsigned> approx;
  unsigned files = 0, differ = 0, refused = 0;
  try {
    for (Layer layer : {Layer::Buddy, Layer::Slab, Layer::Kmalloc, Layer::SizeClass}) {
      const fs::path dir = corpus / "legacy" / km::tools::layer_name(layer);
      std::vector<fs::path> inputs;
      for (const auto& e : fs::directory_iterator(dir))
        if (e.is_regular_file())
          inputs.push_back(e.path());
      std::sort(inputs.begin(), inputs.end());
      for (const fs::path& p : inputs) {
        const std::vector<std::uint8_t> old = read_file(p);
        const km::tools::LegacyInput in = km::tools::decode_legacy(layer, old.data(), old.size());
        for (const auto& [what, n] : in.approximations)
          approx[what] += n;
        refused += in.heap_refused ? 1 : 0;
        const std::vector<std::uint8_t> bytes =
            km::tools::convert_legacy(layer, old.data(), old.size());
        if (bytes.size() >= 64 * 1024) {
          std::fprintf(stderr, "%s: %zu bytes converted, over 64 KiB\n", p.c_str(), bytes.size());
          return 1;
        }
        const fs::path out =
            corpus / "heap" /
            (std::string(km::tools::layer_name(layer)) + "-" + p.filename().string());
        ++files;
        if (check) {
          if (read_file(out) != bytes) {
            std::fprintf(stderr, "%s differs from a fresh conversion of %s\n", out.c_str(),
                         p.c_str());
            ++differ;
          }
          continue;
        }
        std::ofstream(out, std::ios::binary)
            .write(reinterpret_cast<const char*>(bytes.data()),
                   static_cast<std::streamsize>(bytes.size()));
      }
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "corpus_convert: %s\n", e.what());
    return 1;
  }
  std::printf("%u inputs %s, %u with a config the heap refuses\n", files,
              check ? "compared" : "converted", refused);
  for (const auto& [what, n] : approx)
    std::printf("  nearest value: %-40s %u times\n", what.c_str(), n);
  return differ == 0 ? 0 : 1;
}
