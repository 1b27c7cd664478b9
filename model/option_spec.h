// model/option_spec.h - the option-string grammar of km::parse_options() + km::validate_config(),
// written from their documentation (kmalloc/config.h, kmalloc/kmalloc.h, README.md) and, where
// that is silent, from black-box runs of the real parser (marked "observed" in option_spec.cpp).
// It never reads allocator/src/options.cpp or config.cpp.
//
//   text    := item { ',' item }            items are taken in text order; empty items are skipped
//   item    := key '=' value                 split at the first '='; key non-empty; no trimming
//   profile := "linux-6" | "linux-4-slab" | "none"         (exact, case-sensitive)
//   size    := digits [ 'K'|'k' | 'M'|'m' | 'G'|'g' ]       (x 2^10, 2^20, 2^30; <= 2^64 - 1)
//   shift   := digits <= 64 (page_shift, max_order, slub_*_order); small := digits <= 2^20 (the
//              other unsigned keys); hardened := "0" | "1"; seed := digits <= 2^64 - 1
//   cpus    := "auto" | small                 (nr_cpus; "auto" and "0" both mean kNrCpusAuto,
//              which the heap resolves to the machine's CPUs; validation: at most kMaxCpus)
//   digits  := ['0'-'9']+                     (leading zeros allowed; no sign, no "0x", no spaces)
//
// Pass 1 (text order): an item without '=' or with an empty key is a syntax error (no key named);
// profile= items are applied here (so "wherever it stands"): the last one wins. Pass 2 (text
// order): every other item; an unknown key names no key, a bad value names its key; duplicates:
// the last one wins. Any error leaves the Config unchanged. Then validate_config's rules, in the
// order listed in option_spec.cpp; the first broken rule names its key.
#pragma once

#include <string>
#include <string_view>

#include "kmalloc/config.h"

namespace km::model {

struct OptionPrediction {
  bool ok = false; // parse_options must accept the text AND validate_config must accept the result
  std::string key; // when !ok: the option key the error must name ("" when it names no key: a
                   // syntax error or an unknown key; the allocator then says "options")
  Config cfg;      // when ok: the Config the text must produce, starting from the given base
};

OptionPrediction predict_options(std::string_view text, const Config& base = Config{});

} // namespace km::model
