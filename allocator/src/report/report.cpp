// report/report.cpp - the report module: stable messages, one function per kind, then the handler.
#include <cstdarg>
#include <cstdio>

#include "platform/os.h"
#include "report/report_impl.h"
#include "support/check.h"

namespace km {

namespace {

constexpr std::size_t kMessageSize = 320;
static_assert(ReportQueue::kMessageBytes == kMessageSize);

void deliver(const Reporter& r, ErrorKind kind, std::uintptr_t addr, const char* message) {
  const ErrorReport report{kind, addr, message};
  (r.handler != nullptr ? r.handler : default_report_handler)(r.context, report);
}

} // namespace

const char* error_kind_name(ErrorKind kind) {
  switch (kind) {
  case ErrorKind::OrderTooLarge: return "OrderTooLarge";
  case ErrorKind::InvalidGfp: return "InvalidGfp";
  case ErrorKind::PageDoubleFree: return "PageDoubleFree";
  case ErrorKind::PageInvalidFree: return "PageInvalidFree";
  case ErrorKind::PageOrderMismatch: return "PageOrderMismatch";
  case ErrorKind::PageOwnerMismatch: return "PageOwnerMismatch";
  case ErrorKind::CacheCreateFailed: return "CacheCreateFailed";
  case ErrorKind::SlabPanic: return "SlabPanic";
  case ErrorKind::ObjectsRemaining: return "ObjectsRemaining";
  case ErrorKind::InvalidCache: return "InvalidCache";
  case ErrorKind::InvalidObjectPointer: return "InvalidObjectPointer";
  case ErrorKind::WrongCache: return "WrongCache";
  case ErrorKind::ObjectDoubleFree: return "ObjectDoubleFree";
  case ErrorKind::FreelistCorrupt: return "FreelistCorrupt";
  case ErrorKind::SizeTooLarge: return "SizeTooLarge";
  case ErrorKind::KmallocDisabled: return "KmallocDisabled";
  case ErrorKind::HeapUninitialized: return "HeapUninitialized";
  case ErrorKind::Corruption: return "Corruption";
  }
  return "Unknown";
}

bool error_kind_is_warning(ErrorKind kind) {
  return kind == ErrorKind::OrderTooLarge || kind == ErrorKind::InvalidGfp ||
         kind == ErrorKind::CacheCreateFailed || kind == ErrorKind::ObjectsRemaining ||
         kind == ErrorKind::SizeTooLarge || kind == ErrorKind::KmallocDisabled ||
         kind == ErrorKind::HeapUninitialized;
}

void default_report_handler(void*, const ErrorReport& report) {
  platform::print(report.message);
  platform::print("\n");
  if (!error_kind_is_warning(report.kind))
    platform::fatal();
}

void warn_order_too_large(const Reporter& r, unsigned order, unsigned max_order) {
  char msg[kMessageSize];
  std::snprintf(msg, sizeof msg, "kmalloc: WARNING: alloc_pages: order %u > MAX_ORDER %u", order,
                max_order);
  deliver(r, ErrorKind::OrderTooLarge, 0, msg);
}

void warn_invalid_gfp(const Reporter& r, gfp_t gfp) {
  char msg[kMessageSize];
  std::snprintf(msg, sizeof msg, "kmalloc: WARNING: invalid gfp flags %#x (unknown bits %#x)", gfp,
                gfp & ~__GFP_BITS_MASK);
  deliver(r, ErrorKind::InvalidGfp, 0, msg);
}

void report_page_double_free(const Reporter& r, std::uintptr_t addr, unsigned order) {
  char msg[kMessageSize];
  std::snprintf(msg, sizeof msg,
                "kmalloc: BUG: Bad page state: double free of page %#lx (order %u)",
                static_cast<unsigned long>(addr), order);
  deliver(r, ErrorKind::PageDoubleFree, addr, msg);
}

void report_page_invalid_free(const Reporter& r, std::uintptr_t addr, const char* reason) {
  char msg[kMessageSize];
  std::snprintf(msg, sizeof msg, "kmalloc: BUG: Invalid page pointer %#lx: %s",
                static_cast<unsigned long>(addr), reason);
  deliver(r, ErrorKind::PageInvalidFree, addr, msg);
}

void report_page_order_mismatch(const Reporter& r, std::uintptr_t addr, unsigned given,
                                unsigned actual) {
  char msg[kMessageSize];
  std::snprintf(
      msg, sizeof msg,
      "kmalloc: BUG: Bad page order: page %#lx freed with order %u, allocated with order %u",
      static_cast<unsigned long>(addr), given, actual);
  deliver(r, ErrorKind::PageOrderMismatch, addr, msg);
}

void report_page_owner_mismatch(const Reporter& r, std::uintptr_t addr, const char* owner) {
  char msg[kMessageSize];
  std::snprintf(msg, sizeof msg,
                "kmalloc: BUG: Bad page state: page %#lx belongs to %s, not alloc_pages",
                static_cast<unsigned long>(addr), owner);
  deliver(r, ErrorKind::PageOwnerMismatch, addr, msg);
}

void report_cache_create_failed(const Reporter& r, const char* name, const char* reason,
                                bool panic) {
  char msg[kMessageSize];
  std::snprintf(msg, sizeof msg, "kmalloc: %skmem_cache_create(%s) failed: %s",
                panic ? "" : "WARNING: ", name, reason);
  deliver(r, panic ? ErrorKind::SlabPanic : ErrorKind::CacheCreateFailed, 0, msg);
}

void report_objects_remaining(const Reporter& r, const char* cache, std::size_t count) {
  char msg[kMessageSize];
  std::snprintf(msg, sizeof msg,
                "kmalloc: WARNING: kmem_cache_destroy %s: Slab cache still has objects "
                "(%zu remaining); the cache is left alive",
                cache, count);
  deliver(r, ErrorKind::ObjectsRemaining, 0, msg);
}

void report_invalid_cache(const Reporter& r, const char* function, std::uintptr_t cache) {
  char msg[kMessageSize];
  std::snprintf(msg, sizeof msg, "kmalloc: BUG: %s: %#lx is not a live kmem_cache of this heap",
                function, static_cast<unsigned long>(cache));
  deliver(r, ErrorKind::InvalidCache, cache, msg);
}

void report_invalid_object_pointer(const Reporter& r, const char* cache, std::uintptr_t addr,
                                   const char* reason) {
  char msg[kMessageSize];
  std::snprintf(msg, sizeof msg, "kmalloc: BUG %s: Invalid object pointer %#lx (%s)", cache,
                static_cast<unsigned long>(addr), reason);
  deliver(r, ErrorKind::InvalidObjectPointer, addr, msg);
}

void report_wrong_cache(const Reporter& r, const char* cache, const char* actual,
                        std::uintptr_t addr) {
  char msg[kMessageSize];
  std::snprintf(msg, sizeof msg,
                "kmalloc: kmem_cache_free: Wrong slab cache. %s but object %#lx is from %s", cache,
                static_cast<unsigned long>(addr), actual);
  deliver(r, ErrorKind::WrongCache, addr, msg);
}

void report_object_double_free(const Reporter& r, const char* cache, std::uintptr_t addr) {
  char msg[kMessageSize];
  std::snprintf(msg, sizeof msg, "kmalloc: BUG %s: Object already free %#lx", cache,
                static_cast<unsigned long>(addr));
  deliver(r, ErrorKind::ObjectDoubleFree, addr, msg);
}

void report_freelist_corrupt(const Reporter& r, const char* cache, std::uintptr_t addr) {
  char msg[kMessageSize];
  std::snprintf(msg, sizeof msg,
                "kmalloc: BUG %s: Freepointer corrupt at object %#lx; slab isolated", cache,
                static_cast<unsigned long>(addr));
  deliver(r, ErrorKind::FreelistCorrupt, addr, msg);
}

void warn_kmalloc_too_large(const Reporter& r, std::size_t size, std::size_t max_size) {
  char msg[kMessageSize];
  std::snprintf(
      msg, sizeof msg,
      "kmalloc: WARNING: kmalloc(%zu) is larger than KMALLOC_MAX_SIZE %zu; returning NULL", size,
      max_size);
  deliver(r, ErrorKind::SizeTooLarge, 0, msg);
}

void warn_heap_uninitialized(const Reporter& r, const char* function) {
  char msg[kMessageSize];
  std::snprintf(msg, sizeof msg,
                "kmalloc: WARNING: %s on a heap that is not initialised (init was not called or "
                "failed); the call does nothing",
                function);
  deliver(r, ErrorKind::HeapUninitialized, 0, msg);
}

void warn_kmalloc_disabled(const Reporter& r) {
  char msg[kMessageSize];
  std::snprintf(msg, sizeof msg,
                "kmalloc: WARNING: this heap has no kmalloc caches (Config::profile is none)");
  deliver(r, ErrorKind::KmallocDisabled, 0, msg);
}

void report_corruption(const Reporter& r, const char* invariant, std::uintptr_t addr,
                       const char* format, ...) {
  char detail[kMessageSize - 48];
  va_list args;
  va_start(args, format);
  std::vsnprintf(detail, sizeof detail, format, args);
  va_end(args);
  char msg[kMessageSize];
  std::snprintf(msg, sizeof msg, "kmalloc: validate: %s: %s", invariant, detail);
  deliver(r, ErrorKind::Corruption, addr, msg);
}

void ReportQueue::collect(void* self, const ErrorReport& report) {
  auto* q = static_cast<ReportQueue*>(self);
  if (q->count_ == kCapacity) {
    ++q->more_;
    return;
  }
  Entry& e = q->entries_[q->count_++];
  e.kind = report.kind;
  e.address = report.address;
  std::snprintf(e.message, sizeof e.message, "%s", report.message);
}

void ReportQueue::deliver(const Reporter& target) {
  for (unsigned i = 0; i < count_; ++i)
    km::deliver(target, entries_[i].kind, entries_[i].address, entries_[i].message);
  if (more_ != 0) {
    char msg[kMessageSize];
    std::snprintf(msg, sizeof msg, "kmalloc: validate: %zu more reports not shown", more_);
    km::deliver(target, ErrorKind::Corruption, 0, msg);
  }
  count_ = 0;
  more_ = 0;
}

[[noreturn]] void check_failed(const char* file, int line, const char* expr, std::uint64_t lhs,
                               std::uint64_t rhs) {
  char msg[kMessageSize];
  std::snprintf(msg, sizeof msg, "kmalloc: CHECK failed: %s:%d: %s (%#llx vs %#llx)\n", file, line,
                expr, static_cast<unsigned long long>(lhs), static_cast<unsigned long long>(rhs));
  platform::print(msg);
  platform::fatal();
}

} // namespace km
