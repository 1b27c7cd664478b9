// model/cpu_spec.cpp - see cpu_spec.h.
#include "model/cpu_spec.h"

#include <algorithm>
#include <bit>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <utility>

namespace km::model {
namespace {

// {highest + 1, count} of a cpulist: comma-separated "a" or "a-b" items.
std::pair<unsigned, unsigned> cpulist(const std::string& text) {
  unsigned highest_plus_one = 0, count = 0;
  std::stringstream items(text);
  std::string item;
  while (std::getline(items, item, ',')) {
    while (!item.empty() && (item.back() == '\n' || item.back() == ' '))
      item.pop_back();
    if (item.empty() || item.find_first_not_of("0123456789-") != std::string::npos)
      return {0, 0};
    const std::size_t dash = item.find('-');
    const unsigned lo = static_cast<unsigned>(std::stoul(item.substr(0, dash)));
    const unsigned hi =
        dash == std::string::npos ? lo : static_cast<unsigned>(std::stoul(item.substr(dash + 1)));
    if (hi < lo)
      return {0, 0};
    count += hi - lo + 1;
    highest_plus_one = std::max(highest_plus_one, hi + 1);
  }
  return {highest_plus_one, count};
}

std::string file_text(const char* path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

} // namespace

MachineCpus parse_cpulists(const char* possible_text, const char* present_text) {
  return MachineCpus{cpulist(possible_text).first, cpulist(present_text).second};
}

MachineCpus machine_cpus() {
  static const MachineCpus m = [] {
    MachineCpus r = parse_cpulists(file_text("/sys/devices/system/cpu/possible").c_str(),
                                   file_text("/sys/devices/system/cpu/present").c_str());
    const unsigned threads = std::max(1u, std::thread::hardware_concurrency());
    if (r.possible == 0)
      r.possible = threads;
    if (r.present == 0)
      r.present = threads;
    return r;
  }();
  return m;
}

Config resolve_cpus(Config cfg, MachineCpus m) {
  if (cfg.nr_cpus != kNrCpusAuto)
    return cfg;
  cfg.nr_cpus = std::min(std::max(m.possible, 1u), kMaxCpus);
  // The kernel's calculate_order counts present cpus (nr_cpu_ids when at most one is present);
  // when that count's min_objects differs from nr_cpus's, the heap pins it.
  const unsigned kernel_count = m.present <= 1 ? std::max(m.possible, 1u) : m.present;
  const unsigned wanted = 4 * (std::bit_width(kernel_count) + 1);
  if (cfg.slub_min_objects == 0 && wanted != 4 * (std::bit_width(cfg.nr_cpus) + 1))
    cfg.slub_min_objects = wanted;
  return cfg;
}

Config resolve_cpus(const Config& cfg) {
  return cfg.nr_cpus == kNrCpusAuto ? resolve_cpus(cfg, machine_cpus()) : cfg;
}

} // namespace km::model
