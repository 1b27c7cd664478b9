// support/text_buffer.h - snprintf-style appending into a caller's buffer: writes what fits,
// always NUL-terminates (when size > 0) and counts the full length, as /proc dumps need.
#pragma once

#include <cstdarg>
#include <cstddef>
#include <cstdio>

namespace km {

class TextBuffer {
public:
  TextBuffer(char* buf, std::size_t size) : buf_(buf), size_(size) {
    if (size_ > 0)
      buf_[0] = '\0';
  }

  __attribute__((format(printf, 2, 3))) void append(const char* format, ...) {
    va_list args;
    va_start(args, format);
    char* dst = length_ < size_ ? buf_ + length_ : nullptr;
    const std::size_t room = length_ < size_ ? size_ - length_ : 0;
    const int n = std::vsnprintf(dst, room, format, args);
    va_end(args);
    if (n > 0)
      length_ += static_cast<std::size_t>(n);
  }

  std::size_t length() const { return length_; }

private:
  char* buf_;
  std::size_t size_;
  std::size_t length_ = 0;
};

} // namespace km
