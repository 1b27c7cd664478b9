// report/report_impl.h - one function per report kind. Each formats a stable message (the kernel's
// wording where there is one), builds an ErrorReport and hands it to the heap's handler.
// Callers refuse the bad operation after reporting; the handler may return (recording mode).
#pragma once

#include <cstddef>
#include <cstdint>

#include "kmalloc/gfp.h"
#include "kmalloc/report.h"

namespace km {

struct Reporter {
  ReportHandler handler = default_report_handler;
  void* context = nullptr;
};

// Warnings (suppressed by __GFP_NOWARN at the call site).
void warn_order_too_large(const Reporter& r, unsigned order, unsigned max_order);
void warn_invalid_gfp(const Reporter& r, gfp_t gfp);

// Page allocator misuse.
void report_page_double_free(const Reporter& r, std::uintptr_t addr, unsigned order);
void report_page_invalid_free(const Reporter& r, std::uintptr_t addr, const char* reason);
void report_page_order_mismatch(const Reporter& r, std::uintptr_t addr, unsigned given,
                                unsigned actual);
void report_page_owner_mismatch(const Reporter& r, std::uintptr_t addr, const char* owner);

// Slab layer.
void report_cache_create_failed(const Reporter& r, const char* name, const char* reason,
                                bool panic);
void report_objects_remaining(const Reporter& r, const char* cache, std::size_t count);
void report_invalid_cache(const Reporter& r, const char* function, std::uintptr_t cache);
void report_invalid_object_pointer(const Reporter& r, const char* cache, std::uintptr_t addr,
                                   const char* reason);
void report_wrong_cache(const Reporter& r, const char* cache, const char* actual,
                        std::uintptr_t addr);
void report_object_double_free(const Reporter& r, const char* cache, std::uintptr_t addr);
void report_freelist_corrupt(const Reporter& r, const char* cache, std::uintptr_t addr);

// kmalloc front end (warnings).
void warn_kmalloc_too_large(const Reporter& r, std::size_t size, std::size_t max_size);
void warn_kmalloc_disabled(const Reporter& r);

// Heap: a method called before a successful init.
void warn_heap_uninitialized(const Reporter& r, const char* function);

// validate(): `invariant` is the id from the design's table (AC2, AC3, ...).
void report_corruption(const Reporter& r, const char* invariant, std::uintptr_t addr,
                       const char* format, ...) __attribute__((format(printf, 4, 5)));

// Reports made while a heap lock is held (validate() walks under the zone lock, slab_mutex and
// each list_lock), kept until deliver() runs with every lock released: a report handler may block,
// log through malloc or call back into the heap. Holds the first kCapacity reports; deliver()
// sends those, in order, then one Corruption report saying how many more there were. It lives
// on validate()'s stack: about 2.6 KiB.
class ReportQueue {
public:
  static constexpr unsigned kCapacity = 8;
  static constexpr std::size_t kMessageBytes = 320;

  // Reports through this land in the queue.
  Reporter reporter() { return Reporter{&ReportQueue::collect, this}; }
  void deliver(const Reporter& target);

private:
  static void collect(void* self, const ErrorReport& report);

  struct Entry {
    ErrorKind kind;
    std::uintptr_t address;
    char message[kMessageBytes];
  };
  Entry entries_[kCapacity];
  unsigned count_ = 0;
  std::size_t more_ = 0;
};

// Runs walk(reporter) with a queue's reporter, then delivers what it reported to `target`: the
// walk takes and releases its locks itself, so the handler runs with none held.
template <class Walk> std::size_t report_after(const Reporter& target, Walk&& walk) {
  ReportQueue queue;
  const std::size_t errors = walk(queue.reporter());
  queue.deliver(target);
  return errors;
}

} // namespace km
