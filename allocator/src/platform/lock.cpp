// platform/lock.cpp - POSIX threads implementation of platform/lock.h.
#include "platform/lock.h"

#include <pthread.h>

#include <new>

namespace km::platform {

namespace {

pthread_mutex_t* mutex_of(unsigned char* storage) {
  return reinterpret_cast<pthread_mutex_t*>(storage);
}

} // namespace

static_assert(sizeof(pthread_mutex_t) <= 64 && alignof(pthread_mutex_t) <= 16);
static_assert(sizeof(pthread_key_t) <= sizeof(unsigned));

void Lock::init() {
  new (storage_) pthread_mutex_t;
  pthread_mutex_init(mutex_of(storage_), nullptr);
}

void Lock::destroy() {
  pthread_mutex_destroy(mutex_of(storage_));
}

void Lock::lock() {
  pthread_mutex_lock(mutex_of(storage_));
}

void Lock::unlock() {
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
  static unsigned long long last = 0;
  return __atomic_add_fetch(&last, 1, __ATOMIC_RELAXED);
}

void set_thread_value(ThreadKey key, void* value) {
  if (key.ok)
    pthread_setspecific(static_cast<pthread_key_t>(key.id), value);
}

} // namespace km::platform
