// bench/thread_slot_bench.cpp - a measurement for the thread-safety design, not a test: what it
// costs a thread-safe kmalloc fast path to find "its" per-thread / per-CPU cache slot, and what the
// atomic operations it might then need cost. It asserts nothing and is not built by CMake; build
// and run it by hand (below) and read the medians.
//
//   BM_LoopBaseline              the empty benchmark loop (subtract it from the sub-ns rows)
//   BM_TlsInitialExec            load of a thread_local slot index, tls_model("initial-exec"), in
//                                the executable (the linker relaxes it to local-exec: one %fs load)
//   BM_PthreadGetspecific        pthread_getspecific of a key set in this thread
//   BM_SchedGetcpu               glibc sched_getcpu(): reads the rseq area when glibc registered
//                                it, else calls the vDSO getcpu
//   BM_SyscallGetcpu             raw syscall(SYS_getcpu): the floor when neither is available
//   BM_RseqCpuId                 struct rseq::cpu_id read through __builtin_thread_pointer() +
//                                __rseq_offset (glibc >= 2.35 registers the area; the context
//                                prints rseq_size, 0 when it did not, and the row is skipped)
//   BM_MutexPair<false>          pthread_mutex_lock + unlock, each thread its own mutex
//   BM_SpinPair<false>           __atomic_exchange_n acquire + __atomic_store_n release, own lock
//   BM_MutexPair/SpinPair<true>  the same on one lock shared by both threads (reference only)
//   .../after_threads            the 1-thread lock rows again once the process is multi-threaded
//                                (glibc skips the lock prefix in a never-threaded process)
//   BM_PlainRmw                  relaxed __atomic_load_n + __atomic_store_n (x | 1): no lock
//   BM_FetchOr<order, result>    __atomic_fetch_or(x, 1): result discarded compiles to `lock or`,
//                                result used to a `lock cmpxchg` loop
//   BM_Cas8, BM_Cas16            __sync_bool_compare_and_swap on 8 and 16 bytes (cmpxchg16b via
//                                unsigned __int128 and -mcx16), always succeeding
//   BM_GetterCall/exe_ie         BM_TlsInitialExec's load in a non-inlined call via a pointer
//   BM_GetterCall/exe_rseq_cpu   BM_RseqCpuId's read in the same kind of call
//   BM_GetterCall/lib_ie, lib_gd the TLS load in a shared library built -fPIC: initial-exec, and
//                                the default global-dynamic model, which calls __tls_get_addr
//                                (rows registered only when the library is loaded, see below)
// Lock and atomic rows run with 1 and 2 threads; Line::Same puts the two threads' words in one
// 64-byte cache line (false sharing), Line::Own 128 bytes apart. For /threads:2 rows Google
// Benchmark divides wall time by the thread count: per-thread latency is the CPU column (or 2 x
// Time).
//
// Build and run (one file, two roles: -DTHREAD_SLOT_BENCH_LIB builds the TLS library instead):
//   F="-O2 -std=c++20 -Wall -Wextra -Werror"; S=bench/thread_slot_bench.cpp; O=/tmp/slotbench
//   mkdir -p $O && clang++-14 $F -mcx16 $S -lbenchmark -lpthread -o $O/b
//   clang++-14 $F -fPIC -shared -DTHREAD_SLOT_BENCH_LIB $S -o $O/libslot.so
//   LD_PRELOAD=$O/libslot.so $O/b --benchmark_repetitions=5 --benchmark_report_aggregates_only
// THREAD_SLOT_BENCH_LIB=$O/libslot.so dlopens the library instead of preloading it. g++ works too;
// g++ -mtls-dialect=gnu2 builds the library with TLS descriptors instead of __tls_get_addr.
// GLIBC_TUNABLES=glibc.pthread.rseq=0 shows sched_getcpu without rseq. `nm -u $O/b | grep atomic`
// prints nothing: __sync on 16 bytes is inlined cmpxchg16b, no libatomic (g++'s __atomic_*_n on
// 16 bytes, by contrast, calls libatomic even with -mcx16).

#ifdef THREAD_SLOT_BENCH_LIB

