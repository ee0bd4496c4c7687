// fringe/stack/stack_pool.h
//
// `StackPool`: guarded stacks that are cheap to create and cheap to keep.
// `Acquire()` hands out a `PooledStack` (a guarded `Stack`, like `OsStack`);
// destroying it returns the memory to the pool, and the next `Acquire()` gets
// the most recently returned stack back, still warm in cache and page tables.
// In the steady state neither Acquire nor release makes a system call. Safe to
// use from any number of threads.
//
//   absl::StatusOr<fringe::StackPool> pool =
//       fringe::StackPool::Create(16 * 1024, /*max_cached=*/64);
//   if (!pool.ok()) return pool.status();
//   for (const Request& request : requests) {
//     absl::StatusOr<fringe::PooledStack> stack = pool->Acquire();
//     if (!stack.ok()) return stack.status();
//     fringe::Generator<void, Reply, fringe::PooledStack> gen(
//         *std::move(stack), [&](auto& yielder) { Serve(request, yielder); });
//     ...
//   }
//
// Scale: stacks are carved out of large mappings ("slabs") of up to 256
// stacks, each stack with a guard (`kDefaultGuardSize` bytes unless asked
// otherwise, see stack.h) directly below its limit(). On Linux 6.13 and later
// the guards are installed with madvise(MADV_GUARD_INSTALL), which costs no
// extra kernel mapping, so a pool can hold hundreds of thousands of live
// stacks while a process is limited to vm.max_map_count (65530 by default)
// mappings. Older kernels get the guards from mprotect(PROT_NONE), which
// splits each slab into two mappings per stack, like OsStack. Either way a
// guard costs address space, not memory.
//
// Lifetime: every PooledStack keeps the pool's state alive, so stacks may
// outlive the StackPool object that handed them out; the memory is unmapped
// when the pool and all its stacks are gone. (The count of live stacks is
// kept under the pool's lock, which acquire and release take anyway, so the
// ownership costs no atomic operation of its own.)

#ifndef FRINGE_STACK_STACK_POOL_H_
#define FRINGE_STACK_STACK_POOL_H_

#include <cstddef>
#include <utility>

#include "absl/status/statusor.h"
#include "fringe/stack/stack.h"
#if defined(_WIN32)
#include "fringe/stack/internal/fiber_stack.h"
#endif

namespace fringe {
namespace stack_internal {
struct PoolState;
struct Slab;
}  // namespace stack_internal

// A stack from a StackPool; going out of scope gives it back.
class PooledStack {
 public:
  // Move-only. A moved-from PooledStack holds nothing: base() and limit() are
  // null, size() is 0, and destroying it returns nothing to the pool.
  PooledStack(PooledStack&& other) noexcept;
  PooledStack& operator=(PooledStack&& other) noexcept;
  PooledStack(const PooledStack&) = delete;
  PooledStack& operator=(const PooledStack&) = delete;
  ~PooledStack();

  void* base() const { return limit_ == nullptr ? nullptr : limit_ + size_; }
  void* limit() const { return limit_; }
  // Usable bytes: base() - limit(), the pool's stack size.
  std::size_t size() const { return size_; }

 private:
  friend class StackPool;
  PooledStack(stack_internal::PoolState* pool, stack_internal::Slab* slab,
              std::byte* limit, std::size_t size)
      : pool_(pool), slab_(slab), limit_(limit), size_(size) {}
  void Release();

  stack_internal::PoolState* pool_ = nullptr;  // Alive while we are.
  stack_internal::Slab* slab_ = nullptr;
  std::byte* limit_ = nullptr;
  std::size_t size_ = 0;

#if defined(_WIN32)
  // Windows: a pooled stack is a fiber's, and the pool keeps the fiber
  // (README, "Windows"): reusing one costs no system call. For
  // fringe::Generator.
 public:
  stack_internal::FiberStack* fiber() const { return fiber_; }

 private:
  stack_internal::FiberStack* fiber_ = nullptr;
#endif
};

template <>
inline constexpr bool kIsGuardedStack<PooledStack> = true;

static_assert(Stack<PooledStack>);

class StackPool {
 public:
  // A pool of stacks with `stack_size` usable bytes each (rounded up to whole
  // pages), keeping up to `max_cached` released stacks warm for reuse; memory
  // of stacks released beyond that is given back to the system
  // (MADV_DONTNEED) while the address range stays reserved for later
  // Acquire()s. Each stack has `guard_size` bytes of guard below it, rounded
  // up to whole pages. Maps the first slab right away, so errors show up
  // here, as for OsStack::Create:
  //   InvalidArgumentError   `stack_size` or `guard_size` is 0, or their sum
  //                          overflows once rounded.
  //   ResourceExhaustedError mmap or a guard's madvise/mprotect failed
  //                          (vm.max_map_count named when it is the likely
  //                          cause).
  static absl::StatusOr<StackPool> Create(
      std::size_t stack_size, std::size_t max_cached,
      std::size_t guard_size = kDefaultGuardSize);

  // Movable; a moved-from pool may only be destroyed or assigned to (Acquire
  // on it returns FailedPreconditionError). Stacks already handed out are
  // unaffected by either.
  StackPool(StackPool&& other) noexcept
      : state_(std::exchange(other.state_, nullptr)) {}
  StackPool& operator=(StackPool&& other) noexcept;
  ~StackPool();

  // The most recently released stack if one is cached, else a fresh one
  // (mapping a new slab when all are in use). Errors as for Create.
  absl::StatusOr<PooledStack> Acquire();

  // Usable bytes of every stack of this pool.
  std::size_t stack_size() const;
  // Released stacks currently kept warm (at most max_cached).
  std::size_t NumCached() const;

  // Whether this kernel supports MADV_GUARD_INSTALL, i.e. whether guards
  // cost no kernel mapping (for OsStack too). Probed once per process.
  static bool GuardPagesAreMappingFree();

 private:
  explicit StackPool(stack_internal::PoolState* state) : state_(state) {}

  // Owned together with the live stacks; freed by whichever goes last.
  stack_internal::PoolState* state_ = nullptr;
};

}  // namespace fringe

#endif  // FRINGE_STACK_STACK_POOL_H_
