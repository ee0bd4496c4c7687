// fringe/stack/stack_pool.h
//
// `StackPool`: guarded stacks that are cheap to create and cheap to keep.
// `Acquire()` hands out a `PooledStack` (a guarded `Stack`, like `OsStack`);
// destroying it returns the memory to the pool, and the next `Acquire()` gets
// the most recently returned stack back, still warm in cache and page tables.
// In the steady state neither Acquire nor release makes a system call, and
// on a thread that acquires and releases in turn neither takes a lock either
// (see "Per-thread caches" below). Safe to use from any number of threads.
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
// Per-thread caches: each thread keeps the stacks it releases in a small
// cache of its own per pool (a "magazine" of up to kMaxCachedPerThread
// stacks, fewer if max_cached is smaller, none if it is 0), and Acquire()
// takes from the calling thread's cache first, most recently released first.
// So a thread that acquires and releases in turn takes no lock, makes no
// atomic read-modify-write and no system call. Only an empty cache (Acquire)
// or a full one (release) takes the pool's lock, and then moves half a cache
// from or to the pool's shared list at once. A stack may be released on any
// thread: it goes to the releasing thread's cache. A thread caches the stacks
// of up to 4 pools at a time; a further pool's stacks displace another
// pool's, which go back to that pool's shared list.
//
// Lifetime: every PooledStack keeps the pool's state alive, so stacks may
// outlive the StackPool object that handed them out; the memory is unmapped
// when the pool and all its stacks are gone. Stacks in a thread's cache
// count as stacks too, until they go back to the shared list: when their
// thread exits; and once the StackPool object is destroyed, at once for the
// destroying thread's cache and, for any other thread's, when that thread
// next acquires or releases a stack of any pool, or exits. A thread that
// does neither keeps its cached stacks of a destroyed pool, and so the
// pool's memory, mapped. (The count of stacks is kept under the pool's lock,
// which the slow paths take anyway, so the ownership costs no atomic
// operation of its own.)

#ifndef FRINGE_STACK_STACK_POOL_H_
#define FRINGE_STACK_STACK_POOL_H_

#include <cstddef>
#include <utility>

#include "absl/status/statusor.h"
#include "fringe/stack/internal/magazine.h"
#include "fringe/stack/stack.h"
#if defined(_WIN32)
#include "fringe/stack/internal/fiber_stack.h"
#endif

namespace fringe {

// A stack from a StackPool; going out of scope gives it back.
class PooledStack {
 public:
  // Move-only. A moved-from PooledStack holds nothing: base() and limit() are
  // null, size() is 0, and destroying it returns nothing to the pool.
  // Inline, as OsStack's (os_stack.h): a generator moves its stack four
  // times.
  PooledStack(PooledStack&& other) noexcept { TakeFrom(other); }
  PooledStack& operator=(PooledStack&& other) noexcept {
    if (this != &other) {
      if (Owns()) Release();
      TakeFrom(other);
    }
    return *this;
  }
  PooledStack(const PooledStack&) = delete;
  PooledStack& operator=(const PooledStack&) = delete;
  ~PooledStack() {
    if (Owns()) Release();
  }

  void* base() const { return limit_ == nullptr ? nullptr : limit_ + size_; }
  void* limit() const { return limit_; }
  // Usable bytes: base() - limit(), the pool's stack size.
  std::size_t size() const { return size_; }

 private:
  friend class StackPool;
  PooledStack(stack_internal::PoolCore* pool, stack_internal::Slab* slab,
              std::byte* limit, std::size_t size)
      : pool_(pool), slab_(slab), limit_(limit), size_(size) {}
  // Only if Owns(): gives the stack back; leaves *this moved-from. Inline
  // when the calling thread's cache of the pool has room for it.
#if defined(_WIN32)
  void Release();
#else
  void Release() {
    if (!stack_internal::PutInMagazine(pool_, {slab_, limit_})) ReleaseSlow();
    pool_ = nullptr;
    slab_ = nullptr;
    limit_ = nullptr;
    size_ = 0;
  }
  void ReleaseSlow();  // To the shared list, or a magazine claimed for it.
#endif
  void TakeFrom(PooledStack& other) {
    pool_ = std::exchange(other.pool_, nullptr);
    slab_ = std::exchange(other.slab_, nullptr);
    limit_ = std::exchange(other.limit_, nullptr);
    size_ = std::exchange(other.size_, 0);
#if defined(_WIN32)
    fiber_ = std::exchange(other.fiber_, nullptr);
#endif
  }
#if defined(_WIN32)
  bool Owns() const { return fiber_ != nullptr; }
#else
  bool Owns() const { return limit_ != nullptr; }
#endif

  stack_internal::PoolCore* pool_ = nullptr;  // Alive while we are.
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
  // Stacks a thread keeps in its own cache of a pool, at most (see the top of
  // this file). Windows has no per-thread caches.
  static constexpr std::size_t kMaxCachedPerThread = 8;

  // A pool of stacks with `stack_size` usable bytes each (rounded up to whole
  // pages), keeping up to `max_cached` released stacks warm for reuse in its
  // shared list, plus up to min(kMaxCachedPerThread, max_cached) in each
  // thread's own cache; memory of stacks released beyond that is given back
  // to the system (MADV_DONTNEED) while the address range stays reserved for
  // later Acquire()s. So at most max_cached + T * min(kMaxCachedPerThread,
  // max_cached) released stacks stay resident, with T the number of threads
  // that have released stacks of this pool; max_cached = 0 keeps none. Each
  // stack has `guard_size` bytes of guard below it, rounded up to whole pages.
  // Maps the first slab right away, so errors show up here, as for
  // OsStack::Create:
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

  // The stack most recently released on this thread if its cache holds one,
  // else the most recently released one from the shared list, else a fresh
  // one (mapping a new slab when all are in use). Errors as for Create.
  absl::StatusOr<PooledStack> Acquire() {
#if !defined(_WIN32)
    // Inline when the calling thread's cache of this pool has one.
    stack_internal::PoolStackPlace stack;
    if (stack_internal::TakeFromMagazine(state_, stack)) {
      return PooledStack(state_, stack.slab, stack.limit, state_->stack_size);
    }
#endif
    return AcquireSlow();
  }

  // Usable bytes of every stack of this pool.
  std::size_t stack_size() const {
    return state_ == nullptr ? 0 : state_->stack_size;
  }
  // Released stacks kept warm that the calling thread can get back: those in
  // the shared list (at most max_cached) plus those in the calling thread's
  // own cache of this pool (at most min(kMaxCachedPerThread, max_cached)).
  // Other threads' caches are theirs alone and not counted.
  std::size_t NumCached() const;

  // Whether this kernel supports MADV_GUARD_INSTALL, i.e. whether guards
  // cost no kernel mapping (for OsStack too). Probed once per process.
  static bool GuardPagesAreMappingFree();

 private:
  explicit StackPool(stack_internal::PoolCore* state) : state_(state) {}

  absl::StatusOr<PooledStack> AcquireSlow();

  // Owned together with the live stacks; freed by whichever goes last. The
  // PoolCore of the pool's state (stack_pool.cc).
  stack_internal::PoolCore* state_ = nullptr;
};

}  // namespace fringe

#endif  // FRINGE_STACK_STACK_POOL_H_
