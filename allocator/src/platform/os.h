// platform/os.h - the only interface to the operating system. Everything above it is
// freestanding: given a region, the page allocator, slab layer and front end need nothing else.
#pragma once

#include <cstddef>
#include <cstdint>

namespace km::platform {

// Maps `bytes` of zeroed read-write memory aligned to `alignment` (a power of two >= the OS
// page size). Returns nullptr on failure.
void* map_aligned(std::size_t bytes, std::size_t alignment);
void unmap(void* addr, std::size_t bytes);
// Bytes of [addr, addr + bytes) backed by physical memory now (mincore), rounded to OS pages.
// Where the OS cannot tell, every byte counts as resident.
std::size_t resident_bytes(const void* addr, std::size_t bytes);
// Gives the memory of [addr, addr + bytes) back to the OS while keeping the mapping (madvise
// MADV_DONTNEED): it reads zero when touched again. Page-aligned. Where the OS cannot, nothing.
void release_pages(void* addr, std::size_t bytes);
// 64 bits from the OS entropy source (getrandom), for the freelist hardening keys.
std::uint64_t random_u64();
// The kernel's nr_cpu_ids on this machine: the highest possible CPU + 1, from
// /sys/devices/system/cpu/possible (else the CPUs this thread may run on), clamped to
// [1, limit]. Reads the file with open/read: no libc allocation, so a malloc shim may call it.
unsigned possible_cpus(unsigned limit);
// The kernel's num_present_cpus(): how many CPUs /sys/devices/system/cpu/present names (else the
// CPUs this thread may run on), clamped to [1, limit]. Also allocation-free.
unsigned present_cpus(unsigned limit);
// Writes a message to the diagnostic stream (stderr).
void print(const char* message);
[[noreturn]] void fatal();

} // namespace km::platform
