#include "fringe/stack/stack_pool.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/attributes.h"
#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "fringe/stack/guard_registry.h"
#include "fringe/stack/internal/guarded_mapping.h"
#include "fringe/stack/internal/os_memory.h"
#include "fringe/stack/internal/spin_lock.h"

namespace fringe {
namespace stack_internal {
namespace {

// Slabs hold at most this many stacks, and aim at this many bytes: big enough
// that mappings are rare (one per 256 small stacks), small enough that a pool
// of large stacks does not reserve gigabytes of address space up front.
constexpr std::size_t kMaxStacksPerSlab = 256;
constexpr std::size_t kSlabTargetBytes = std::size_t{16} << 20;

}  // namespace

// Each thread keeps up to this many released stacks per pool (fewer when
// max_cached is smaller) in a magazine that it fills and empties without a
// lock: enough for the usual few generators in flight per thread, few enough
// that idle threads do not sit on much memory. (magazine.h)
static_assert(kMagazineSize == StackPool::kMaxCachedPerThread);

// One mapping holding `stacks_per_slab` stacks, each laid out as
// [guard][stack_size usable bytes], lowest address first.
struct Slab {
  std::byte* memory = nullptr;
  // Stacks neither live nor cached; their memory is not resident (never
  // touched, or given back with MADV_DONTNEED).
  std::vector<std::uint32_t> cold;
  // Live plus cached stacks; a slab with none may be unmapped.
  std::size_t in_use = 0;
  // Whether the slab is in PoolState::slabs_with_cold.
  bool in_slabs_with_cold = false;
};

// PoolCore (magazine.h) holds what the inline fast paths read: the stack
// size and the magazine capacity.
struct PoolState : PoolCore {
  PoolState(const GuardedLayout& layout, std::size_t stacks_per_slab,
            std::size_t max_cached)
      : PoolCore{layout.usable, std::min(kMagazineSize, max_cached)},
        layout(layout),
        guard_size(layout.guard),
        stride(layout.stride()),
        stacks_per_slab(stacks_per_slab),
        max_cached(max_cached) {}

  ~PoolState() {
    // Deleted only once orphaned with no live stack.
    for (const std::unique_ptr<Slab>& slab : slabs) {
      UnregisterSlab(slab->memory);
      UnmapGuarded(slab->memory, layout, stacks_per_slab);
    }
  }

  // What error messages say was being done.
  std::string AcquireContext() const {
    return absl::StrCat("StackPool::Acquire() of a ", stack_size,
                        "-byte stack");
  }

  // Maps and guards a slab; needs no lock.
  absl::StatusOr<std::unique_ptr<Slab>> MapSlab(const std::string& who) const {
    absl::StatusOr<std::byte*> memory =
        MapGuarded(who, layout, stacks_per_slab);
    if (!memory.ok()) return memory.status();
    auto slab = std::make_unique<Slab>();
    slab->memory = *memory;
    // One registry entry for the whole slab, for the stack-overflow report
    // (fringe/debug); a full registry only costs the report.
    (void)RegisterSlab(slab->memory, stride, stacks_per_slab, guard_size);
    // Reversed so that stacks are handed out in address order.
    slab->cold.reserve(stacks_per_slab);
    for (std::size_t i = stacks_per_slab; i-- > 0;) {
      slab->cold.push_back(static_cast<std::uint32_t>(i));
    }
    return slab;
  }

  void AddSlab(std::unique_ptr<Slab> slab) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    slab->in_slabs_with_cold = true;
    slabs_with_cold.push_back(slab.get());
    slabs.push_back(std::move(slab));
    ++empty_slabs;
  }

  // A cached stack (most recently released first), else a cold one.
  std::optional<PoolStackPlace> Take() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    if (!cached.empty()) {
      PoolStackPlace slot = cached.back();
      cached.pop_back();
      ++live;
      return slot;
    }
    while (!slabs_with_cold.empty()) {
      Slab* slab = slabs_with_cold.back();
      if (slab->cold.empty()) {
        slab->in_slabs_with_cold = false;
        slabs_with_cold.pop_back();
        continue;
      }
      const std::uint32_t index = slab->cold.back();
      slab->cold.pop_back();
      if (slab->in_use++ == 0) --empty_slabs;
      ++live;
      return PoolStackPlace{slab, slab->memory + index * stride + guard_size};
    }
    return std::nullopt;
  }

