// platform/os.cpp - POSIX implementation of platform/os.h (mmap, stderr, abort).
#include "platform/os.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>

#if defined(KMALLOC_COVERAGE_BUILD)
// Coverage builds only (KMALLOC_COVERAGE): clang's profile runtime writes its counters at exit,
// which std::abort() skips. fatal() writes them first, so a death test's child that dies on a
// detected error still counts towards coverage. Weak: null when no profile runtime is linked.
extern "C" __attribute__((weak)) int __llvm_profile_write_file(void);
#endif

namespace km::platform {

void* map_aligned(std::size_t bytes, std::size_t alignment) {
  const std::size_t padded = bytes + alignment;
  if (padded < bytes)
    return nullptr;
  void* raw = mmap(nullptr, padded, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (raw == MAP_FAILED)
    return nullptr;
  const auto start = reinterpret_cast<std::uintptr_t>(raw);
  const std::uintptr_t aligned =
      (start + alignment - 1) & ~(static_cast<std::uintptr_t>(alignment) - 1);
  const std::size_t head = aligned - start;
  const std::size_t tail = padded - head - bytes;
  if (head != 0)
    munmap(raw, head);
  if (tail != 0)
    munmap(reinterpret_cast<void*>(aligned + bytes), tail);
  return reinterpret_cast<void*>(aligned);
}

std::uint64_t random_u64() {
  std::uint64_t value = 0;
  if (getrandom(&value, sizeof value, 0) != static_cast<ssize_t>(sizeof value))
    value = reinterpret_cast<std::uintptr_t>(&value) ^ 0x9e3779b97f4a7c15ull;
  return value;
}

void unmap(void* addr, std::size_t bytes) {
  munmap(addr, bytes);
}

void release_pages(void* addr, std::size_t bytes) {
  madvise(addr, bytes, MADV_DONTNEED);
}

std::size_t resident_bytes(const void* addr, std::size_t bytes) {
  const auto os_page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  const auto begin = reinterpret_cast<std::uintptr_t>(addr) & ~(os_page - 1);
  const auto end = reinterpret_cast<std::uintptr_t>(addr) + bytes;
  std::size_t resident = 0;
  unsigned char vec[256];
  for (std::uintptr_t p = begin; p < end;) {
    std::size_t pages = (end - p + os_page - 1) / os_page;
    if (pages > sizeof vec)
      pages = sizeof vec;
    if (mincore(reinterpret_cast<void*>(p), pages * os_page, vec) != 0)
      return bytes; // not mapped by us (a caller's region of another kind): assume resident
    for (std::size_t i = 0; i < pages; ++i)
      resident += (vec[i] & 1u) * os_page;
    p += pages * os_page;
  }
  return resident;
}

namespace {

// A cpulist file of /sys/devices/system/cpu ("0-1", "0", "0-3,8-11"): its highest CPU + 1 and
// the number of CPUs it names; false if it cannot be read or parsed. open/read only: no libc
// allocation, so a malloc shim may call it.
bool read_cpulist(const char* path, unsigned& highest_plus_one, unsigned& weight) {
  char text[256];
  const int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return false;
  const ssize_t n = read(fd, text, sizeof text - 1);
  close(fd);
  if (n <= 0)
    return false;
  highest_plus_one = weight = 0;
  unsigned first = 0, value = 0;
  bool digits = false, range = false;
  for (ssize_t i = 0; i <= n; ++i) {
    const char ch = i < n ? text[i] : '\n';
    if (ch >= '0' && ch <= '9') {
      value = (digits ? value * 10 : 0) + static_cast<unsigned>(ch - '0');
      digits = true;
      continue;
    }
    if (digits && ch == '-' && !range) {
      first = value;
      range = true;
    } else if (digits) {
      const unsigned lo = range ? first : value;
      if (value >= lo) {
        weight += value - lo + 1;
        highest_plus_one = value + 1;
      }
      range = false;
    }
    digits = false;
  }
  return highest_plus_one != 0;
}

unsigned clamp_count(unsigned count, unsigned limit) {
  if (count == 0)
    count = 1;
  return count < limit ? count : limit;
}

unsigned affinity_cpus() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0)
    return static_cast<unsigned>(CPU_COUNT(&set));
  return 0;
}

} // namespace

unsigned possible_cpus(unsigned limit) {
  unsigned highest_plus_one = 0, weight = 0;
  if (!read_cpulist("/sys/devices/system/cpu/possible", highest_plus_one, weight))
    highest_plus_one = affinity_cpus();
  return clamp_count(highest_plus_one, limit);
}

unsigned present_cpus(unsigned limit) {
  unsigned highest_plus_one = 0, weight = 0;
  if (!read_cpulist("/sys/devices/system/cpu/present", highest_plus_one, weight))
    weight = affinity_cpus();
  return clamp_count(weight, limit);
}

void print(const char* message) {
  std::size_t left = std::strlen(message);
  while (left > 0) {
    const ssize_t n = write(STDERR_FILENO, message, left);
    if (n <= 0)
      return;
    message += n;
    left -= static_cast<std::size_t>(n);
  }
}

void fatal() {
#if defined(KMALLOC_COVERAGE_BUILD)
  if (__llvm_profile_write_file != nullptr)
    __llvm_profile_write_file();
#endif
  std::abort();
}

} // namespace km::platform