// The library role: two thread_local slots and their getters. Under -fPIC a default-visibility
// variable gets the global-dynamic model (a __tls_get_addr call, or a TLS descriptor call with
// -mtls-dialect=gnu2); the other one asks for initial-exec (a GOT load plus one %fs load, but the
// library must then be loaded at startup - linked or LD_PRELOADed - or fit the static TLS surplus).
extern "C" {
__attribute__((visibility("default"))) constinit thread_local unsigned thread_slot_lib_gd_var = 1;
__attribute__((visibility("default"),
               tls_model("initial-exec"))) constinit thread_local unsigned thread_slot_lib_ie_var =
    2;
__attribute__((visibility("default"))) unsigned thread_slot_lib_gd() {
  return thread_slot_lib_gd_var;
}
__attribute__((visibility("default"))) unsigned thread_slot_lib_ie() {
  return thread_slot_lib_ie_var;
}
}

#else // the benchmark program

#include <benchmark/benchmark.h>

#include <dlfcn.h>
#include <pthread.h>
#include <sched.h>
#include <sys/rseq.h>
#include <sys/single_threaded.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

namespace {

// --- slot lookup ---------------------------------------------------------------------------------

__attribute__((tls_model("initial-exec"))) constinit thread_local unsigned tls_slot = 7;

using Getter = unsigned (*)();

void BM_LoopBaseline(benchmark::State& state) {
  unsigned v = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(v);
  }
}

// Each benchmark stores the slot first: a never-written internal variable would be folded to 7.
void set_tls_slot(const benchmark::State& state) {
  tls_slot = static_cast<unsigned>(state.thread_index()) + 1;
  unsigned* escaped = &tls_slot;
  benchmark::DoNotOptimize(escaped);
}

void BM_TlsInitialExec(benchmark::State& state) {
  set_tls_slot(state);
  for (auto _ : state) {
    unsigned slot = tls_slot; // DoNotOptimize's memory clobber forces a reload every iteration
    benchmark::DoNotOptimize(slot);
  }
}

void BM_GetterCall(benchmark::State& state, Getter getter) {
  set_tls_slot(state);
  benchmark::DoNotOptimize(getter); // the compiler no longer knows the target: a real call
  for (auto _ : state) {
    unsigned slot = getter();
    benchmark::DoNotOptimize(slot);
  }
}

pthread_key_t g_key;
int g_key_value = 0;

void BM_PthreadGetspecific(benchmark::State& state) {
  if (pthread_getspecific(g_key) == nullptr)
    pthread_setspecific(g_key, &g_key_value);
  for (auto _ : state) {
    void* slot = pthread_getspecific(g_key);
    benchmark::DoNotOptimize(slot);
  }
}

void BM_SchedGetcpu(benchmark::State& state) {
  for (auto _ : state) {
    int cpu = sched_getcpu();
    benchmark::DoNotOptimize(cpu);
  }
}

void BM_SyscallGetcpu(benchmark::State& state) {
  for (auto _ : state) {
    unsigned cpu = 0;
    syscall(SYS_getcpu, &cpu, nullptr, nullptr);
    benchmark::DoNotOptimize(cpu);
  }
}

inline const volatile struct rseq* rseq_area() {
  return reinterpret_cast<const volatile struct rseq*>(
      static_cast<const char*>(__builtin_thread_pointer()) + __rseq_offset);
}

void BM_RseqCpuId(benchmark::State& state) {
  if (__rseq_size == 0) {
    state.SkipWithError("glibc did not register rseq (__rseq_size == 0)");
    return;
  }
  for (auto _ : state) {
    unsigned cpu = rseq_area()->cpu_id; // volatile: the kernel rewrites it on migration
    benchmark::DoNotOptimize(cpu);
  }
}

__attribute__((noinline)) unsigned exe_ie_getter() {
  return tls_slot;
}
__attribute__((noinline)) unsigned exe_rseq_cpu_getter() {
  return rseq_area()->cpu_id;
}

// --- locks ---------------------------------------------------------------------------------------

struct alignas(128) PaddedMutex {
  pthread_mutex_t mutex = PTHREAD_MUTEX_INITIALIZER;
};
struct alignas(128) PaddedSpin {
  int locked = 0;
};

PaddedMutex g_mutexes[2];
PaddedSpin g_spins[2];

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

inline void spin_lock(int* lock) {
  while (__atomic_exchange_n(lock, 1, __ATOMIC_ACQUIRE) != 0) {
    while (__atomic_load_n(lock, __ATOMIC_RELAXED) != 0)
      cpu_relax();
  }
}