  // Moves up to `count` cached stacks to `out`, oldest first (so the most
  // recently released one ends up last); returns how many.
  std::size_t TakeCached(PoolStackPlace* out, std::size_t count)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    const std::size_t taken = std::min(count, cached.size());
    std::copy(cached.end() - static_cast<std::ptrdiff_t>(taken), cached.end(),
              out);
    cached.resize(cached.size() - taken);
    live += taken;
    return taken;
  }

  // Takes back `count` stacks, oldest first: keeps them warm while the
  // shared cache has room; gives the memory of the rest back and makes them
  // cold, unmapping a slab whose last stack in use that was if another empty
  // slab is already kept for churn. Returns whether this state is now
  // unreachable (orphaned, no live stack) and must be deleted by the caller.
  [[nodiscard]] bool Release(const PoolStackPlace* stacks, std::size_t count)
      ABSL_LOCKS_EXCLUDED(mu) {
    std::size_t kept;
    {
      SpinLockHolder lock(&mu);
      kept = std::min(count, max_cached - cached.size());
      cached.insert(cached.end(), stacks, stacks + kept);
      if (kept == count) {
        live -= count;
        return live == 0 && orphaned;
      }
    }
    // Before the stacks are visible to Take() again: afterwards a new owner
    // might already have written to them. Guards survive MADV_DONTNEED.
    for (std::size_t i = kept; i < count; ++i) {
      MadviseRetryingInterrupts(stacks[i].limit, stack_size, MADV_DONTNEED);
    }

    std::vector<std::unique_ptr<Slab>> unmapped;
    bool unreachable;
    {
      SpinLockHolder lock(&mu);
      for (std::size_t i = kept; i < count; ++i) {
        if (std::unique_ptr<Slab> slab = MakeCold(stacks[i])) {
          unmapped.push_back(std::move(slab));
        }
      }
      live -= count;
      unreachable = live == 0 && orphaned;
    }
    for (const std::unique_ptr<Slab>& slab : unmapped) {
      UnregisterSlab(slab->memory);
      UnmapGuarded(slab->memory, layout, stacks_per_slab);
    }
    return unreachable;
  }

  // Returns a stack whose memory is given back to its slab's cold list; if
  // that empties the slab and another empty slab is already kept, removes
  // the slab and returns it for the caller to unmap outside the lock.
  std::unique_ptr<Slab> MakeCold(PoolStackPlace slot)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    Slab* slab = slot.slab;
    slab->cold.push_back(static_cast<std::uint32_t>(
        (slot.limit - guard_size - slab->memory) / stride));
    if (!slab->in_slabs_with_cold) {
      slab->in_slabs_with_cold = true;
      slabs_with_cold.push_back(slab);
    }
    if (--slab->in_use != 0) return nullptr;
    if (empty_slabs == 0) {
      ++empty_slabs;
      return nullptr;
    }
    slabs_with_cold.erase(
        std::find(slabs_with_cold.begin(), slabs_with_cold.end(), slab));
    auto it = std::find_if(
        slabs.begin(), slabs.end(),
        [slab](const std::unique_ptr<Slab>& s) { return s.get() == slab; });
    std::unique_ptr<Slab> unmapped = std::move(*it);
    slabs.erase(it);
    return unmapped;
  }

  // The StackPool object is gone. Returns whether no stack is live either,
  // so that the caller must delete this state.
  [[nodiscard]] bool Orphan() ABSL_LOCKS_EXCLUDED(mu) {
    SpinLockHolder lock(&mu);
    orphaned = true;
    return live == 0;
  }

  const GuardedLayout layout;  // Of each stack; stack_size and the next two
                               // repeat it.
  const std::size_t guard_size;
  const std::size_t stride;
  const std::size_t stacks_per_slab;
  const std::size_t max_cached;

  mutable SpinLock mu;
  // Released stacks kept warm, most recent last.
  std::vector<PoolStackPlace> cached ABSL_GUARDED_BY(mu);
  std::vector<std::unique_ptr<Slab>> slabs ABSL_GUARDED_BY(mu);
  // Slabs that may have cold stacks (entries are dropped lazily by Take()).
  std::vector<Slab*> slabs_with_cold ABSL_GUARDED_BY(mu);
  // Slabs with in_use == 0; at most one is kept mapped, so that a pool that
  // oscillates around a slab boundary does not map and unmap on every cycle.
  std::size_t empty_slabs ABSL_GUARDED_BY(mu) = 0;
  // Stacks not on the lists above: handed out, or in a thread's magazine.
  // With `orphaned` (the StackPool object is gone), decides who deletes this
  // state: the last one out.
  std::size_t live ABSL_GUARDED_BY(mu) = 0;
  bool orphaned ABSL_GUARDED_BY(mu) = false;
};

