// model/cpu_spec.h - what Config::nr_cpus = kNrCpusAuto means, from kmalloc/config.h's
// documentation: the machine's nr_cpu_ids, and when the kernel would size min_objects by another
// count, the slub_min_objects that count gives. The model reads the machine itself (sysfs, with
// std::ifstream); it never asks the heap what it resolved (the oracle never asks the system
// under test) and never reads allocator/src.
#pragma once

#include "kmalloc/config.h"

namespace km::model {

struct MachineCpus {
  unsigned possible = 1; // nr_cpu_ids: the highest CPU of /sys/devices/system/cpu/possible + 1
  unsigned present = 1;  // num_present_cpus(): how many CPUs .../present names
};

// A cpulist ("0-3,8-11\n"): {highest + 1, how many}; {0, 0} if it is not one.
MachineCpus parse_cpulists(const char* possible_text, const char* present_text);
// This machine (read once). Where sysfs says nothing: the CPUs std::thread reports, else 1.
MachineCpus machine_cpus();
// cfg with kNrCpusAuto resolved for machine `m` (config.h's rule); other counts are kept.
Config resolve_cpus(Config cfg, MachineCpus m);
Config resolve_cpus(const Config& cfg);

} // namespace km::model