inline void spin_unlock(int* lock) {
  __atomic_store_n(lock, 0, __ATOMIC_RELEASE);
}

// glibc >= 2.34 takes a default mutex without a lock prefix while the process has never had a
// second thread (__libc_single_threaded); the label says which case a row measured.
void label_process(benchmark::State& state) {
  state.SetLabel(__libc_single_threaded ? "single-threaded process" : "multi-threaded process");
}

template <bool Shared> void BM_MutexPair(benchmark::State& state) {
  label_process(state);
  pthread_mutex_t* m = &g_mutexes[Shared ? 0 : state.thread_index() % 2].mutex;
  for (auto _ : state) {
    pthread_mutex_lock(m);
    benchmark::ClobberMemory();
    pthread_mutex_unlock(m);
  }
}

template <bool Shared> void BM_SpinPair(benchmark::State& state) {
  label_process(state);
  int* lock = &g_spins[Shared ? 0 : state.thread_index() % 2].locked;
  for (auto _ : state) {
    spin_lock(lock);
    benchmark::ClobberMemory();
    spin_unlock(lock);
  }
}

// --- atomics on a word owned by one thread -------------------------------------------------------

enum class Line { Own, Same };

alignas(128) std::uint64_t g_words[64];
alignas(128) std::uint64_t g_cas8[64];
#ifdef __GCC_HAVE_SYNC_COMPARE_AND_SWAP_16
alignas(128) unsigned __int128 g_cas16[32];
#endif

// Own: 128 bytes apart (two lines, clear of the adjacent-line prefetcher); Same: adjacent words.
template <Line L> std::size_t word_index(const benchmark::State& state, std::size_t per_line) {
  return L == Line::Same ? static_cast<std::size_t>(state.thread_index())
                         : static_cast<std::size_t>(state.thread_index()) * 2 * per_line;
}

template <Line L> void BM_PlainRmw(benchmark::State& state) {
  std::uint64_t* w = &g_words[word_index<L>(state, 8)];
  for (auto _ : state) {
    std::uint64_t v = __atomic_load_n(w, __ATOMIC_RELAXED);
    __atomic_store_n(w, v | 1, __ATOMIC_RELAXED);
  }
}

template <int Order, bool UseResult, Line L> void BM_FetchOr(benchmark::State& state) {
  std::uint64_t* w = &g_words[word_index<L>(state, 8)];
  for (auto _ : state) {
    if constexpr (UseResult) {
      std::uint64_t old = __atomic_fetch_or(w, 1, Order);
      benchmark::DoNotOptimize(old);
    } else {
      __atomic_fetch_or(w, 1, Order);
    }
  }
}

template <Line L> void BM_Cas8(benchmark::State& state) {
  std::uint64_t* w = &g_cas8[word_index<L>(state, 8)];
  std::uint64_t expected = __atomic_load_n(w, __ATOMIC_RELAXED);
  for (auto _ : state) {
    bool ok = __sync_bool_compare_and_swap(w, expected, expected + 1);
    benchmark::DoNotOptimize(ok);
    ++expected;
  }
}

#ifdef __GCC_HAVE_SYNC_COMPARE_AND_SWAP_16
template <Line L> void BM_Cas16(benchmark::State& state) {
  unsigned __int128* w = &g_cas16[word_index<L>(state, 4)];
  unsigned __int128 expected = *w; // only this thread writes *w
  for (auto _ : state) {
    bool ok = __sync_bool_compare_and_swap(w, expected, expected + 1);
    benchmark::DoNotOptimize(ok);
    ++expected;
  }
}
#endif

constexpr int kSeqCst = __ATOMIC_SEQ_CST;
constexpr int kRelaxed = __ATOMIC_RELAXED;

} // namespace

BENCHMARK(BM_LoopBaseline);
BENCHMARK(BM_TlsInitialExec);
BENCHMARK(BM_PthreadGetspecific);
BENCHMARK(BM_SchedGetcpu);
BENCHMARK(BM_SyscallGetcpu);
BENCHMARK(BM_RseqCpuId);

BENCHMARK(BM_MutexPair<false>)->Threads(1)->Threads(2);
BENCHMARK(BM_SpinPair<false>)->Threads(1)->Threads(2);
BENCHMARK(BM_MutexPair<true>)->Threads(2);
BENCHMARK(BM_SpinPair<true>)->Threads(2);

