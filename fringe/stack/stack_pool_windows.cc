// StackPool on Windows: a pool of fibers (stack_pool.h, and README
// "Windows"). A released stack keeps its fiber, waiting for its next
// generator, so that Acquire() from the cache costs no system call; stacks
// released beyond max_cached are deleted with their fibers.

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "fringe/stack/internal/fiber_stack.h"
#include "fringe/stack/internal/spin_lock.h"
#include "fringe/stack/stack_pool.h"

namespace fringe {
namespace stack_internal {

// PoolCore (magazine.h) holds the stack size; no per-thread caches here.
struct PoolState : PoolCore {
  PoolState(std::size_t stack_size, std::size_t guard_size,
            std::size_t max_cached)
      : PoolCore{stack_size, /*magazine_capacity=*/0},
        guard_size(guard_size),
        max_cached(max_cached) {}

  ~PoolState() {
    // Deleted only once orphaned with no live stack.
    for (FiberStack* stack : cached) FiberStack::Destroy(stack);
  }

  std::string Who() const {
    return absl::StrCat("StackPool::Acquire() of a ", stack_size,
                        "-byte stack");
  }

  // Takes a stack back; true if the caller must now delete this state.
  bool Release(FiberStack* stack) {
    FiberStack* excess = nullptr;
    bool last;
    {
      SpinLockHolder lock(&mu);
      if (cached.size() < max_cached) {
        cached.push_back(stack);
      } else {
        excess = stack;
      }
      --live;
      last = orphaned && live == 0;
    }
    if (excess != nullptr) FiberStack::Destroy(excess);
    return last;
  }

  // The StackPool object is gone; true if the caller must delete this state.
  bool Orphan() {
    SpinLockHolder lock(&mu);
    orphaned = true;
    return live == 0;
  }

  const std::size_t guard_size;
  const std::size_t max_cached;
  SpinLock mu;
  std::vector<FiberStack*> cached ABSL_GUARDED_BY(mu);
  std::size_t live ABSL_GUARDED_BY(mu) = 0;
  bool orphaned ABSL_GUARDED_BY(mu) = false;
};

PoolState* State(PoolCore* core) { return static_cast<PoolState*>(core); }

}  // namespace stack_internal

using stack_internal::FiberStack;
using stack_internal::PoolState;

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
  // One fiber right away, so that errors show up here, as for OsStack.
  absl::StatusOr<FiberStack*> first =
      FiberStack::Create(who, stack_size, guard_size);
  if (!first.ok()) return first.status();
  const std::size_t usable =
      static_cast<char*>((*first)->base) - static_cast<char*>((*first)->limit);
  auto* state = new PoolState(usable, guard_size, max_cached);
  if (max_cached > 0) {
    stack_internal::SpinLockHolder lock(&state->mu);
    state->cached.push_back(*first);
  } else {
    FiberStack::Destroy(*first);
  }
  return StackPool(state);
}

StackPool& StackPool::operator=(StackPool&& other) noexcept {
  if (this != &other) {
    StackPool old(std::move(*this));
    state_ = std::exchange(other.state_, nullptr);
  }
  return *this;
}

StackPool::~StackPool() {
  PoolState* state = stack_internal::State(state_);
  if (state != nullptr && state->Orphan()) delete state;
}

absl::StatusOr<PooledStack> StackPool::AcquireSlow() {
  if (state_ == nullptr) {
    return absl::FailedPreconditionError(
        "StackPool::Acquire() on a moved-from StackPool");
  }
  PoolState& state = *stack_internal::State(state_);
  FiberStack* stack = nullptr;
  {
    stack_internal::SpinLockHolder lock(&state.mu);
    if (!state.cached.empty()) {
      stack = state.cached.back();
      state.cached.pop_back();
    }
    ++state.live;
  }
  if (stack == nullptr) {
    // Created without the lock: other threads may meanwhile reuse stacks.
    absl::StatusOr<FiberStack*> created =
        FiberStack::Create(state.Who(), state.stack_size, state.guard_size);
    if (!created.ok()) {
      stack_internal::SpinLockHolder lock(&state.mu);
      --state.live;
      return created.status();
    }
    stack = *created;
  }
  PooledStack pooled(state_, nullptr, static_cast<std::byte*>(stack->limit),
                     state.stack_size);
  pooled.fiber_ = stack;
  return pooled;
}

std::size_t StackPool::NumCached() const {
  if (state_ == nullptr) return 0;
  PoolState& state = *stack_internal::State(state_);
  stack_internal::SpinLockHolder lock(&state.mu);
  return state.cached.size();
}

// Windows guards a fiber's stack itself; no mapping per guard.
bool StackPool::GuardPagesAreMappingFree() { return true; }

void PooledStack::Release() {
  PoolState* pool = stack_internal::State(pool_);
  if (pool->Release(fiber_)) delete pool;
  pool_ = nullptr;
  slab_ = nullptr;
  limit_ = nullptr;
  size_ = 0;
  fiber_ = nullptr;
}

}  // namespace fringe
