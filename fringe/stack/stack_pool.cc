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
#include "fringe/stack/internal/os_memory.h"
#include "fringe/stack/internal/spin_lock.h"

namespace fringe {
namespace stack_internal {
namespace {

// Linux 6.13's lightweight guard pages; older headers lack the name.
#ifdef MADV_GUARD_INSTALL
constexpr int kMadvGuardInstall = MADV_GUARD_INSTALL;
#else
constexpr int kMadvGuardInstall = 102;
#endif

// Slabs hold at most this many stacks, and aim at this many bytes: big enough
// that mappings are rare (one per 256 small stacks), small enough that a pool
// of large stacks does not reserve gigabytes of address space up front.
constexpr std::size_t kMaxStacksPerSlab = 256;
constexpr std::size_t kSlabTargetBytes = std::size_t{16} << 20;

enum class GuardMode { kUnknown, kMadvise, kMprotect };

// Probed once per process: the kernel does not change under us.
std::atomic<GuardMode> guard_mode{GuardMode::kUnknown};

int MadviseRetryingInterrupts(void* address, std::size_t length, int advice) {
  int result;
  do {
    result = ::madvise(address, length, advice);
  } while (result != 0 && (errno == EINTR || errno == EAGAIN));
  return result;
}

// Whether the kernel refuses to read `page`, asked without touching it:
// write(2) from an inaccessible page fails with EFAULT instead of raising a
// signal.
bool PageIsInaccessible(const std::byte* page) {
  int fds[2];
  if (::pipe(fds) != 0) return false;  // Cannot tell: assume it is not.
  const bool inaccessible = ::write(fds[1], page, 1) < 0 && errno == EFAULT;
  ::close(fds[0]);
  ::close(fds[1]);
  return inaccessible;
}

// Makes the page at `page` trap on access. Errors name `who`.
absl::Status InstallGuardPage(std::byte* page, std::size_t page_size,
                              const std::string& who) {
  GuardMode mode = guard_mode.load(std::memory_order_relaxed);
  if (mode != GuardMode::kMprotect) {
    if (MadviseRetryingInterrupts(page, page_size, kMadvGuardInstall) == 0) {
      if (mode == GuardMode::kMadvise) return absl::OkStatus();
      // The first guard of the process: check that it really traps. An
      // emulator (qemu-user) may accept advice it does not implement.
      if (PageIsInaccessible(page)) {
        guard_mode.store(GuardMode::kMadvise, std::memory_order_relaxed);
        return absl::OkStatus();
      }
      errno = EINVAL;
    }
    // EINVAL: a kernel older than 6.13 that does not know the advice.
    if (errno != EINVAL || mode == GuardMode::kMadvise) {
      return MappingError(who, "madvise(MADV_GUARD_INSTALL) of a guard page",
                          errno, /*call_splits_mappings=*/false);
    }
    guard_mode.store(GuardMode::kMprotect, std::memory_order_relaxed);
  }
  if (::mprotect(page, page_size, PROT_NONE) != 0) {
    return MappingError(who, "mprotect of a guard page", errno,
                        /*call_splits_mappings=*/true);
  }
  return absl::OkStatus();
}

}  // namespace

// One mapping holding `stacks_per_slab` stacks, each laid out as
// [guard page][stack_size usable bytes], lowest address first.
struct Slab {
  std::byte* memory = nullptr;
  std::size_t bytes = 0;
  // Stacks neither live nor cached; their memory is not resident (never
  // touched, or given back with MADV_DONTNEED).
  std::vector<std::uint32_t> cold;
  // Live plus cached stacks; a slab with none may be unmapped.
  std::size_t in_use = 0;
  // Whether the slab is in PoolState::with_cold.
  bool listed_with_cold = false;
};

struct Slot {
  Slab* slab;
  std::byte* limit;
};

struct PoolState {
  PoolState(std::size_t stack_size, std::size_t guard_size,
            std::size_t stacks_per_slab, std::size_t max_cached)
      : stack_size(stack_size),
        guard_size(guard_size),
        stride(guard_size + stack_size),
        stacks_per_slab(stacks_per_slab),
        max_cached(max_cached) {}

