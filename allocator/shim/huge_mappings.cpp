// shim/huge_mappings.cpp - the huge-mapping registry of shim/huge_mappings.h: a linear-probing
// hash table of {pointer, bytes} in its own mapping, doubled when it is half full. Deleted
// entries become tombstones, so probing stays correct; a rebuild drops them.
#include "huge_mappings.h"

#include <cstdint>

#include <pthread.h>

#include "platform/lock.h"
#include "platform/os.h"

namespace km::shim {
namespace {

constexpr std::uintptr_t kTombstone = 1; // never a mapping's address (page aligned)
constexpr std::size_t kOsPage = 4096;

struct Entry {
  std::uintptr_t ptr; // 0: empty; kTombstone: deleted
  std::size_t bytes;
};

// No initializers: a global Registry is zero-initialized before any code runs, with no
// constructor that could run after a library the shim depends on has already called malloc.
struct Registry {
  platform::Lock lock;
  Entry* table KM_GUARDED_BY(lock);
  std::size_t capacity KM_GUARDED_BY(lock); // a power of two, or 0
  std::size_t used KM_GUARDED_BY(lock);     // live entries and tombstones
  HugeStats stats KM_GUARDED_BY(lock);
};

pthread_once_t g_once = PTHREAD_ONCE_INIT;
Registry g_registry;

void init_registry() {
  g_registry.lock.init();
}

Registry& registry() {
  pthread_once(&g_once, &init_registry);
  return g_registry;
}

std::size_t slot_of(std::uintptr_t ptr, std::size_t capacity) {
  return static_cast<std::size_t>((ptr >> 12) * 0x9e3779b97f4a7c15ull) & (capacity - 1);
}

Entry* find(Registry& r, std::uintptr_t ptr) KM_REQUIRES(r.lock) {
  if (r.capacity == 0)
    return nullptr;
  for (std::size_t i = slot_of(ptr, r.capacity);; i = (i + 1) & (r.capacity - 1)) {
    if (r.table[i].ptr == ptr)
      return &r.table[i];
    if (r.table[i].ptr == 0)
      return nullptr;
  }
}

void insert(Entry* table, std::size_t capacity, std::uintptr_t ptr, std::size_t bytes) {
  std::size_t i = slot_of(ptr, capacity);
  while (table[i].ptr != 0 && table[i].ptr != kTombstone)
    i = (i + 1) & (capacity - 1);
  table[i] = Entry{ptr, bytes};
}

// Makes room for one more entry: rebuilds into a table twice the live count's power of two.
bool reserve(Registry& r) KM_REQUIRES(r.lock) {
  if ((r.used + 1) * 2 <= r.capacity)
    return true;
  std::size_t capacity = 256;
  while (capacity < (r.stats.live + 1) * 4)
    capacity *= 2;
  auto* table = static_cast<Entry*>(platform::map_aligned(capacity * sizeof(Entry), kOsPage));
  if (table == nullptr)
    return false;
  for (std::size_t i = 0; i < r.capacity; ++i)
    if (r.table[i].ptr > kTombstone)
      insert(table, capacity, r.table[i].ptr, r.table[i].bytes);
  if (r.table != nullptr)
    platform::unmap(r.table, r.capacity * sizeof(Entry));
  r.table = table;
  r.capacity = capacity;
  r.used = r.stats.live;
  return true;
}

} // namespace

void* huge_map(std::size_t size, std::size_t alignment) {
  const std::size_t bytes = (size + kOsPage - 1) & ~(kOsPage - 1);
  if (bytes < size)
    return nullptr;
  Registry& r = registry();
  platform::LockGuard guard(r.lock);
  if (!reserve(r))
    return nullptr;
  void* ptr = platform::map_aligned(bytes, alignment < kOsPage ? kOsPage : alignment);
  if (ptr == nullptr)
    return nullptr;
  insert(r.table, r.capacity, reinterpret_cast<std::uintptr_t>(ptr), bytes);
  ++r.used;
  ++r.stats.live;
  ++r.stats.total;
  r.stats.live_bytes += bytes;
  return ptr;
}

std::size_t huge_size(const void* ptr) {
  Registry& r = registry();
  platform::LockGuard guard(r.lock);
  const Entry* e = find(r, reinterpret_cast<std::uintptr_t>(ptr));
  return e == nullptr ? 0 : e->bytes;
}

bool huge_unmap(void* ptr) {
  Registry& r = registry();
  std::size_t bytes;
  {
    platform::LockGuard guard(r.lock);
    Entry* e = find(r, reinterpret_cast<std::uintptr_t>(ptr));
    if (e == nullptr)
      return false;
    bytes = e->bytes;
    e->ptr = kTombstone;
    --r.stats.live;
    r.stats.live_bytes -= bytes;
  }
  platform::unmap(ptr, bytes);
  return true;
}

HugeStats huge_stats() {
  Registry& r = registry();
  platform::LockGuard guard(r.lock);
  return r.stats;
}

void huge_lock_for_fork() KM_TSA(no_thread_safety_analysis) {
  registry().lock.lock();
}

void huge_unlock_after_fork() KM_TSA(no_thread_safety_analysis) {
  registry().lock.unlock();
}

} // namespace km::shim