// Who deletes a PoolState: the StackPool and every live stack (handed out
// or in a magazine) share it, by one count under the pool's lock rather
// than a shared_ptr's atomic per Acquire, and whichever lets go of it last
// deletes it.
//
// Per-thread magazines. A thread keeps the stacks it releases in a small
// magazine per pool, and Acquire() on that thread takes them back from
// there: with no lock, no atomic read-modify-write and no system call. Only
// an empty magazine (Acquire) or a full one (release) takes the pool's lock,
// and then moves half a magazine at once.
//
// A magazine's stacks count as live, so they keep their PoolState alive, and
// only the owning thread ever touches a magazine. So that they do not keep a
// destroyed pool's memory forever, a StackPool's destructor empties the
// destroying thread's magazine of it and, if the state survives, bumps
// `pools_orphaned`; every thread compares that count with the value it last
// saw whenever it uses its magazines (one relaxed load) and, when it moved,
// empties its magazines of orphaned pools. Thread exit empties all of them.
// A magazine's pool pointer is only dereferenced while the magazine holds a
// stack (which keeps the pool alive) or on behalf of a caller that holds the
// pool or one of its stacks: an empty magazine may name a deleted pool, or a
// new pool at the same address, which is then rightly its own.

// (Magazine, ThreadMagazines and the fast paths: magazine.h.)
std::atomic<std::uint64_t> pools_orphaned{0};
constinit thread_local ThreadCache thread_cache = {nullptr, false};

