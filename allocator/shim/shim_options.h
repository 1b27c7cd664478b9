// shim/shim_options.h - the shim's configuration: KMALLOC_OPTIONS, read once at the first call.
//
// The variable holds the option string of kmalloc/config.h's parse_options() (its arena= is the
// size of each arena, rounded up to a power of two and to at least twice the largest block, so
// that any kmalloc up to KMALLOC_MAX_SIZE fits a fresh arena: 8 MiB by default), plus the shim's
// own key stats=FILE: at exit, write the call counts, slabinfo and buddyinfo of every arena to FILE
// ("%p" in FILE becomes the process id, so a program that runs others keeps one file each).
// Defaults: profile=linux-6, 64 MiB arenas, no ZONE_DMA, and with nr_cpus=auto (the default)
// four cpu slots per possible CPU (at least 8: threads hold slots, and a program's main thread
// keeps one), with slub_min_objects pinned so that slab orders are the ones the kernel picks on
// this machine.
#pragma once

#include <cstddef>

#include "kmalloc/config.h"

namespace km::shim {

struct ShimOptions {
  Config heap;          // for every arena; heap.arena_size is the arena size
  unsigned arena_shift; // log2(heap.arena_size)
  char stats_path[256]; // "" = no stats file
  // release=SIZE|off: each arena keeps this much of free MAX_ORDER blocks resident and gives
  // the rest back to the OS (Heap::set_release_threshold); default 8M.
  std::size_t release_keep;
};

// Parses `text` (nullptr: the defaults). On a bad key or value: false, with `error` naming it.
bool parse_shim_options(const char* text, ShimOptions& out, char* error, std::size_t error_size);

} // namespace km::shim
