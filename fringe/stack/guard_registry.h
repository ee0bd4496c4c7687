// fringe/stack/guard_registry.h
//
// A process-wide registry of guarded stacks: which address ranges are guards
// (of any size: fringe's are kDefaultGuardSize bytes, see stack.h), and which
// stack each one guards. Allocators register their memory
// when they map it (`OsStack` one stack at a time, `StackPool` one slab of
// equally spaced stacks at a time) and unregister it before unmapping it. A
// SIGSEGV handler can then tell a stack overflow from any other crash with
// `FindGuard()`, which takes no lock and allocates nothing, so it is safe to
// call from a signal handler (fringe/debug/stack_overflow.h does exactly that).
//
//   // A custom guarded stack: [guard][usable bytes], lowest first.
//   fringe::RegisterGuard(mapping, guard_size, usable_size);
//   ...
//   fringe::UnregisterGuard(mapping);  // Before munmap(mapping, ...).
//
//   // In a signal handler:
//   if (std::optional<fringe::GuardedStack> s = fringe::FindGuard(addr)) {
//     // `addr` is in the guard below [s->limit, s->base), however deep.
//   }
//
// Cost: registering and unregistering is a hash of the address plus one
// compare-and-swap and one release store in the common case, with no lock;
// the table grows (under a mutex, by mmap) only when full, and is never
// shrunk, so a lock-free reader can never see freed memory. FindGuard() scans
// every slot, which is fine for the once-per-process crash report it serves
// and the reason it is not meant for hot paths.

#ifndef FRINGE_STACK_GUARD_REGISTRY_H_
#define FRINGE_STACK_GUARD_REGISTRY_H_

#include <cstddef>
#include <optional>

namespace fringe {

// A registered stack whose guard contains a given address: the usable
// bytes are [limit, base), growing down from base; the guard lies just below
// limit.
struct GuardedStack {
  void* limit;
  void* base;
  std::size_t size;  // base - limit.
};

// Registers `count` stacks laid out back to back from `begin`, each as
// `guard_size` guard bytes followed by `stride - guard_size` usable bytes
// (the StackPool slab layout). `begin` identifies the entry for
// UnregisterSlab() and must be unique among live registrations (it is, for
// memory the caller has mapped). Returns false when the table could not grow
// (mmap failed); the stacks then still work, they just go unreported.
// Requires guard_size < stride and count > 0.
bool RegisterSlab(void* begin, std::size_t stride, std::size_t count,
                  std::size_t guard_size);

// Forgets the entry registered at `begin`; call it before unmapping the
// memory, so that a later mapping at the same address is not mistaken for a
// guard. Does nothing if `begin` is not registered.
void UnregisterSlab(void* begin);

// One stack: `guard_size` guard bytes at `guard_begin`, directly below
// `stack_size` usable bytes (the OsStack layout).
inline bool RegisterGuard(void* guard_begin, std::size_t guard_size,
                          std::size_t stack_size) {
  return RegisterSlab(guard_begin, guard_size + stack_size, 1, guard_size);
}
inline void UnregisterGuard(void* guard_begin) { UnregisterSlab(guard_begin); }

// The registered stack whose guard contains `address`, if any. Lock-free and
// allocation-free: async-signal-safe. Racing with the registration of other
// entries is harmless; the caller must only make sure that the entry it cares
// about is not unregistered meanwhile (true for a stack that just faulted:
// its owner is the faulting code).
std::optional<GuardedStack> FindGuard(const void* address);

}  // namespace fringe

#endif  // FRINGE_STACK_GUARD_REGISTRY_H_