namespace {

PoolState* State(PoolCore* core) { return static_cast<PoolState*>(core); }

// Gives a magazine's stacks back to its pool (deleting the pool if they were
// the last) and frees the magazine for another pool.
void Empty(Magazine& magazine) {
  PoolState* pool = State(std::exchange(magazine.pool, nullptr));
  const std::size_t count = std::exchange(magazine.count, 0);
  if (count != 0 && pool->Release(magazine.stacks, count)) delete pool;
}

// Empties the magazines of pools that have lost their StackPool object and
// forgets empty magazines (whose pool may be gone).
void EmptyOrphans(ThreadMagazines& magazines) {
  for (Magazine& magazine : magazines.magazines) {
    if (magazine.count == 0) {
      magazine.pool = nullptr;
      continue;
    }
    bool orphaned;
    {
      PoolState* pool = State(magazine.pool);
      SpinLockHolder lock(&pool->mu);
      orphaned = pool->orphaned;
    }
    if (orphaned) Empty(magazine);
  }
}

// Runs when a thread that has used magazines exits.
struct ThreadExit {
  ~ThreadExit() {
    ThreadCache& cache = thread_cache;
    // First, so that releases from here on (below, or in later thread_local
    // destructors) go to the shared lists.
    cache.exited = true;
    std::unique_ptr<ThreadMagazines> magazines(
        std::exchange(cache.magazines, nullptr));
    if (magazines == nullptr) return;
    for (Magazine& magazine : magazines->magazines) Empty(magazine);
  }
};

// This thread's magazines, with those of orphaned pools emptied; null if the
// thread is exiting (or out of memory): the caller then uses the shared lists.
ThreadMagazines* CurrentMagazines() {
  ThreadCache& cache = thread_cache;
  if (cache.magazines == nullptr) {
    if (cache.exited) return nullptr;
    cache.magazines = new (std::nothrow) ThreadMagazines;
    if (cache.magazines == nullptr) return nullptr;
    // Constructed here, once per thread; its destructor returns the stacks.
    static thread_local ThreadExit thread_exit;
    cache.magazines->seen_orphaned =
        pools_orphaned.load(std::memory_order_acquire);
    return cache.magazines;
  }
  ThreadMagazines& magazines = *cache.magazines;
  // Read before looking at any pool: a pool orphaned after we looked bumps
  // the count after this read, so we look again next time.
  const std::uint64_t orphaned = pools_orphaned.load(std::memory_order_acquire);
  if (magazines.seen_orphaned != orphaned) {
    magazines.seen_orphaned = orphaned;
    EmptyOrphans(magazines);
  }
  return &magazines;
}

// This thread's magazine for `pool` if it has one.
Magazine* FindMagazine(ThreadMagazines& magazines, const PoolState* pool) {
  for (std::size_t i = 0; i < kMagazinesPerThread; ++i) {
    if (magazines.magazines[i].pool == pool) {
      magazines.hint = i;
      return &magazines.magazines[i];
    }
  }
  return nullptr;
}

// A magazine for `pool`, which has none yet: a free one, else another pool's,
// emptied.
Magazine& ClaimMagazine(ThreadMagazines& magazines, PoolState* pool) {
  std::size_t chosen = kMagazinesPerThread;
  for (std::size_t i = 0; i < kMagazinesPerThread; ++i) {
    if (magazines.magazines[i].count == 0) {
      chosen = i;
      break;
    }
  }
  if (chosen == kMagazinesPerThread) {
    chosen = magazines.next_victim;
    magazines.next_victim = (chosen + 1) % kMagazinesPerThread;
    Empty(magazines.magazines[chosen]);
  }
  Magazine& magazine = magazines.magazines[chosen];
  magazine.pool = pool;
  magazine.count = 0;
  magazines.hint = chosen;
  return magazine;
}

// A stack for the caller of `pool`'s StackPool::Acquire() when the fast path
// found none, from this thread's magazine or the shared lists; nullopt if a
// slab must be mapped.
std::optional<PoolStackPlace> AcquireSlow(PoolState& pool) {
  ThreadMagazines* magazines =
      pool.magazine_capacity == 0 ? nullptr : CurrentMagazines();
  if (magazines == nullptr) {
    SpinLockHolder lock(&pool.mu);
    return pool.Take();
  }
  Magazine* magazine = FindMagazine(*magazines, &pool);
  if (magazine != nullptr && magazine->count != 0) {
    return magazine->stacks[--magazine->count];
  }
  if (magazine == nullptr) magazine = &ClaimMagazine(*magazines, &pool);
  SpinLockHolder lock(&pool.mu);
  // One for the caller, and half a magazine for the next Acquire()s.
  const std::size_t taken =
      pool.TakeCached(magazine->stacks, pool.magazine_capacity / 2 + 1);
  if (taken == 0) return pool.Take();
  magazine->count = taken - 1;
  return magazine->stacks[taken - 1];
}

// A PooledStack of `pool` is going back and the fast path could not take it:
// onto this thread's magazine when it has room, else to the shared lists.
void ReleaseSlow(PoolState* pool, PoolStackPlace stack) {
  ThreadMagazines* magazines =
      pool->magazine_capacity == 0 ? nullptr : CurrentMagazines();
  Magazine* magazine =
      magazines == nullptr ? nullptr : FindMagazine(*magazines, pool);
  if (magazines != nullptr && magazine == nullptr) {
    // A new magazine only for a pool that still has its StackPool object:
    // an orphan's stacks are never acquired again.
    bool orphaned;
    {
      SpinLockHolder lock(&pool->mu);
      orphaned = pool->orphaned;
    }
    if (!orphaned) magazine = &ClaimMagazine(*magazines, pool);
  }
  if (magazine == nullptr) {
    if (pool->Release(&stack, 1)) delete pool;
    return;
  }
  if (magazine->count == pool->magazine_capacity) {
    // Full: the older half goes to the shared lists. `stack` is still live,
    // so this cannot be the pool's last stack.
    const std::size_t moved = (magazine->count + 1) / 2;
    (void)pool->Release(magazine->stacks, moved);
    std::copy(magazine->stacks + moved, magazine->stacks + magazine->count,
              magazine->stacks);
    magazine->count -= moved;
  }
  magazine->stacks[magazine->count++] = stack;
}

// The StackPool object is going away: this thread's magazine goes back
// first, then whichever of it and the live stacks is last deletes the state.
void Orphan(PoolState* pool) {
  if (ThreadMagazines* magazines = thread_cache.magazines;
      magazines != nullptr) {
    if (Magazine* magazine = FindMagazine(*magazines, pool)) Empty(*magazine);
  }
  if (pool->Orphan()) {
    delete pool;
  } else {
    // Other threads' magazines may hold its stacks.
    pools_orphaned.fetch_add(1, std::memory_order_release);
  }
}

// The rest of StackPool::Acquire(), out of line so that its slow path stays
// small: the error for a moved-from pool (null `pool`), or a new slab.
ABSL_ATTRIBUTE_NOINLINE absl::StatusOr<PoolStackPlace> AcquireFromNewSlab(
    PoolState* pool) {
  if (pool == nullptr) {
    return absl::FailedPreconditionError(
        "StackPool::Acquire() on a moved-from StackPool");
  }
  // Mapped without the lock: installing a slab's guards takes hundreds
  // of system calls, and other threads may meanwhile reuse released stacks.
  absl::StatusOr<std::unique_ptr<Slab>> slab =
      pool->MapSlab(pool->AcquireContext());
  if (!slab.ok()) return slab.status();
  SpinLockHolder lock(&pool->mu);
  pool->AddSlab(*std::move(slab));
  // Cannot fail: the new slab has at least one cold stack.
  return *pool->Take();
}

// This thread's magazine's stacks of `pool`.
std::size_t NumInMagazine(const PoolState* pool) {
  ThreadMagazines* magazines = thread_cache.magazines;
  if (magazines == nullptr) return 0;
  for (const Magazine& magazine : magazines->magazines) {
    if (magazine.pool == pool) return magazine.count;
  }
  return 0;
}

}  // namespace
}  // namespace stack_internal

