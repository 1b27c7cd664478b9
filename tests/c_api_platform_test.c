/* c_api_platform_test.c - kmalloc_set_platform(): the embedder's locks and cpu identity, as
 * firmware would plug them in. Two "cpus" (threads that each say which cpu they are, as code with
 * preemption off would) allocate and free across each other through a spinlock of the test's
 * own; the fast path on a cpu's own slab takes none of its locks; a caller whose cpu is out of
 * range works on the shared slot; the hooks are refused once a heap exists. */
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "c_check.h"
#include "kmalloc/kmalloc.h"

struct spinlock {
  atomic_int taken;
};

static atomic_long lock_inits;
static atomic_long lock_calls;
static _Thread_local unsigned this_cpu;

static void spin_init(void* lock) {
  atomic_init(&((struct spinlock*)lock)->taken, 0);
  atomic_fetch_add(&lock_inits, 1);
}
static void spin_lock(void* lock) {
  struct spinlock* l = lock;
  while (atomic_exchange_explicit(&l->taken, 1, memory_order_acquire) != 0) {
  }
  atomic_fetch_add(&lock_calls, 1);
}
static void spin_unlock(void* lock) {
  atomic_store_explicit(&((struct spinlock*)lock)->taken, 0, memory_order_release);
}
static unsigned current_cpu(void) {
  return this_cpu;
}

enum { kObjects = 4000 };
static void* handoff[2][kObjects];

struct cpu_arg {
  unsigned cpu;
  int phase; /* 0: allocate into handoff[cpu]; 1: free handoff[1 - cpu] */
  int ok;
};

static void* run_cpu(void* p) {
  struct cpu_arg* a = p;
  this_cpu = a->cpu;
  a->ok = 1;
  for (int i = 0; i < kObjects; ++i) {
    if (a->phase == 0) {
      unsigned char* obj = kmalloc((size_t)(16 + i % 700), GFP_KERNEL);
      if (obj == NULL) {
        a->ok = 0;
        break;
      }
      obj[0] = (unsigned char)(a->cpu * 7 + (unsigned)i);
      handoff[a->cpu][i] = obj;
    } else {
      unsigned char* obj = handoff[1 - a->cpu][i];
      if (obj[0] != (unsigned char)((1 - a->cpu) * 7 + (unsigned)i))
        a->ok = 0;
      kfree(obj);
    }
  }
  return NULL;
}

static void run_phase(int phase) {
  pthread_t t[2];
  struct cpu_arg args[2] = {{0, phase, 0}, {1, phase, 0}};
  for (int c = 0; c < 2; ++c)
    pthread_create(&t[c], NULL, run_cpu, &args[c]);
  for (int c = 0; c < 2; ++c)
    pthread_join(t[c], NULL);
  CHECK(args[0].ok && args[1].ok);
}

int main(void) {
  struct kmalloc_platform partial;
  memset(&partial, 0, sizeof partial);
  partial.lock_init = spin_init;
  partial.lock = spin_lock; /* no unlock */
  CHECK(kmalloc_set_platform(&partial) == -22);

  struct kmalloc_platform platform = {spin_init, NULL, spin_lock, spin_unlock, current_cpu};
  CHECK(kmalloc_set_platform(&platform) == 0);
  CHECK(kmalloc_init("profile=linux-6,arena=16M,nr_cpus=2") == 0);
  CHECK(atomic_load(&lock_inits) >= 4); /* zone, slab_mutex, overflow and cache list locks */
  CHECK(kmalloc_set_platform(NULL) == -16);

  /* The fast path: on its own cpu slab a kmalloc+kfree pair takes no lock. */
  this_cpu = 0;
  kfree(kmalloc(64, GFP_KERNEL)); /* the first call refills cpu 0's slab under a lock */
  const long before = atomic_load(&lock_calls);
  for (int i = 0; i < 10000; ++i)
    kfree(kmalloc(64, GFP_KERNEL));
  CHECK(atomic_load(&lock_calls) == before);

  /* Two cpus: each allocates, then frees the other's objects (remote frees, under locks). */
  run_phase(0);
  run_phase(1);
  CHECK(atomic_load(&lock_calls) > before);

  /* A cpu out of range takes the shared slot, under its lock. */
  this_cpu = 9;
  const long shared_before = atomic_load(&lock_calls);
  void* p = kmalloc(200, GFP_KERNEL);
  CHECK(p != NULL);
  kfree(p);
  CHECK(atomic_load(&lock_calls) > shared_before);

  CHECK(kmalloc_validate() == 0);
  struct kmalloc_stats st;
  memset(&st, 0, sizeof st);
  st.size = sizeof st;
  CHECK(kmalloc_stats(&st) == 0);
  CHECK(st.reports == 0);
  printf("%d passed, %d failed\n", passed, failed);
  return failed != 0;
}
