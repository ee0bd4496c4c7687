// fringe/stack/internal/magazine.h
//
// StackPool's per-thread caches ("magazines", described in stack_pool.cc)
// as far as the inline fast paths of StackPool::Acquire() and of releasing a
// PooledStack need them: taking a stack from, or putting one into, the
// calling thread's most recently used magazine. As calls (Acquire()
// building its StatusOr in stack_pool.cc, and PooledStack::Release()) they
// cost more than half of an acquire and release: 10.1-11.5 ns, against
// 4.5-4.6 ns inline (BM_StackPoolAcquireRelease); a pooled generator's
// create + run + destroy went from 28.4-29.2 to 24.5-24.9 ns
// (BM_FringeCreateStackPool). Everything else about magazines, and the
// pool's state beyond PoolCore, stays in stack_pool.cc. Internal to fringe.

#ifndef FRINGE_STACK_INTERNAL_MAGAZINE_H_
#define FRINGE_STACK_INTERNAL_MAGAZINE_H_

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace fringe::stack_internal {

// What the inline fast paths read of a pool: the first base of its state
// (PoolState, in stack_pool.cc and stack_pool_windows.cc), which StackPool
// and PooledStack point to.
struct PoolCore {
  std::size_t stack_size;  // Usable bytes of each stack.
  // Stacks a thread's magazine of this pool holds at most:
  // min(kMagazineSize, max_cached); 0 keeps no magazine (and on Windows,
  // which has none).
  std::size_t magazine_capacity;
};

struct Slab;

// Where a pooled stack lives: its slab and its limit().
struct PoolStackPlace {
  Slab* slab;
  std::byte* limit;
};

#if !defined(_WIN32)  // Windows pools keep no per-thread caches.

// StackPool::kMaxCachedPerThread.
inline constexpr std::size_t kMagazineSize = 8;
// Pools a thread keeps magazines for at once; a further pool empties the
// magazine of another one back into its pool.
inline constexpr std::size_t kMagazinesPerThread = 4;

struct Magazine {
  PoolCore* pool = nullptr;
  std::size_t count = 0;
  PoolStackPlace stacks[kMagazineSize];  // Oldest first.
};

struct ThreadMagazines {
  Magazine magazines[kMagazinesPerThread];
  // pools_orphaned when this thread last emptied its orphans' magazines.
  std::uint64_t seen_orphaned = 0;
  // The magazine used last: the one the fast paths look at.
  std::size_t hint = 0;
  // Which magazine a new pool takes over when all are in use.
  std::size_t next_victim = 0;
};

// Trivially destructible and constant-initialized, so that the fast paths
// read it without a guard variable or a wrapper call, and it stays usable
// (as "exited") after the thread's exit hook has run.
struct ThreadCache {
  ThreadMagazines* magazines;  // Allocated on first use.
  bool exited;                 // Thread exit has returned the magazines.
};
extern constinit thread_local ThreadCache thread_cache;

// Bumped (once the StackPool object is gone) for each pool that outlives its
// StackPool object, so that threads holding its stacks in their magazines
// give them back.
extern std::atomic<std::uint64_t> pools_orphaned;

// Whether the fast paths may use `magazines` without emptying orphans'
// magazines first.
inline bool UpToDate(const ThreadMagazines& magazines) {
  return magazines.seen_orphaned ==
         pools_orphaned.load(std::memory_order_relaxed);
}

// The fast paths: this thread's most recently used magazine, if it is
// `pool`'s, and nothing to give back to orphaned pools. False: take the
// slow path (stack_pool.cc).
inline bool TakeFromMagazine(const PoolCore* pool, PoolStackPlace& stack) {
  ThreadMagazines* magazines = thread_cache.magazines;
  if (magazines == nullptr || !UpToDate(*magazines)) return false;
  Magazine& magazine = magazines->magazines[magazines->hint];
  if (magazine.pool != pool || magazine.count == 0) return false;
  stack = magazine.stacks[--magazine.count];
  return true;
}

inline bool PutInMagazine(PoolCore* pool, PoolStackPlace stack) {
  ThreadMagazines* magazines = thread_cache.magazines;
  if (magazines == nullptr || !UpToDate(*magazines)) return false;
  Magazine& magazine = magazines->magazines[magazines->hint];
  if (magazine.pool != pool || magazine.count >= pool->magazine_capacity) {
    return false;
  }
  magazine.stacks[magazine.count++] = stack;
  return true;
}

#endif  // !defined(_WIN32)

}  // namespace fringe::stack_internal

#endif  // FRINGE_STACK_INTERNAL_MAGAZINE_H_
