// tools/heap_encode.h - the inverse of fuzz_heap's decoder (fuzz/heap_decode.h): an op list in
// the one vocabulary (model/heap_op.h) -> the bytes fuzz_heap reads. Used by the corpus converter
// (tools/corpus_convert.cpp) to write old inputs in the new encoding.
//
// The encoder does not restate the decoder's tables: it learns them by running
// decode_heap_input on every value of each field (opcode byte, size triple, gfp byte, object
// size, alignment, flag byte, the free route bytes) and keeps the first byte string per decoded
// value. Fields that are plain numbers (handles, caches, offsets) are written directly. bytes()
// decodes the result and throws std::logic_error unless every op comes back as it went in.
//
// Not every value has an encoding (the decoder draws sizes from a few families, gfp from a few
// bits). The nearest_* functions give the encodable value an old input's value maps to; the
// legacy decoder (tools/legacy_decode.h) calls them, so that its op list is exactly encodable.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "fuzz/heap_decode.h"
#include "model/heap_op.h"

namespace km::tools {

using Header = std::array<std::uint8_t, fuzz::kHeaderBytes>;

// A kmalloc-family size: itself when encodable, else the nearest encodable size with the same
// ceil(log2) (so the same power-of-two kmalloc class and the same page order), ties downwards.
std::uint64_t nearest_size(std::uint64_t size);
// A gfp mask: itself when encodable, else the encodable mask that keeps whether the mask has bits
// outside __GFP_BITS_MASK and differs in the fewest bits. seven_bits: only the masks of a 7-bit
// gfp field (krealloc, kmem_cache_alloc: no __GFP_NOFAIL, no bad bit).
gfp_t nearest_gfp(gfp_t gfp, bool seven_bits);
// A kmem_cache_create object size (exact below 16128 bytes), alignment and flags.
std::uint64_t nearest_object_size(std::uint64_t size);
unsigned nearest_align(unsigned align);
// Keeps whether the flags are ones kmem_cache_create refuses, then the fewest differing bits.
slab_flags_t nearest_slab_flags(slab_flags_t flags);
// Free.size that makes a Free of an object of `usable` bytes point `offset` bytes in (the
// decoder's Free points 1 + size % (usable - 1) bytes in; offsets past the object wrap).
std::uint64_t interior_size(std::uint64_t offset, std::uint64_t usable);

class HeapEncoder {
public:
  explicit HeapEncoder(const Header& header);
  // Appends op's record; op must use encodable values (the nearest_* functions) and name only
  // handles and caches that exist before it.
  void append(const oracle::Op& op);
  std::size_t ops() const { return ops_.size(); }
  // The input; throws std::logic_error if it does not decode to the appended ops.
  std::vector<std::uint8_t> bytes() const;

private:
  Header header_;
  unsigned max_order_ = 0;
  std::uint32_t handles_ = 0, caches_ = 0;
  std::vector<oracle::Op> ops_;
  std::vector<std::uint8_t> out_;
};

} // namespace km::tools
