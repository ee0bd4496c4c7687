#include "fringe/stack/stack_pool.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

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

// Where a pooled stack lives: its slab and its limit().
struct PoolStackPlace {
  Slab* slab;
  std::byte* limit;
};

struct PoolState {
  PoolState(const GuardedLayout& layout, std::size_t stacks_per_slab,
            std::size_t max_cached)
      : layout(layout),
        stack_size(layout.usable),
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

  // Keeps the stack warm if the cache has room; otherwise gives its memory
  // back and makes it cold, unmapping its slab if that was the slab's last
  // stack in use and another empty slab is already kept for churn. Returns
  // whether this state is now unreachable (orphaned, no live stack) and must
  // be deleted by the caller.
  [[nodiscard]] bool Release(PoolStackPlace slot) ABSL_LOCKS_EXCLUDED(mu) {
    {
      SpinLockHolder lock(&mu);
      if (cached.size() < max_cached) {
        cached.push_back(slot);
        return --live == 0 && orphaned;
      }
    }
    // Before the stack is visible to Take() again: afterwards a new owner
    // might already have written to it. Guards survive MADV_DONTNEED.
    MadviseRetryingInterrupts(slot.limit, stack_size, MADV_DONTNEED);

    std::unique_ptr<Slab> unmapped;
    bool unreachable;
    {
      SpinLockHolder lock(&mu);
      Slab* slab = slot.slab;
      slab->cold.push_back(static_cast<std::uint32_t>(
          (slot.limit - guard_size - slab->memory) / stride));
      if (!slab->in_slabs_with_cold) {
        slab->in_slabs_with_cold = true;
        slabs_with_cold.push_back(slab);
      }
      if (--slab->in_use == 0) {
        if (empty_slabs == 0) {
          ++empty_slabs;
        } else {
          slabs_with_cold.erase(
              std::find(slabs_with_cold.begin(), slabs_with_cold.end(), slab));
          auto it = std::find_if(slabs.begin(), slabs.end(),
                                 [slab](const std::unique_ptr<Slab>& s) {
                                   return s.get() == slab;
                                 });
          unmapped = std::move(*it);
          slabs.erase(it);
        }
      }
      unreachable = --live == 0 && orphaned;
    }
    if (unmapped != nullptr) {
      UnregisterSlab(unmapped->memory);
      UnmapGuarded(unmapped->memory, layout, stacks_per_slab);
    }
    return unreachable;
  }

  // The StackPool object is gone. Returns whether no stack is live either,
  // so that the caller must delete this state.
  [[nodiscard]] bool Orphan() ABSL_LOCKS_EXCLUDED(mu) {
    SpinLockHolder lock(&mu);
    orphaned = true;
    return live == 0;
  }

  const GuardedLayout layout;  // Of each stack; the next three repeat it.
  const std::size_t stack_size;
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
  // Stacks handed out and not yet released; with `orphaned` (the StackPool
  // object is gone), decides who deletes this state: the last one out.
  std::size_t live ABSL_GUARDED_BY(mu) = 0;
  bool orphaned ABSL_GUARDED_BY(mu) = false;
};

// Who deletes a PoolState: the StackPool and every live PooledStack share it
// (one count under the pool's lock, not a shared_ptr's atomic per Acquire),
// and whichever lets go of it last deletes it.
struct LastOneOutDeletes {
  // The StackPool object is going away.
  static void Orphan(PoolState* state) {
    if (state->Orphan()) delete state;
  }
  // A PooledStack is going back.
  static void Release(PoolState* state, PoolStackPlace stack) {
    if (state->Release(stack)) delete state;
  }
};

}  // namespace stack_internal

using stack_internal::GuardedLayout;
using stack_internal::LastOneOutDeletes;
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
  if (state_ != nullptr) LastOneOutDeletes::Orphan(state_);
}

absl::StatusOr<PooledStack> StackPool::Acquire() {
  if (state_ == nullptr) {
    return absl::FailedPreconditionError(
        "StackPool::Acquire() on a moved-from StackPool");
  }
  PoolState& state = *state_;
  {
    stack_internal::SpinLockHolder lock(&state.mu);
    if (std::optional<PoolStackPlace> slot = state.Take()) {
      return PooledStack(state_, slot->slab, slot->limit, state.stack_size);
    }
  }
  // Mapped without the lock: installing a slab's guards takes hundreds
  // of system calls, and other threads may meanwhile reuse released stacks.
  absl::StatusOr<std::unique_ptr<Slab>> slab =
      state.MapSlab(state.AcquireContext());
  if (!slab.ok()) return slab.status();
  stack_internal::SpinLockHolder lock(&state.mu);
  state.AddSlab(*std::move(slab));
  // Cannot fail: the new slab has at least one cold stack.
  PoolStackPlace slot = *state.Take();
  return PooledStack(state_, slot.slab, slot.limit, state.stack_size);
}

std::size_t StackPool::stack_size() const {
  return state_ == nullptr ? 0 : state_->stack_size;
}

std::size_t StackPool::NumCached() const {
  if (state_ == nullptr) return 0;
  stack_internal::SpinLockHolder lock(&state_->mu);
  return state_->cached.size();
}

bool StackPool::GuardPagesAreMappingFree() {
  return stack_internal::GuardsAreMappingFree();
}

PooledStack::PooledStack(PooledStack&& other) noexcept
    : pool_(std::exchange(other.pool_, nullptr)),
      slab_(std::exchange(other.slab_, nullptr)),
      limit_(std::exchange(other.limit_, nullptr)),
      size_(std::exchange(other.size_, 0)) {}

PooledStack& PooledStack::operator=(PooledStack&& other) noexcept {
  if (this != &other) {
    Release();
    pool_ = std::exchange(other.pool_, nullptr);
    slab_ = std::exchange(other.slab_, nullptr);
    limit_ = std::exchange(other.limit_, nullptr);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

PooledStack::~PooledStack() { Release(); }

void PooledStack::Release() {
  if (limit_ == nullptr) return;
  LastOneOutDeletes::Release(pool_, PoolStackPlace{slab_, limit_});
  pool_ = nullptr;
  slab_ = nullptr;
  limit_ = nullptr;
  size_ = 0;
}

}  // namespace fringe
