// support/thread_annotations.h - Clang's thread-safety analysis attributes (-Wthread-safety),
// spelled as macros that vanish for other compilers. Every lock of the heap is a capability and
// every field it guards says so; clang builds fail on an access without the lock.
#pragma once

#if defined(__clang__)
#define KM_TSA(x) __attribute__((x))
#else
#define KM_TSA(x)
#endif

#define KM_CAPABILITY(name) KM_TSA(capability(name))
#define KM_SCOPED_CAPABILITY KM_TSA(scoped_lockable)
#define KM_GUARDED_BY(lock) KM_TSA(guarded_by(lock))
#define KM_REQUIRES(...) KM_TSA(requires_capability(__VA_ARGS__))
#define KM_ACQUIRE(...) KM_TSA(acquire_capability(__VA_ARGS__))
#define KM_RELEASE(...) KM_TSA(release_capability(__VA_ARGS__))
#define KM_EXCLUDES(...) KM_TSA(locks_excluded(__VA_ARGS__))