using stack_internal::GuardedLayout;
using stack_internal::PoolStackPlace;
using stack_internal::PoolState;
using stack_internal::Slab;

absl::StatusOr<StackPool> StackPool::Create(std::size_t stack_size,
                                            std::size_t max_cached,
                                            std::size_t guard_size) {
  // The call as the caller most likely wrote it.
  const std::string who =
      guard_size == kDefaultGuardSize
          ? absl::StrCat("StackPool::Create(", stack_size, ", ", max_cached,
                         ")")
          : absl::StrCat("StackPool::Create(", stack_size, ", ", max_cached,
                         ", ", guard_size, ")");
  absl::StatusOr<GuardedLayout> layout = stack_internal::MakeGuardedLayout(
      who, "stack size", stack_size, guard_size);
  if (!layout.ok()) return layout.status();
  const std::size_t stacks_per_slab = std::clamp<std::size_t>(
      stack_internal::kSlabTargetBytes / layout->stride(), 1,
      stack_internal::kMaxStacksPerSlab);

  auto state =
      std::make_unique<PoolState>(*layout, stacks_per_slab, max_cached);
  absl::StatusOr<std::unique_ptr<Slab>> slab = state->MapSlab(who);
  if (!slab.ok()) return slab.status();
  {
    stack_internal::SpinLockHolder lock(&state->mu);
    state->AddSlab(*std::move(slab));
  }
  return StackPool(state.release());
}

StackPool& StackPool::operator=(StackPool&& other) noexcept {
  if (this != &other) {
    StackPool old(std::move(*this));
    state_ = std::exchange(other.state_, nullptr);
  }
  return *this;
}

StackPool::~StackPool() {
  if (state_ != nullptr) stack_internal::Orphan(stack_internal::State(state_));
}

absl::StatusOr<PooledStack> StackPool::AcquireSlow() {
  PoolState* state = stack_internal::State(state_);
  if (state != nullptr) {
    if (std::optional<PoolStackPlace> slot =
            stack_internal::AcquireSlow(*state)) {
      return PooledStack(state_, slot->slab, slot->limit, state->stack_size);
    }
  }
  absl::StatusOr<PoolStackPlace> slot =
      stack_internal::AcquireFromNewSlab(state);
  if (!slot.ok()) return slot.status();
  return PooledStack(state_, slot->slab, slot->limit, state->stack_size);
}

std::size_t StackPool::NumCached() const {
  PoolState* state = stack_internal::State(state_);
  if (state == nullptr) return 0;
  std::size_t shared;
  {
    stack_internal::SpinLockHolder lock(&state->mu);
    shared = state->cached.size();
  }
  return shared + stack_internal::NumInMagazine(state);
}

bool StackPool::GuardPagesAreMappingFree() {
  return stack_internal::GuardsAreMappingFree();
}

void PooledStack::ReleaseSlow() {
  stack_internal::ReleaseSlow(stack_internal::State(pool_),
                              PoolStackPlace{slab_, limit_});
}

}  // namespace fringe