BENCHMARK(BM_PlainRmw<Line::Own>)->Threads(1)->Threads(2);
BENCHMARK(BM_PlainRmw<Line::Same>)->Threads(2);
BENCHMARK(BM_FetchOr<kSeqCst, false, Line::Own>)->Threads(1)->Threads(2);
BENCHMARK(BM_FetchOr<kSeqCst, false, Line::Same>)->Threads(2);
BENCHMARK(BM_FetchOr<kRelaxed, false, Line::Own>)->Threads(1)->Threads(2);
BENCHMARK(BM_FetchOr<kRelaxed, false, Line::Same>)->Threads(2);
BENCHMARK(BM_FetchOr<kSeqCst, true, Line::Own>)->Threads(1)->Threads(2);
BENCHMARK(BM_FetchOr<kSeqCst, true, Line::Same>)->Threads(2);
BENCHMARK(BM_Cas8<Line::Own>)->Threads(1)->Threads(2);
BENCHMARK(BM_Cas8<Line::Same>)->Threads(2);
#ifdef __GCC_HAVE_SYNC_COMPARE_AND_SWAP_16
BENCHMARK(BM_Cas16<Line::Own>)->Threads(1)->Threads(2);
BENCHMARK(BM_Cas16<Line::Same>)->Threads(2);
#endif

int main(int argc, char** argv) {
  pthread_key_create(&g_key, nullptr);

  // The TLS library: already there if LD_PRELOADed (its TLS is then in the static block), else
  // dlopen THREAD_SLOT_BENCH_LIB if set.
  std::string lib_status = "not loaded (LD_PRELOAD it or set THREAD_SLOT_BENCH_LIB)";
  void* handle = RTLD_DEFAULT; // a null pointer: look in the global scope
  bool have_lib = dlsym(RTLD_DEFAULT, "thread_slot_lib_gd") != nullptr;
  if (have_lib) {
    lib_status = "preloaded or linked";
  } else if (const char* path = std::getenv("THREAD_SLOT_BENCH_LIB")) {
    handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    have_lib = handle != nullptr;
    lib_status =
        have_lib ? std::string("dlopened ") + path : std::string("dlopen failed: ") + dlerror();
  }
  benchmark::RegisterBenchmark("BM_GetterCall/exe_ie", BM_GetterCall, &exe_ie_getter);
  if (__rseq_size > 0)
    benchmark::RegisterBenchmark("BM_GetterCall/exe_rseq_cpu", BM_GetterCall, &exe_rseq_cpu_getter);
  if (have_lib) {
    auto ie = reinterpret_cast<Getter>(dlsym(handle, "thread_slot_lib_ie"));
    auto gd = reinterpret_cast<Getter>(dlsym(handle, "thread_slot_lib_gd"));
    if (ie != nullptr && gd != nullptr) {
      benchmark::RegisterBenchmark("BM_GetterCall/lib_ie", BM_GetterCall, ie);
      benchmark::RegisterBenchmark("BM_GetterCall/lib_gd", BM_GetterCall, gd);
    }
  }

  // Registered here, these run after every BENCHMARK() above, so after /threads:2 rows have made
  // the process multi-threaded: the uncontended cost a thread-safe allocator really pays.
  benchmark::RegisterBenchmark("BM_MutexPair<false>/after_threads", BM_MutexPair<false>);
  benchmark::RegisterBenchmark("BM_SpinPair<false>/after_threads", BM_SpinPair<false>);

  benchmark::AddCustomContext("tls_lib", lib_status);
  benchmark::AddCustomContext("rseq_size", std::to_string(__rseq_size));
  benchmark::AddCustomContext("rseq_offset", std::to_string(__rseq_offset));
  benchmark::AddCustomContext("rseq_flags", std::to_string(__rseq_flags));
  if (__rseq_size > 0) {
    benchmark::AddCustomContext("rseq_cpu_id/sched_getcpu",
                                std::to_string(static_cast<int>(rseq_area()->cpu_id)) + "/" +
                                    std::to_string(sched_getcpu()));
  }
#ifdef __GCC_HAVE_SYNC_COMPARE_AND_SWAP_16
  benchmark::AddCustomContext("cas16", "inline cmpxchg16b");
#else
  benchmark::AddCustomContext("cas16", "not built (compile with -mcx16)");
#endif

  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv))
    return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

#endif // THREAD_SLOT_BENCH_LIB
