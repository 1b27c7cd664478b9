// tools/legacy_decode.h - the decoders of the retired per-layer fuzz targets (fuzz_buddy,
// fuzz_slab, fuzz_kmalloc, fuzz_size_class), kept only to migrate their corpora
// (corpus/legacy/<layer>/) into fuzz_heap's encoding. Not an oracle: each old input decodes
// straight into the one op vocabulary (model/heap_op.h), and whatever the old decoder asked its
// model (which handles are live, freed or NULL, which caches live, a block's order) is read from a
// HeapChecker that runs the decoded ops on the real allocator as the decoder goes. Old victims were
// positions in the live set at run time; the result names them by allocation number, as fuzz_heap
// does.
//
// Where the new encoding cannot say what the old input said, the value maps to the nearest one
// it can say (tools/heap_encode.h's nearest_*), and the op list is exactly encodable:
//   config   max_order clamped to 3..10; the arena to the nearest of fuzz_heap's sizes (64 ..
//            8192 pages, at most 32 MiB); ZONE_DMA to the nearest 1/64 of the arena (none stays
//            none); nr_cpus to the nearest of 1, 2, 3, 4, 6, 8; slub_min_objects to 4 or 16;
//            slub_max_order to 1 or 3; cache_line_size (always 64), max_caches (the default)
//            and the random seed (fuzz_heap's fixed one) are dropped.
//   sizes    kmalloc sizes to the nearest encodable size of the same power-of-two bucket (the
//            same class and page order); gfp masks to the nearest encodable mask (krealloc and
//            kmem_cache_alloc lose __GFP_NOFAIL and bad bits); alignments to the nearest power
//            of two of 8 .. 4096 (24 stays 24); slab flags to the nearest the decoder has,
//            keeping whether kmem_cache_create refuses them.
//   ops      fill ops vanish (the checker fills every allocation); failure injection becomes
//            fail-next of at most 3 (krealloc's at most 2); kmem_cache_flush(c) becomes
//            flush_cpu_slabs(); a wrong-order free_pages takes order + 1 or + 2 (mod max_order +
//            1); raw frees of arena pages use order 0; interior offsets wrap inside the object
//            and stay below 64 KiB; free_pages below the arena points 64 bytes below, not a page;
//            an unaligned address past the arena becomes an object outside the arena; at most
//            1024 ops (fuzz_heap's limit).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "kmalloc/config.h"
#include "model/heap_op.h"
#include "tools/heap_encode.h"

namespace km::tools {

enum class Layer { Buddy, Slab, Kmalloc, SizeClass };
const char* layer_name(Layer layer); // "buddy", "slab", "kmalloc", "size_class"

struct LegacyInput {
  Header header{};             // fuzz_heap's header for the old config
  km::Config old_cfg;          // what the old decoder made of the input
  std::vector<oracle::Op> ops; // the old op stream in the new vocabulary
  bool heap_refused = false;   // the new config did not build (fuzz_heap skips the input)
  std::map<std::string, unsigned> approximations; // what mapped to its nearest, and how often
};

// Throws oracle::CheckError if the allocator and the checker disagree on the way.
LegacyInput decode_legacy(Layer layer, const std::uint8_t* data, std::size_t size);
// decode_legacy, then HeapEncoder: the input in fuzz_heap's encoding.
std::vector<std::uint8_t> convert_legacy(Layer layer, const std::uint8_t* data, std::size_t size);

} // namespace km::tools
