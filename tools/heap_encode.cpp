// tools/heap_encode.cpp - op list -> fuzz_heap bytes, by tables learnt from the decoder; see
// heap_encode.h.
#include "tools/heap_encode.h"

#include <algorithm>
#include <bit>
#include <limits>
#include <map>
#include <stdexcept>
#include <string>
#include <tuple>

#include "fuzz/fuzz_support.h"
#include "model/slab_layout_spec.h"

namespace km::tools {

namespace {

using oracle::FreeRoute;
using oracle::Op;
using oracle::OpKind;
using Record = std::array<std::uint8_t, fuzz::kRecordBytes>;

// Free's shape: route, arg, whether it has an interior offset and an explicit cache.
using FreeShape = std::tuple<FreeRoute, std::uint32_t, bool, bool>;

// What the decoder makes of each field value, first byte string per decoded value.
struct Tables {
  std::array<int, oracle::kOpKinds> code{};
  std::map<std::uint64_t, std::array<std::uint8_t, 3>> size;        // Kmalloc record bytes 1-3
  std::map<gfp_t, std::uint8_t> gfp;                                // Kmalloc record byte 4
  std::map<std::uint64_t, std::array<std::uint8_t, 2>> object_size; // CacheCreate bytes 1-2
  std::map<unsigned, std::uint8_t> align;                           // CacheCreate byte 3
  std::map<slab_flags_t, std::uint8_t> flags;                       // CacheCreate byte 4
  std::map<FreeShape, std::array<std::uint8_t, 2>> free;            // Free bytes 3-4
};

// Decodes `rec` after a record that creates #0 and one that creates c0, so that handle and
// cache fields have something to name.
Op decode_in_context(const Record& rec, const Record& alloc, const Record& create) {
  std::uint8_t buf[fuzz::kHeaderBytes + 3 * fuzz::kRecordBytes] = {8}; // linux-6, C++ API
  std::copy(alloc.begin(), alloc.end(), buf + fuzz::kHeaderBytes);
  std::copy(create.begin(), create.end(), buf + fuzz::kHeaderBytes + fuzz::kRecordBytes);
  std::copy(rec.begin(), rec.end(), buf + fuzz::kHeaderBytes + 2 * fuzz::kRecordBytes);
  return fuzz::decode_heap_input(buf, sizeof buf, fuzz::kRegionBytes).ops.at(2);
}

const Tables& tables() {
  static const Tables t = [] {
    Tables t;
    t.code.fill(-1);
    for (int b = 255; b >= 0; --b) { // the kind does not depend on what came before
      const Record r{static_cast<std::uint8_t>(b)};
      const Op op = decode_in_context(r, r, r);
      t.code[static_cast<unsigned>(op.kind)] = b;
    }
    auto code = [&](OpKind k) {
      return static_cast<std::uint8_t>(t.code[static_cast<unsigned>(k)]);
    };
    const Record alloc{code(OpKind::Kmalloc)};
    const Record create{code(OpKind::CacheCreate)};
    auto decode = [&](const Record& r) { return decode_in_context(r, alloc, create); };
    for (unsigned sel = 0; sel < 8; ++sel)
      for (unsigned a = 0; a < 256; ++a)
        for (unsigned b = 0; b < 256; ++b) {
          const Record r{code(OpKind::Kmalloc), static_cast<std::uint8_t>(sel),
                         static_cast<std::uint8_t>(a), static_cast<std::uint8_t>(b)};
          t.size.emplace(decode(r).size, std::array<std::uint8_t, 3>{r[1], r[2], r[3]});
        }
    for (unsigned g = 0; g < 256; ++g) {
      const Record r{code(OpKind::Kmalloc), 0, 0, 0, static_cast<std::uint8_t>(g)};
      t.gfp.emplace(decode(r).gfp, r[4]);
    }
    for (unsigned a = 0; a < 256; ++a)
      for (unsigned b = 0; b < 256; ++b) {
        const Record r{code(OpKind::CacheCreate), static_cast<std::uint8_t>(a),
                       static_cast<std::uint8_t>(b)};
        t.object_size.emplace(decode(r).size, std::array<std::uint8_t, 2>{r[1], r[2]});
      }
    for (unsigned v = 0; v < 256; ++v) {
      Record r{code(OpKind::CacheCreate), 0, 0, static_cast<std::uint8_t>(v)};
      t.align.emplace(static_cast<unsigned>(decode(r).n), r[3]);
      r = Record{code(OpKind::CacheCreate), 0, 0, 0, static_cast<std::uint8_t>(v)};
      t.flags.emplace(decode(r).flags, r[4]);
    }
    for (unsigned r3 = 0; r3 < 256; ++r3)
      for (unsigned r4 = 0; r4 < 256; ++r4) {
        const Record r{code(OpKind::Free),
                       0,
                       0,
                       static_cast<std::uint8_t>(r3),
                       static_cast<std::uint8_t>(r4),
                       1,
                       0,
                       0};
        const Op op = decode(r);
        t.free.emplace(FreeShape{op.route, op.arg, op.size != 0, op.cache != oracle::kNoCache},
                       std::array<std::uint8_t, 2>{r[3], r[4]});
      }
    return t;
  }();
  return t;
}

// ceil(log2(x)) for x >= 1.
unsigned ceil_log2(std::uint64_t x) {
  return x <= 1 ? 0 : 64 - static_cast<unsigned>(std::countl_zero(x - 1));
}

template <class Map, class Pick> auto nearest_in(const Map& m, Pick better) {
  auto best = m.begin();
  for (auto it = m.begin(); it != m.end(); ++it)
    if (better(*it, *best))
      best = it;
  return best;
}

[[noreturn]] void unencodable(const Op& op, const char* what) {
  throw std::logic_error("heap_encode: " + oracle::to_string(op) + ": " + what +
                         " has no encoding");
}

void put16(Record& r, unsigned i, std::uint64_t v) {
  r[i] = static_cast<std::uint8_t>(v);
  r[i + 1] = static_cast<std::uint8_t>(v >> 8);
}

} // namespace

std::uint64_t nearest_size(std::uint64_t size) {
  const auto& m = tables().size;
  if (m.count(size) != 0 || size == 0)
    return size;
  // The bucket (2^(k-1), 2^k] of size; 2^k itself is always encodable.
  const unsigned k = ceil_log2(size);
  const std::uint64_t lo = k == 0 ? 0 : (std::uint64_t{1} << (k - 1)) + 1;
  std::uint64_t best = 0;
  bool found = false;
  auto consider = [&](std::uint64_t c) {
    if (c < lo || ceil_log2(c) != k)
      return;
    const std::uint64_t d = c > size ? c - size : size - c;
    const std::uint64_t bd = best > size ? best - size : size - best;
    if (!found || d < bd || (d == bd && c < best)) {
      best = c;
      found = true;
    }
  };
  auto it = m.lower_bound(size);
  if (it != m.end())
    consider(it->first);
  if (it != m.begin())
    consider(std::prev(it)->first);
  return found ? best : size;
}

gfp_t nearest_gfp(gfp_t gfp, bool seven_bits) {
  auto bad = [](gfp_t g) { return (g & ~__GFP_BITS_MASK) != 0; };
  auto cost = [&](gfp_t c) {
    return (bad(c) != bad(gfp) ? 1000 : 0) + std::popcount(static_cast<unsigned>(c ^ gfp));
  };
  gfp_t best = 0;
  int best_cost = std::numeric_limits<int>::max();
  std::uint8_t best_byte = 0;
  for (const auto& [g, byte] : tables().gfp) {
    if (seven_bits && byte >= 0x80)
      continue;
    const int c = cost(g);
    if (c < best_cost || (c == best_cost && byte < best_byte)) {
      best = g;
      best_cost = c;
      best_byte = byte;
    }
  }
  return best;
}

std::uint64_t nearest_object_size(std::uint64_t size) {
  const auto& m = tables().object_size;
  const auto it = nearest_in(m, [&](const auto& a, const auto& b) {
    const std::uint64_t da = a.first > size ? a.first - size : size - a.first;
    const std::uint64_t db = b.first > size ? b.first - size : size - b.first;
    return da < db;
  });
  return it->first;
}

unsigned nearest_align(unsigned align) {
  const auto& m = tables().align;
  if (m.count(align) != 0)
    return align;
  const bool pow2 = std::has_single_bit(align);
  auto distance = [&](unsigned c) {
    if (pow2 != std::has_single_bit(c)) // keeps a refused (non power of two) alignment refused
      return 1000;
    if (!pow2)
      return 0;
    return std::abs(static_cast<int>(std::bit_width(c)) - static_cast<int>(std::bit_width(align)));
  };
  unsigned best = m.begin()->first;
  for (const auto& [c, byte] : m) {
    (void)byte;
    const int d = distance(c), bd = distance(best);
    if (d < bd || (d == bd && c > best && pow2)) // ties upwards: at least the asked alignment
      best = c;
  }
  return best;
}

slab_flags_t nearest_slab_flags(slab_flags_t flags) {
  auto refused = [](slab_flags_t f) { return !model::slab::calc_layout({}, 64, 0, f, false).ok; };
  const bool want = refused(flags);
  slab_flags_t best = 0;
  int best_cost = std::numeric_limits<int>::max();
  for (const auto& [f, byte] : tables().flags) {
    (void)byte;
    const int c = (refused(f) != want ? 1000 : 0) + std::popcount(f ^ flags);
    if (c < best_cost) {
      best = f;
      best_cost = c;
    }
  }
  return best;
}

std::uint64_t interior_size(std::uint64_t offset, std::uint64_t usable) {
  if (offset == 0 || usable < 2)
    return 0;
  const std::uint64_t m = usable - 1;
  const std::uint64_t r = (offset - 1) % m;
  if (r == 0)
    return m <= 0xffff ? m : 1; // size m is offset 1 again; past 16 bits the nearest is 2
  return std::min<std::uint64_t>(r, 0xffff);
}

HeapEncoder::HeapEncoder(const Header& header) : header_(header) {
  max_order_ =
      fuzz::decode_heap_input(header.data(), header.size(), fuzz::kRegionBytes).cfg.max_order;
  out_.assign(header.begin(), header.end());
}

void HeapEncoder::append(const Op& op) {
  const Tables& t = tables();
  Record r{};
  if (t.code[static_cast<unsigned>(op.kind)] < 0)
    unencodable(op, "the kind");
  r[0] = static_cast<std::uint8_t>(t.code[static_cast<unsigned>(op.kind)]);
  auto size3 = [&](unsigned at) {
    const auto it = t.size.find(op.size);
    if (it == t.size.end())
      unencodable(op, "the size");
    std::copy(it->second.begin(), it->second.end(), r.begin() + at);
  };
  auto gfp = [&](unsigned at, bool seven) {
    const auto it = t.gfp.find(op.gfp);
    if (it == t.gfp.end() || (seven && it->second >= 0x80))
      unencodable(op, "the gfp");
    r[at] = it->second;
  };
  auto cache = [&](unsigned at) {
    if (op.cache > 0xff)
      unencodable(op, "the cache");
    r[at] = static_cast<std::uint8_t>(op.cache);
  };
  switch (op.kind) {
  case OpKind::Kmalloc:
  case OpKind::Kzalloc:
  case OpKind::CheckSize:
    size3(1);
    gfp(4, false);
    break;
  case OpKind::KmallocArray:
  case OpKind::Kcalloc: {
    size3(1);
    gfp(4, false);
    constexpr std::uint64_t kHuge = ~std::uint64_t{0} >> 1;
    if (op.n < 64) {
      r[5] = static_cast<std::uint8_t>(op.n);
    } else if (op.n >= kHuge && op.n - kHuge <= 0xff) {
      r[5] = 0xff;
      r[6] = static_cast<std::uint8_t>(op.n - kHuge);
    } else {
      unencodable(op, "the count");
    }
    break;
  }
  case OpKind::Krealloc:
    put16(r, 1, op.handle);
    size3(3);
    gfp(6, true);
    if (op.arg > 2)
      unencodable(op, "the failure count");
    if (op.arg != 0) {
      r[6] |= 0x80;
      r[7] = static_cast<std::uint8_t>(op.arg - 1);
    }
    break;
  case OpKind::Ksize:
  case OpKind::Verify: put16(r, 1, op.handle); break;
  case OpKind::CacheCreate: {
    const auto s = t.object_size.find(op.size);
    const auto a = t.align.find(static_cast<unsigned>(op.n));
    const auto f = t.flags.find(op.flags);
    if (s == t.object_size.end() || a == t.align.end() || f == t.flags.end() || op.arg > 1)
      unencodable(op, "the cache");
    r[1] = s->second[0];
    r[2] = s->second[1];
    r[3] = a->second;
    r[4] = f->second;
    r[5] = static_cast<std::uint8_t>(op.arg);
    break;
  }
  case OpKind::CacheAlloc:
  case OpKind::CacheZalloc:
    cache(1);
    gfp(2, true);
    break;
  case OpKind::CacheShrink:
  case OpKind::CacheDestroy: cache(1); break;
  case OpKind::AllocPages:
    if (op.arg > max_order_ + 1)
      unencodable(op, "the order");
    r[1] = static_cast<std::uint8_t>(op.arg);
    gfp(2, false);
    break;
  case OpKind::Free: {
    const auto it =
        t.free.find(FreeShape{op.route, op.arg, op.size != 0, op.cache != oracle::kNoCache});
    if (it == t.free.end() || op.size > 0xffff)
      unencodable(op, "the free");
    put16(r, 1, op.handle);
    r[3] = it->second[0];
    r[4] = it->second[1];
    put16(r, 5, op.size);
    if (op.cache != oracle::kNoCache)
      cache(7);
    break;
  }
  case OpKind::FreeAt:
    if (static_cast<unsigned>(op.route) >= oracle::kFreeRoutes || op.arg >= oracle::kWheres ||
        op.size > 0xffffffffu)
      unencodable(op, "the free");
    r[1] = static_cast<std::uint8_t>(op.route);
    r[2] = static_cast<std::uint8_t>(op.arg);
    put16(r, 3, op.size);
    put16(r, 5, op.size >> 16);
    if (op.cache != oracle::kNoCache) { // byte 7 >= 0x80, % caches == cache
      if (caches_ == 0 || caches_ > 0x80 || op.cache >= caches_)
        unencodable(op, "the cache");
      r[7] = static_cast<std::uint8_t>(0x80 + (op.cache + caches_ - 0x80 % caches_) % caches_);
    }
    break;
  case OpKind::BadCache:
    r[1] = static_cast<std::uint8_t>(op.arg);
    cache(2);
    r[3] = static_cast<std::uint8_t>(op.n);
    put16(r, 4, op.handle);
    break;
  case OpKind::SetCpu:
    if (op.arg > 0xff)
      unencodable(op, "the cpu");
    r[1] = static_cast<std::uint8_t>(op.arg);
    break;
  case OpKind::FailNext:
    if (op.arg < 1 || op.arg > 3)
      unencodable(op, "the count");
    r[1] = static_cast<std::uint8_t>(op.arg - 1);
    break;
  case OpKind::Flush:
  case OpKind::Validate: break;
  }
  out_.insert(out_.end(), r.begin(), r.end());
  ops_.push_back(op);
  handles_ += oracle::creates_handle(op.kind) ? 1 : 0;
  caches_ += op.kind == OpKind::CacheCreate ? 1 : 0;
}

std::vector<std::uint8_t> HeapEncoder::bytes() const {
  const fuzz::HeapInput in = fuzz::decode_heap_input(out_.data(), out_.size(), fuzz::kRegionBytes);
  if (in.ops.size() != ops_.size())
    throw std::logic_error("heap_encode: " + std::to_string(ops_.size()) + " ops decode as " +
                           std::to_string(in.ops.size()));
  for (std::size_t i = 0; i < ops_.size(); ++i)
    if (oracle::to_cpp(in.ops[i]) != oracle::to_cpp(ops_[i]))
      throw std::logic_error("heap_encode: op " + std::to_string(i) + " " +
                             oracle::to_cpp(ops_[i]) + " decodes as " + oracle::to_cpp(in.ops[i]));
  return out_;
}

} // namespace km::tools
