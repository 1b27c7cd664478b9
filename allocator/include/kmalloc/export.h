/* SPDX-License-Identifier: MIT */
/*
 * kmalloc/export.h - KMALLOC_API, the mark of what libkmalloc exports.
 *
 * The library is built with -fvisibility=hidden; only declarations with default visibility are
 * exported. The public headers put theirs between `#pragma GCC visibility push(default)` and
 * `#pragma GCC visibility pop`; a single declaration elsewhere can say KMALLOC_API instead.
 * tests/exported_symbols.txt lists what libkmalloc.so exports (tools/update_exported_symbols.sh
 * regenerates it).
 */
#ifndef KMALLOC_EXPORT_H
#define KMALLOC_EXPORT_H

#if defined(__GNUC__) || defined(__clang__)
#define KMALLOC_API __attribute__((visibility("default")))
/* A private member of an exported class: not part of the API, not exported. */
#define KMALLOC_INTERNAL __attribute__((visibility("hidden")))
#else
#define KMALLOC_API
#define KMALLOC_INTERNAL
#endif

#endif /* KMALLOC_EXPORT_H */
