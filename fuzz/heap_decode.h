// fuzz/heap_decode.h - the byte encoding of fuzz_heap inputs: a fixed 8-byte header (the heap's
// config) and fixed 8-byte op records, so that an input decodes without the model, a record
// edit changes one op, and the custom mutator (fuzz_heap.cpp) can insert, drop, copy and swap
// whole ops.
//
// Header: [0] profile (% 8: 0-4 linux-6, 5-6 linux-4-slab, 7 none); (b >> 3) % 16 == 0: drive
//             the C API (kmalloc_init_region with an option string)
//         [1] page_shift (% 8: 0-5 12, 6 14, 7 16)   [2] max_order 10 - b % 8 (at least 1)
//         [3] arena {64, 64, 128, 128, 256, 512, 1024, 8192}[b % 8] pages, at most the region;
//             but 7 or 8 pages when [2] >> 3 is 30 or 31
//         [4] min_size (% 8: 0-4 profile default, 5 32, 6 64, 7 128)
//         [5] ZONE_DMA (% 4: 0-1 default, 2 none, 3 arena * (b >> 2) / 64)
//         [6] nr_cpus {1, 2, 4, 8, 1, 2, 3, 6}[b % 8]; slub_min_order {1, 2, 4}[(b >> 3) - 29]
//             when b >> 3 is 29 or more, else 0
//         [7] bit 0 hardened; bits 1-2 slub_min_objects {0, 0, 4, 16}; bit 3 slub_max_order 1;
//             bits 4-7 == 15: an option string with a bad item last is tried first
// Op record: [0] % 32 picks the kind (kOpTable in heap_decode.cpp), [1..7] its arguments.
// Handles and caches are named by number: u16 % (how many exist so far), as counted by the
// decoder itself from the ops before.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "kmalloc/config.h"
#include "model/heap_op.h"

namespace km::fuzz {

inline constexpr std::size_t kHeaderBytes = 8;
inline constexpr std::size_t kRecordBytes = 8;
inline constexpr std::size_t kMaxHeapOps = 1024;

struct HeapInput {
  Config cfg;
  bool via_c = false;
  std::string options;     // via_c: what kmalloc_init_region gets
  std::string bad_options; // via_c: tried first when not empty (must be refused)
  std::vector<oracle::Op> ops;
};

// The config of an 8-byte header; region_bytes bounds the arena.
Config decode_config(const std::uint8_t* header, std::size_t region_bytes);
// One 8-byte record, given how many handles and caches the ops before it created, and the
// config's max_order and page_shift.
oracle::Op decode_op(const std::uint8_t* record, std::uint32_t handles, std::uint32_t caches,
                     unsigned max_order, unsigned page_shift = 12);
// Region bytes the arena may use (fuzz_support.h's kRegionBytes).
HeapInput decode_heap_input(const std::uint8_t* data, std::size_t size, std::size_t region_bytes);
// The option string of a config, as the C API reads it.
std::string options_of(const Config& cfg);

} // namespace km::fuzz
