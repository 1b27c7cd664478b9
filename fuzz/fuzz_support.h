// fuzz/fuzz_support.h - the harness shared by the libFuzzer targets (fuzz_*.cpp); each target
// keeps its own input decoding.
//
//   region()      one region per process (kRegionBytes, aligned to kRegionAlign, so pfns and
//                 natural alignment do not depend on where mmap put it); a fresh Heap per input.
//   trace_mode()  KMALLOC_FUZZ_TRACE: unset/empty/"0" Off, "cpp" Cpp, anything else Ops.
//   begin_input() counts the input and returns the process-wide Stats; with KMALLOC_FUZZ_STATS=1
//                 "fuzz_stats: inputs=N ops=M skipped_inputs=.. skipped_ops=.. misuse=.." is
//                 printed to stderr at exit (ci/fuzz.sh reads ops=); with KMALLOC_FUZZ_STATS=FILE
//                 (any other value but "0") the line is appended to FILE instead, one per process
//                 (libFuzzer's -fork=N children, whose stderr goes to logs it deletes).
//   ByteReader    the input, front to back; past the end every read is 0.
//   run_checked   runs one input; a CheckError (any std::exception) is printed and aborts.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <exception>

#include "kmalloc/config.h"

namespace km::fuzz {

inline constexpr std::size_t kRegionBytes = std::size_t{32} << 20;
inline constexpr std::size_t kRegionAlign = std::size_t{64} << 20;

void* region();

enum class Trace { Off, Ops, Cpp };

Trace trace_mode();

struct Stats {
  unsigned long long inputs = 0, ops = 0, skipped_inputs = 0, skipped_ops = 0, misuse = 0;
};

Stats& begin_input();

class ByteReader {
public:
  ByteReader(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}
  bool done() const { return pos_ >= size_; }
  std::uint8_t u8() { return pos_ < size_ ? data_[pos_++] : 0; }
  std::uint16_t u16() {
    const unsigned lo = u8();
    return static_cast<std::uint16_t>(lo | static_cast<unsigned>(u8()) << 8);
  }

private:
  const std::uint8_t* data_;
  std::size_t size_;
  std::size_t pos_ = 0;
};

[[noreturn]] void fail(const std::exception& e);

template <class Body> int run_checked(Body&& body) {
  try {
    body();
  } catch (const std::exception& e) {
    fail(e);
  }
  return 0;
}

} // namespace km::fuzz
