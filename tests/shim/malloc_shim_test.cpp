// tests/shim/malloc_shim_test.cpp - libkmalloc-malloc.so keeps malloc's contract. This binary
// links the shim, so every malloc, free and operator new in the process (GoogleTest's too) is
// the shim's. ctest runs it with KMALLOC_OPTIONS=arena=4M (tests/shim/shim.cmake: the smallest
// arena, 8 MiB), so growth is exercised; a stats file is written at exit.
#include <errno.h>
#include <malloc.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
#include <thread>
#include <vector>

namespace {

bool aligned(const void* p, std::size_t alignment) {
  return (reinterpret_cast<std::uintptr_t>(p) & (alignment - 1)) == 0;
}

void fill(void* p, std::size_t n, unsigned seed) {
  auto* b = static_cast<unsigned char*>(p);
  for (std::size_t i = 0; i < n; ++i)
    b[i] = static_cast<unsigned char>(seed * 131 + i * 7);
}

bool intact(const void* p, std::size_t n, unsigned seed) {
  const auto* b = static_cast<const unsigned char*>(p);
  for (std::size_t i = 0; i < n; ++i)
    if (b[i] != static_cast<unsigned char>(seed * 131 + i * 7))
      return false;
  return true;
}

// The sizes of every kmalloc class boundary and beyond KMALLOC_MAX_SIZE (4 MiB here).
std::vector<std::size_t> boundary_sizes() {
  std::vector<std::size_t> sizes = {
      0,   1,   7,   8,   9,   15,  16,   17,   24,   32,   33,   64,   65,   95,    96,    97,
      128, 129, 191, 192, 193, 256, 1000, 2048, 4095, 4096, 4097, 8192, 8193, 16384, 100000};
  for (std::size_t s = std::size_t{1} << 17; s <= (std::size_t{16} << 20); s <<= 1) {
    sizes.push_back(s - 1);
    sizes.push_back(s);
    sizes.push_back(s + 1);
  }
  return sizes;
}

TEST(MallocShim, EveryPointerIsMaxAlignedAndHoldsItsSize) {
  unsigned seed = 0;
  for (std::size_t size : boundary_sizes()) {
    void* p = std::malloc(size);
    ASSERT_NE(p, nullptr) << size;
    EXPECT_TRUE(aligned(p, alignof(std::max_align_t))) << size << " at " << p;
    EXPECT_GE(malloc_usable_size(p), size);
    fill(p, size, ++seed);
    EXPECT_TRUE(intact(p, size, seed)) << size;
    std::free(p);
  }
}

TEST(MallocShim, MallocZeroGivesUniquePointers) {
  void* a = std::malloc(0);
  void* b = std::malloc(0);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  EXPECT_NE(a, b);
  std::free(a);
  std::free(b);
}

TEST(MallocShim, OverflowAndExhaustionGiveEnomem) {
  errno = 0;
  EXPECT_EQ(std::calloc(SIZE_MAX / 2, 3), nullptr);
  EXPECT_EQ(errno, ENOMEM);
  errno = 0;
  EXPECT_EQ(std::malloc(SIZE_MAX - 4096), nullptr);
  EXPECT_EQ(errno, ENOMEM);
  errno = 0;
  EXPECT_EQ(reallocarray(nullptr, SIZE_MAX / 4, 8), nullptr);
  EXPECT_EQ(errno, ENOMEM);
  void* p = std::malloc(32);
  errno = 0;
  EXPECT_EQ(std::realloc(p, SIZE_MAX - 4096), nullptr);
  EXPECT_EQ(errno, ENOMEM);
  std::free(p); // untouched by the failed realloc
}

TEST(MallocShim, AlignedRequestsOfEveryPowerOfTwo) {
  for (std::size_t alignment = 1; alignment <= (std::size_t{64} << 20); alignment <<= 1) {
    for (std::size_t size : {std::size_t{1}, alignment / 2 + 1, alignment, alignment * 3}) {
      void* p = aligned_alloc(alignment, size);
      ASSERT_NE(p, nullptr) << alignment << " " << size;
      EXPECT_TRUE(aligned(p, alignment)) << alignment << " " << size << " at " << p;
      EXPECT_TRUE(aligned(p, alignof(std::max_align_t)));
      EXPECT_GE(malloc_usable_size(p), size);
      std::memset(p, 0xab, size);
      std::free(p);
      void* q = nullptr;
      if (alignment >= sizeof(void*)) {
        ASSERT_EQ(posix_memalign(&q, alignment, size), 0);
        EXPECT_TRUE(aligned(q, alignment));
        std::free(q);
      }
      q = memalign(alignment, size);
      ASSERT_NE(q, nullptr);
      EXPECT_TRUE(aligned(q, alignment));
      std::free(q);
    }
  }
  void* q = nullptr;
  EXPECT_EQ(posix_memalign(&q, 24, 8), EINVAL);
  EXPECT_EQ(posix_memalign(&q, 4, 8), EINVAL);
  errno = 0;
  EXPECT_EQ(aligned_alloc(48, 96), nullptr);
  EXPECT_EQ(errno, EINVAL);
  const auto page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  void* v = valloc(10);
  void* pv = pvalloc(page + 1);
  EXPECT_TRUE(aligned(v, page));
  EXPECT_TRUE(aligned(pv, page));
  EXPECT_GE(malloc_usable_size(pv), 2 * page);
  std::free(v);
  std::free(pv);
}

TEST(MallocShim, CallocZeroesReusedMemory) {
  for (std::size_t size : boundary_sizes()) {
    void* dirty = std::malloc(size);
    ASSERT_NE(dirty, nullptr);
    std::memset(dirty, 0xff, size);
    std::free(dirty);
    auto* p = static_cast<unsigned char*>(std::calloc(1, size));
    ASSERT_NE(p, nullptr);
    for (std::size_t i = 0; i < size; ++i)
      ASSERT_EQ(p[i], 0) << size << " byte " << i;
    std::free(p);
  }
}

TEST(MallocShim, ReallocKeepsTheContentsAcrossClassesAndPaths) {
  const std::vector<std::size_t> sizes = boundary_sizes();
  void* p = nullptr;
  std::size_t held = 0;
  unsigned seed = 7;
  // Up through every class into the huge path, then back down.
  for (int pass = 0; pass < 2; ++pass) {
    for (std::size_t i = 0; i < sizes.size(); ++i) {
      const std::size_t size = pass == 0 ? sizes[i] : sizes[sizes.size() - 1 - i];
      if (size == 0)
        continue;
      void* q = std::realloc(p, size);
      ASSERT_NE(q, nullptr) << size;
      EXPECT_TRUE(aligned(q, alignof(std::max_align_t)));
      EXPECT_TRUE(intact(q, held < size ? held : size, seed)) << held << " -> " << size;
      EXPECT_GE(malloc_usable_size(q), size);
      fill(q, size, ++seed);
      p = q;
      held = size;
    }
  }
  EXPECT_EQ(std::realloc(p, 0), nullptr); // glibc: frees, returns NULL
}

TEST(MallocShim, TheHeapGrowsPastOneArena) {
  // The arenas are 8 MiB (KMALLOC_OPTIONS in shim.cmake); 64 MiB of live objects needs many.
  std::vector<void*> live;
  for (unsigned i = 0; i < 16384; ++i) {
    void* p = std::malloc(4096);
    ASSERT_NE(p, nullptr) << i;
    fill(p, 64, i);
    live.push_back(p);
  }
  for (unsigned i = 0; i < live.size(); ++i) {
    ASSERT_TRUE(intact(live[i], 64, i)) << i;
    std::free(live[i]);
  }
}

TEST(MallocShim, OperatorNewCallsTheNewHandlerThenThrows) {
  static int calls = 0;
  calls = 0;
  std::set_new_handler([] {
    if (++calls == 3)
      std::set_new_handler(nullptr);
  });
  EXPECT_THROW((void)::operator new(SIZE_MAX - 4096), std::bad_alloc);
  EXPECT_EQ(calls, 3);
  EXPECT_EQ(::operator new(SIZE_MAX - 4096, std::nothrow), nullptr);
  EXPECT_THROW((void)::operator new[](SIZE_MAX - 4096, std::align_val_t{64}), std::bad_alloc);
  struct alignas(256) Wide {
    char bytes[256];
  };
  auto* w = new Wide[3];
  EXPECT_TRUE(aligned(w, 256));
  delete[] w;
  auto* s = new std::string(1000, 'x');
  delete s;
  void* sized = ::operator new(100);
  ::operator delete(sized, 100);
  void* al = ::operator new (100, std::align_val_t{4096});
  EXPECT_TRUE(aligned(al, 4096));
  ::operator delete (al, 100, std::align_val_t{4096});
}

TEST(MallocShim, ThreadsAllocateAndFreeEachOthersObjects) {
  constexpr unsigned kThreads = 4, kRounds = 20000;
  std::vector<void*> handoff(kThreads * kRounds);
  std::vector<std::thread> threads;
  for (unsigned t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      for (unsigned i = 0; i < kRounds; ++i) {
        const std::size_t size = 8 + (i * 37 + t * 101) % 3000;
        void* p = std::malloc(size);
        fill(p, 16, i);
        handoff[t * kRounds + i] = p;
        void* q = std::malloc(size);
        std::free(q);
      }
    });
  for (auto& th : threads)
    th.join();
  threads.clear();
  for (unsigned t = 0; t < kThreads; ++t) // each thread frees another thread's objects
    threads.emplace_back([&, t] {
      const unsigned other = (t + 1) % kThreads;
      for (unsigned i = 0; i < kRounds; ++i) {
        void* p = handoff[other * kRounds + i];
        if (!intact(p, 16, i))
          std::abort();
        std::free(p);
      }
    });
  for (auto& th : threads)
    th.join();
}

TEST(MallocShim, ForkedChildOfAThreadedParentAllocates) {
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (unsigned t = 0; t < 2; ++t)
    threads.emplace_back([&] {
      while (!stop.load()) {
        void* p = std::malloc(200);
        void* q = std::malloc(9000);
        std::free(p);
        std::free(q);
      }
    });
  for (int i = 0; i < 10; ++i) {
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      alarm(10);
      for (int j = 0; j < 1000; ++j)
        std::free(std::malloc(static_cast<std::size_t>(j) * 13));
      _exit(0);
    }
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  }
  stop = true;
  for (auto& th : threads)
    th.join();
}

TEST(MallocShimDeathTest, AnInvalidFreeIsReportedAndAborts) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  static char not_from_malloc[64];
  EXPECT_DEATH(std::free(not_from_malloc + 16), "free\\(\\): invalid pointer");
  void* volatile p = std::malloc(64); // volatile: the compiler may not drop the pair
  std::free(p);
  EXPECT_DEATH(std::free(p), "Object already free");
}

} // namespace
