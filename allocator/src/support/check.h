// support/check.h - internal assertion tiers.
//
// KM_CHECK*: always on; for conditions whose violation would corrupt memory. Prints both values.
// KM_DCHECK*: on when KMALLOC_INTERNAL_CHECKS is defined (the dev preset); otherwise the
// expression is type-checked but never evaluated.
#pragma once

#include <cstdint>

namespace km {
[[noreturn]] void check_failed(const char* file, int line, const char* expr, std::uint64_t lhs,
                               std::uint64_t rhs);
} // namespace km

#define KM_CHECK(cond)                                                                             \
  do {                                                                                             \
    if (__builtin_expect(!(cond), 0))                                                              \
      ::km::check_failed(__FILE__, __LINE__, #cond, 0, 0);                                         \
  } while (false)

#define KM_CHECK_OP(a, op, b)                                                                      \
  do {                                                                                             \
    const auto km_lhs_ = (a);                                                                      \
    const auto km_rhs_ = (b);                                                                      \
    if (__builtin_expect(!(km_lhs_ op km_rhs_), 0))                                                \
      ::km::check_failed(__FILE__, __LINE__, #a " " #op " " #b,                                    \
                         static_cast<std::uint64_t>(km_lhs_),                                      \
                         static_cast<std::uint64_t>(km_rhs_));                                     \
  } while (false)

#define KM_CHECK_EQ(a, b) KM_CHECK_OP(a, ==, b)
#define KM_CHECK_LE(a, b) KM_CHECK_OP(a, <=, b)
#define KM_CHECK_LT(a, b) KM_CHECK_OP(a, <, b)

#ifdef KMALLOC_INTERNAL_CHECKS
#define KM_DCHECK(cond) KM_CHECK(cond)
#define KM_DCHECK_EQ(a, b) KM_CHECK_EQ(a, b)
#define KM_DCHECK_LE(a, b) KM_CHECK_LE(a, b)
#define KM_DCHECK_LT(a, b) KM_CHECK_LT(a, b)
#else
#define KM_DCHECK(cond)                                                                            \
  do {                                                                                             \
  } while (false && (cond))
#define KM_DCHECK_EQ(a, b) KM_DCHECK((a) == (b))
#define KM_DCHECK_LE(a, b) KM_DCHECK((a) <= (b))
#define KM_DCHECK_LT(a, b) KM_DCHECK((a) < (b))
#endif