  ~PoolState() {
    // Deleted only once orphaned with no live stack.
    for (const std::unique_ptr<Slab>& slab : slabs) {
      UnregisterSlab(slab->memory);
      ::munmap(slab->memory, slab->bytes);
    }
  }

  std::string Who() const {
    return absl::StrCat("StackPool::Acquire() of a ", stack_size,
                        "-byte stack");
  }

  // Maps and guards a slab; needs no lock.
  absl::StatusOr<std::unique_ptr<Slab>> MapSlab(const std::string& who) const {
    auto slab = std::make_unique<Slab>();
    slab->bytes = stride * stacks_per_slab;
    void* memory =
        ::mmap(nullptr, slab->bytes, PROT_READ | PROT_WRITE,
               MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    if (memory == MAP_FAILED) {
      return MappingError(who, "mmap of a slab", errno,
                          /*call_splits_mappings=*/false);
    }
    slab->memory = static_cast<std::byte*>(memory);
    // With transparent huge pages on, the first touch of a stack could fault
    // in 2 MiB. Advisory: failure costs memory, not correctness.
    ::madvise(memory, slab->bytes, MADV_NOHUGEPAGE);
    for (std::size_t i = 0; i < stacks_per_slab; ++i) {
      absl::Status status =
          InstallGuardPage(slab->memory + i * stride, guard_size, who);
      if (!status.ok()) {
        ::munmap(memory, slab->bytes);
        return status;
      }
    }
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
    slab->listed_with_cold = true;
    with_cold.push_back(slab.get());
    slabs.push_back(std::move(slab));
    ++empty_slabs;
  }

  // A cached stack (most recently released first), else a cold one.
  std::optional<Slot> Take() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    if (!cached.empty()) {
      Slot slot = cached.back();
      cached.pop_back();
      ++live;
      return slot;
    }
    while (!with_cold.empty()) {
      Slab* slab = with_cold.back();
      if (slab->cold.empty()) {
        slab->listed_with_cold = false;
        with_cold.pop_back();
        continue;
      }
      const std::uint32_t index = slab->cold.back();
      slab->cold.pop_back();
      if (slab->in_use++ == 0) --empty_slabs;
      ++live;
      return Slot{slab, slab->memory + index * stride + guard_size};
    }
    return std::nullopt;
  }

