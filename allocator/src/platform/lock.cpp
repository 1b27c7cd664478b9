// platform/lock.cpp - POSIX threads implementation of platform/lock.h.
#include "platform/lock.h"

#include <pthread.h>

#include <new>

namespace km::platform {

namespace {

pthread_mutex_t* mutex_of(unsigned char* storage) {
  return reinterpret_cast<pthread_mutex_t*>(storage);
}

// The registered fork hooks, newest last; g_fork_mutex guards the list and is held from prepare
// to parent/child, so no hook is added or removed across a fork.
pthread_mutex_t g_fork_mutex = PTHREAD_MUTEX_INITIALIZER;
pthread_once_t g_fork_once = PTHREAD_ONCE_INIT;
ForkHook* g_first_hook = nullptr;
ForkHook* g_last_hook = nullptr;

void fork_prepare() {
  pthread_mutex_lock(&g_fork_mutex);
  for (ForkHook* h = g_first_hook; h != nullptr; h = h->next)
    h->prepare(h->context);
}

void fork_parent() {
  for (ForkHook* h = g_last_hook; h != nullptr; h = h->prev)
    h->parent(h->context);
  pthread_mutex_unlock(&g_fork_mutex);
}

void fork_child() {
  for (ForkHook* h = g_last_hook; h != nullptr; h = h->prev)
    h->child(h->context);
  pthread_mutex_unlock(&g_fork_mutex);
}

void install_fork_handlers() {
  pthread_atfork(&fork_prepare, &fork_parent, &fork_child);
}

} // namespace

void add_fork_hook(ForkHook* hook) {
  pthread_once(&g_fork_once, &install_fork_handlers);
  pthread_mutex_lock(&g_fork_mutex);
  hook->next = nullptr;
  hook->prev = g_last_hook;
  (g_last_hook != nullptr ? g_last_hook->next : g_first_hook) = hook;
  g_last_hook = hook;
  pthread_mutex_unlock(&g_fork_mutex);
}

void remove_fork_hook(ForkHook* hook) {
  pthread_mutex_lock(&g_fork_mutex);
  (hook->prev != nullptr ? hook->prev->next : g_first_hook) = hook->next;
  (hook->next != nullptr ? hook->next->prev : g_last_hook) = hook->prev;
  hook->next = hook->prev = nullptr;
  pthread_mutex_unlock(&g_fork_mutex);
}

static_assert(sizeof(pthread_mutex_t) <= 64 && alignof(pthread_mutex_t) <= 16);
static_assert(sizeof(pthread_key_t) <= sizeof(unsigned));

PlatformHooks platform_hooks __attribute__((visibility("hidden")));

namespace {
unsigned long long g_last_heap_id = 0;
} // namespace

bool set_platform_hooks(const PlatformHooks& hooks) {
  if (__atomic_load_n(&g_last_heap_id, __ATOMIC_ACQUIRE) != 0)
    return false;
  platform_hooks = hooks;
  return true;
}

void Lock::init() {
  if (platform_hooks.lock_init != nullptr) {
    platform_hooks.lock_init(storage_);
    return;
  }
  new (storage_) pthread_mutex_t;
#if defined(__GLIBC__)
  // The heap's critical sections are short (a list change, a slab freeze), as under the
  // kernel's spinlocks: an adaptive mutex spins a little on a contended lock before it sleeps,
  // where a plain one enters the kernel at once (a futex wait and wake per contended call).
  pthread_mutexattr_t attr;
  pthread_mutexattr_init(&attr);
  pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_ADAPTIVE_NP);
  pthread_mutex_init(mutex_of(storage_), &attr);
  pthread_mutexattr_destroy(&attr);
#else
  pthread_mutex_init(mutex_of(storage_), nullptr);
#endif
}

void Lock::destroy() {
  if (platform_hooks.lock_destroy != nullptr)
    platform_hooks.lock_destroy(storage_);
  else if (platform_hooks.lock_init == nullptr)
    pthread_mutex_destroy(mutex_of(storage_));
}

void Lock::lock() {
  if (platform_hooks.lock != nullptr)
    platform_hooks.lock(storage_);
  else
    pthread_mutex_lock(mutex_of(storage_));
}

void Lock::unlock() {
  if (platform_hooks.unlock != nullptr)
    platform_hooks.unlock(storage_);
  else
    pthread_mutex_unlock(mutex_of(storage_));
}

ThreadKey create_thread_key(void (*on_exit)(void* value)) {
  pthread_key_t key;
  if (pthread_key_create(&key, on_exit) != 0)
    return ThreadKey{};
  return ThreadKey{static_cast<unsigned>(key), true};
}

void delete_thread_key(ThreadKey key) {
  if (key.ok)
    pthread_key_delete(static_cast<pthread_key_t>(key.id));
}

void* thread_value(ThreadKey key) {
  return key.ok ? pthread_getspecific(static_cast<pthread_key_t>(key.id)) : nullptr;
}

__thread ThreadSlot this_thread_slot
    __attribute__((tls_model("initial-exec"), visibility("hidden"))) = {0, 0};

unsigned long long next_heap_id() {
  return __atomic_add_fetch(&g_last_heap_id, 1, __ATOMIC_ACQ_REL);
}

void set_thread_value(ThreadKey key, void* value) {
  if (key.ok)
    pthread_setspecific(static_cast<pthread_key_t>(key.id), value);
}

} // namespace km::platform
