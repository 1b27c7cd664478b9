// tests/fork_test.cpp - fork() while other threads allocate, and a report handler that calls
// back into the heap (run in a forked child with an alarm). fork() while other threads allocate:
// the child of a multithreaded parent can allocate and free with no report (the heap's
// pthread_atfork hook takes every heap lock around fork, so no lock is inherited held), and the
// parent goes on unharmed. The child does not validate: an object another thread was taking or
// giving back on its lock-free fast path at the instant of the fork is lost to the child (as
// glibc's per-thread caches of the other threads are), and validate() would name that. Assumes:
// POSIX fork and waitpid; the child reports through its exit status and ends with _exit, and an
// alarm() bounds it, so a deadlock fails the test instead of hanging it.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <thread>
#include <vector>

#include "kmalloc/heap.h"

namespace {

std::atomic<int> g_child_reports{0};
void count_report(void*, const km::ErrorReport&) {
  g_child_reports.fetch_add(1);
}

// The child's checks; returns its exit status (0: all held).
int child_checks(km::Heap& heap, kmem_cache* cache) {
  alarm(10); // a lock inherited held would hang here
  heap.set_report_handler(&count_report, nullptr);
  std::vector<unsigned char*> objects;
  for (int i = 0; i < 2000; ++i) {
    void* p = (i % 2 != 0) ? heap.kmalloc(static_cast<std::size_t>(16 + i % 3000), GFP_KERNEL)
                           : heap.kmem_cache_alloc(cache, GFP_KERNEL);
    if (p == nullptr)
      return 2;
    objects.push_back(static_cast<unsigned char*>(p));
    objects.back()[0] = static_cast<unsigned char>(i); // no two live objects share a byte
  }
  for (std::size_t i = 0; i < objects.size(); ++i) {
    if (objects[i][0] != static_cast<unsigned char>(i))
      return 3;
    (i % 2 != 0) ? heap.kfree(objects[i]) : heap.kmem_cache_free(cache, objects[i]);
  }
  heap.flush_cpu_slabs(); // the parent's other threads' slots are free in the child
  if (heap.kmem_cache_alloc(cache, GFP_KERNEL) == nullptr)
    return 4;
  return g_child_reports.load() == 0 ? 0 : 5;
}

TEST(Fork, ChildOfAMultithreadedParentAllocates) {
  km::Heap heap;
  km::Config cfg;
  cfg.arena_size = std::size_t{32} << 20;
  cfg.profile = km::Profile::Linux6;
  cfg.nr_cpus = 2;
  ASSERT_TRUE(heap.init(cfg).ok);
  kmem_cache* cache = heap.kmem_cache_create("fork-96", 96, 0, 0, nullptr);
  ASSERT_NE(cache, nullptr);
  std::atomic<bool> stop{false};
  std::vector<std::thread> workers;
  for (int t = 0; t < 3; ++t) // 3 threads on 2 slots: one uses the shared slot
    workers.emplace_back([&, t] {
      std::vector<void*> live;
      unsigned n = static_cast<unsigned>(t);
      while (!stop.load(std::memory_order_relaxed)) {
        n = n * 1103515245u + 12345u;
        if (live.size() < 64 && (n >> 16) % 2 == 0)
          live.push_back((n >> 20) % 2 == 0 ? heap.kmalloc(8 + (n >> 8) % 5000, GFP_KERNEL)
                                            : heap.kmem_cache_alloc(cache, GFP_KERNEL));
        else if (!live.empty()) {
          void* p = live.back();
          live.pop_back();
          heap.kfree(p); // kfree takes kmem_cache objects too
        }
      }
      for (void* p : live)
        heap.kfree(p);
    });
  int children = 0;
  for (int round = 0; round < 20; ++round) {
    const pid_t pid = fork();
    ASSERT_NE(pid, -1);
    if (pid == 0)
      _exit(child_checks(heap, cache));
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status)) << "round " << round << ": the child died (signal "
                                   << (WIFSIGNALED(status) ? WTERMSIG(status) : 0) << ")";
    EXPECT_EQ(WIFEXITED(status) ? WEXITSTATUS(status) : -1, 0) << "round " << round;
    ++children;
  }
  stop = true;
  for (std::thread& w : workers)
    w.join();
  EXPECT_EQ(children, 20);
  heap.flush_cpu_slabs();
  EXPECT_EQ(heap.validate(), 0u);
  EXPECT_EQ(heap.kmem_cache_shrink(cache), 0);
}

// A report handler may call into the heap: a page misuse is reported after the zone lock is
// released. Run in a child with an alarm, so a deadlock fails the test instead of hanging it.
km::Heap* g_heap_of_handler = nullptr;
int g_handler_calls = 0;
void allocating_handler(void*, const km::ErrorReport&) {
  ++g_handler_calls;
  void* p = g_heap_of_handler->kmalloc(64, GFP_KERNEL); // takes locks of the same heap
  g_heap_of_handler->kfree(p);
  g_heap_of_handler->free_pages(g_heap_of_handler->alloc_pages(GFP_KERNEL, 0), 0);
}

TEST(ReportHandler, MayCallTheHeapFromAPageMisuseReport) {
  const pid_t pid = fork();
  ASSERT_NE(pid, -1);
  if (pid == 0) {
    alarm(10);
    km::Heap heap;
    km::Config cfg;
    cfg.arena_size = std::size_t{8} << 20;
    cfg.profile = km::Profile::Linux6;
    cfg.nr_cpus = 2;
    if (!heap.init(cfg).ok)
      _exit(2);
    g_heap_of_handler = &heap;
    heap.set_report_handler(&allocating_handler, nullptr);
    struct page* pg = heap.alloc_pages(GFP_KERNEL, 1);
    heap.free_pages(pg, 0); // the wrong order: refused, reported
    heap.free_pages(pg, 1);
    heap.free_pages(pg, 1); // a double free: reported
    _exit(g_handler_calls == 2 && heap.validate() == 0 ? 0 : 3);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status)) << "the child died (signal "
                                 << (WIFSIGNALED(status) ? WTERMSIG(status) : 0) << ")";
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

} // namespace
