// heap.cpp - the C++ API: a Heap over a region the program owns, as firmware would use it.
#include <cstdio>
#include <vector>

#include "kmalloc/heap.h"

int main() {
  alignas(4096) static unsigned char region[8u << 20];
  km::Config cfg;
  cfg.profile = km::Profile::Linux6;
  cfg.dma_zone_size = 1u << 20;
  km::Heap heap;
  const km::Status st = heap.init(cfg, region, sizeof region);
  if (!st.ok) {
    std::printf("init failed: %s\n", st.message);
    return 1;
  }
  std::vector<void*> objs;
  for (std::size_t n = 1; n <= 8192; n *= 3)
    objs.push_back(heap.kmalloc(n, GFP_KERNEL));
  for (void* p : objs)
    heap.kfree(p);
  heap.flush_cpu_slabs();
  static char text[16384];
  heap.slabinfo(text, sizeof text);
  std::fputs(text, stdout);
  return heap.validate() == 0 ? 0 : 1;
}
