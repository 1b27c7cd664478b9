// model/slab_layout_spec.h - the slab layout rules of kmem_cache_create as a specification:
// calculate_alignment, the stride (free pointer outside the object for ctor caches) and
// calculate_order, each stated as the condition the kernel's comment gives (a search over
// candidate orders), not as the kernel's loop. Written from linux-facts.md sections 3 and 4,
// never from allocator/src; checked against real kernels' /proc/slabinfo rows
// (tests/slab_layout_kernel_test.cpp) and against the allocator (property/slab_layout_props_test).
// The HeapChecker predicts every cache's layout with calc_layout.
#pragma once

#include <cstdint>
#include <string>

#include "kmalloc/config.h"
#include "kmalloc/slab.h"

namespace km::model::slab {

struct ModelLayout {
  bool ok = false;
  std::string why; // when !ok: why kmem_cache_create fails
  unsigned object_size = 0;
  unsigned align = 0;
  unsigned size = 0;   // stride
  unsigned offset = 0; // free pointer offset
  unsigned order = 0;
  unsigned objects = 0;
  unsigned min_order = 0;
  unsigned min_objects = 0;
  unsigned min_partial = 0;
};

// calculate_alignment(flags, align, size) with cache_line_size() == cache_line.
unsigned calc_alignment(slab_flags_t flags, unsigned align, unsigned size, unsigned cache_line);
// Which kernel's calculate_order: the rule changed in Linux 6.7 (Vlastimil Babka's series
// "mm/slub: remove min_objects loop from calculate_order()", "attempt to find layouts up to 1/2
// waste", "refactor calculate_order() and calc_slab_order()"); 6.8 and 6.18 use the 6.7 rule.
enum class KernelRule : std::uint8_t {
  Linux66, // <= 6.6: lower min_objects one by one (tolerances 1/16, 1/8, 1/4), then one object
  Linux67, // >= 6.7: one min_objects, tolerances 1/16 .. 1/2, then get_order(size)
};
// calculate_order(size) for the Config's page size, cpus and slub_* parameters under `rule`;
// -1 = -ENOSYS. Without a rule: Linux67, the allocator's kernel. Config::nr_cpus is the count
// the kernel sized min_objects by: num_present_cpus() (nr_cpu_ids when that is 1) since
// 5.11/5.12 (commits 045ab8c9487b, 3286222fc609), nr_cpu_ids (possible cpus) before; so an
// older kernel's dump needs nr_cpu_ids, which may exceed the cpus it shows (hotplug, VMs).
// nr_cpus = kNrCpusAuto counts as this machine's cpus (model/cpu_spec.h).
// The 6.18 build machine's 235 rows, 2.6.32's 83 and 4.19's 142 all fit (slab_layout_kernel_test).
int calc_order(unsigned size, const Config& cfg, KernelRule rule = KernelRule::Linux67);
// clamp(ilog2(size) / 2, 5, 10).
unsigned calc_min_partial(unsigned size);
// Everything kmem_cache_create decides, or why it refuses.
ModelLayout calc_layout(const Config& cfg, unsigned size, unsigned align, slab_flags_t flags,
                        bool ctor);

} // namespace km::model::slab