  // Keeps the stack warm if the cache has room; otherwise gives its memory
  // back and makes it cold, unmapping its slab if that was the slab's last
  // stack in use and another empty slab is already kept for churn. Returns
  // whether this state is now unreachable (orphaned, no live stack) and must
  // be deleted by the caller.
  [[nodiscard]] bool Release(Slot slot) ABSL_LOCKS_EXCLUDED(mu) {
    {
      SpinLockHolder lock(&mu);
      if (cached.size() < max_cached) {
        cached.push_back(slot);
        return --live == 0 && orphaned;
      }
    }
    // Before the stack is visible to Take() again: afterwards a new owner
    // might already have written to it. Guard pages survive MADV_DONTNEED.
    MadviseRetryingInterrupts(slot.limit, stack_size, MADV_DONTNEED);

    std::unique_ptr<Slab> unmapped;
    bool unreachable;
    {
      SpinLockHolder lock(&mu);
      Slab* slab = slot.slab;
      slab->cold.push_back(static_cast<std::uint32_t>(
          (slot.limit - guard_size - slab->memory) / stride));
      if (!slab->listed_with_cold) {
        slab->listed_with_cold = true;
        with_cold.push_back(slab);
      }
      if (--slab->in_use == 0) {
        if (empty_slabs == 0) {
          ++empty_slabs;
        } else {
          with_cold.erase(std::find(with_cold.begin(), with_cold.end(), slab));
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
      ::munmap(unmapped->memory, unmapped->bytes);
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

  const std::size_t stack_size;  // Usable bytes, whole pages.
  const std::size_t guard_size;  // One page.
  const std::size_t stride;      // Guard page plus stack.
  const std::size_t stacks_per_slab;
  const std::size_t max_cached;

  mutable SpinLock mu;
  // Released stacks kept warm, most recent last.
  std::vector<Slot> cached ABSL_GUARDED_BY(mu);
  std::vector<std::unique_ptr<Slab>> slabs ABSL_GUARDED_BY(mu);
  // Slabs that may have cold stacks (entries are dropped lazily by Take()).
  std::vector<Slab*> with_cold ABSL_GUARDED_BY(mu);
  // Slabs with in_use == 0; at most one is kept mapped, so that a pool that
  // oscillates around a slab boundary does not map and unmap on every cycle.
  std::size_t empty_slabs ABSL_GUARDED_BY(mu) = 0;
  // Stacks handed out and not yet released; with `orphaned` (the StackPool
  // object is gone), decides who deletes this state: the last one out.
  std::size_t live ABSL_GUARDED_BY(mu) = 0;
  bool orphaned ABSL_GUARDED_BY(mu) = false;
};

}  // namespace stack_internal

using stack_internal::PoolState;
using stack_internal::Slab;
using stack_internal::Slot;

absl::StatusOr<StackPool> StackPool::Create(std::size_t stack_size,
                                            std::size_t max_cached) {
  const std::string who =
      absl::StrCat("StackPool::Create(", stack_size, ", ", max_cached, ")");
  if (stack_size == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(who, ": stack size must be positive"));
  }
  const std::size_t guard = stack_internal::PageSize();
  const std::optional<std::size_t> usable =
      stack_internal::RoundUpToPages(stack_size);
  if (!usable.has_value() || *usable > SIZE_MAX - guard) {
    return absl::ResourceExhaustedError(absl::StrCat(
        who, ": stack size rounded up to whole pages plus a ", guard,
        "-byte guard page does not fit in the address space"));
  }
  const std::size_t stride = *usable + guard;
  const std::size_t stacks_per_slab =
      std::clamp<std::size_t>(stack_internal::kSlabTargetBytes / stride, 1,
                              stack_internal::kMaxStacksPerSlab);

  auto state =
      std::make_unique<PoolState>(*usable, guard, stacks_per_slab, max_cached);
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
  if (state_ != nullptr && state_->Orphan()) delete state_;
}

absl::StatusOr<PooledStack> StackPool::Acquire() {
  if (state_ == nullptr) {
    return absl::FailedPreconditionError(
        "StackPool::Acquire() on a moved-from StackPool");
  }
  PoolState& state = *state_;
  {
    stack_internal::SpinLockHolder lock(&state.mu);
    if (std::optional<Slot> slot = state.Take()) {
      return PooledStack(state_, slot->slab, slot->limit, state.stack_size);
    }
  }
  // Mapped without the lock: installing a slab's guard pages takes hundreds
  // of system calls, and other threads may meanwhile reuse released stacks.
  absl::StatusOr<std::unique_ptr<Slab>> slab = state.MapSlab(state.Who());
  if (!slab.ok()) return slab.status();
  stack_internal::SpinLockHolder lock(&state.mu);
  state.AddSlab(*std::move(slab));
  // Cannot fail: the new slab has at least one cold stack.
  Slot slot = *state.Take();
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
  using stack_internal::GuardMode;
  if (stack_internal::guard_mode.load(std::memory_order_relaxed) ==
      GuardMode::kUnknown) {
    const std::size_t page = stack_internal::PageSize();
    void* probe = ::mmap(nullptr, 2 * page, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (probe == MAP_FAILED) return false;  // Unknown; assume the worst.
    // Sets the mode as a side effect, whichever way it goes.
    (void)stack_internal::InstallGuardPage(static_cast<std::byte*>(probe), page,
                                           "StackPool probe");
    ::munmap(probe, 2 * page);
  }
  return stack_internal::guard_mode.load(std::memory_order_relaxed) ==
         stack_internal::GuardMode::kMadvise;
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
  if (pool_->Release(Slot{slab_, limit_})) delete pool_;
  pool_ = nullptr;
  slab_ = nullptr;
  limit_ = nullptr;
  size_ = 0;
}

}  // namespace fringe
