#include "fringe/stack/internal/guarded_mapping.h"

#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "fringe/stack/internal/os_memory.h"

namespace fringe {
namespace stack_internal {
namespace {

// Linux 6.13's lightweight guards; older headers lack the name.
#ifdef MADV_GUARD_INSTALL
constexpr int kMadvGuardInstall = MADV_GUARD_INSTALL;
#else
constexpr int kMadvGuardInstall = 102;
#endif

// The smallest transparent huge page of any kernel that needs to be told
// (see MapGuarded): a PMD-sized page, 2 MiB with 4 KiB base pages.
constexpr std::size_t kSmallestHugePage = std::size_t{2} << 20;

enum class GuardMode { kUnknown, kMadvise, kMprotect };

// Probed once per process: the kernel does not change under us.
std::atomic<GuardMode> guard_mode{GuardMode::kUnknown};

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

// Makes [guard, guard + bytes) trap on access. Errors name `who`.
absl::Status InstallGuard(std::byte* guard, std::size_t bytes,
                          std::string_view who) {
  GuardMode mode = guard_mode.load(std::memory_order_relaxed);
  if (mode != GuardMode::kMprotect) {
    if (MadviseRetryingInterrupts(guard, bytes, kMadvGuardInstall) == 0) {
      if (mode == GuardMode::kMadvise) return absl::OkStatus();
      // The first guard of the process: check that it really traps. An
      // emulator (qemu-user) may accept advice it does not implement.
      if (PageIsInaccessible(guard)) {
        guard_mode.store(GuardMode::kMadvise, std::memory_order_relaxed);
        return absl::OkStatus();
      }
      errno = EINVAL;
    }
    // EINVAL: a kernel older than 6.13 that does not know the advice.
    if (errno != EINVAL || mode == GuardMode::kMadvise) {
      return MappingError(who, "madvise(MADV_GUARD_INSTALL) of a guard", errno,
                          /*call_splits_mappings=*/false);
    }
    guard_mode.store(GuardMode::kMprotect, std::memory_order_relaxed);
  }
  if (::mprotect(guard, bytes, PROT_NONE) != 0) {
    return MappingError(who, "mprotect of a guard", errno,
                        /*call_splits_mappings=*/true);
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<GuardedLayout> MakeGuardedLayout(std::string_view who,
                                                std::string_view size_name,
                                                std::size_t size,
                                                std::size_t guard_size) {
  if (size == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(who, ": ", size_name, " must be positive"));
  }
  if (guard_size == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(who, ": guard_size must be positive"));
  }
  const std::optional<std::size_t> usable = RoundUpToPages(size);
  const std::optional<std::size_t> guard = RoundUpToPages(guard_size);
  if (!usable.has_value() || !guard.has_value() ||
      *usable > SIZE_MAX - *guard) {
    return absl::InvalidArgumentError(
        absl::StrCat(who, ": ", size_name,
                     " plus guard_size, each rounded up to whole pages, does "
                     "not fit in the address space"));
  }
  return GuardedLayout{*usable, *guard};
}

absl::StatusOr<std::byte*> MapGuarded(std::string_view who,
                                      const GuardedLayout& layout,
                                      std::size_t count) {
  const std::size_t bytes = layout.stride() * count;
  // MAP_NORESERVE: a stack is mostly untouched, so don't charge all of it
  // against the overcommit limit.
  //
  // Transparent huge pages: a stack is touched a few pages at a time from its
  // top, and a huge page would make the first touch cost 2 MiB of memory.
  // Linux 6.7 and later never back MAP_STACK mappings with them (multi-size
  // THP, 6.8, included); older kernels need MADV_NOHUGEPAGE, but only for a
  // mapping that can hold a huge page at all. Advisory: failure costs memory,
  // not correctness.
  void* memory =
      ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
             MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
  if (memory == MAP_FAILED) {
    return MappingError(who, absl::StrCat("mmap of ", bytes, " bytes"), errno,
                        /*call_splits_mappings=*/false);
  }
  if (bytes >= kSmallestHugePage) ::madvise(memory, bytes, MADV_NOHUGEPAGE);
  auto* begin = static_cast<std::byte*>(memory);
  for (std::size_t i = 0; i < count; ++i) {
    absl::Status status =
        InstallGuard(begin + i * layout.stride(), layout.guard, who);
    if (!status.ok()) {
      ::munmap(memory, bytes);
      return status;
    }
  }
  return begin;
}

void UnmapGuarded(std::byte* memory, const GuardedLayout& layout,
                  std::size_t count) {
  // munmap of a range we mapped can only fail on a corrupted caller; there is
  // nothing useful to do about it, and callers are destructors.
  ::munmap(memory, layout.stride() * count);
}

bool GuardsAreMappingFree() {
  if (guard_mode.load(std::memory_order_relaxed) == GuardMode::kUnknown) {
    const std::size_t page = PageSize();
    void* probe = ::mmap(nullptr, 2 * page, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (probe == MAP_FAILED) return false;  // Unknown; assume the worst.
    // Sets the mode as a side effect, whichever way it goes.
    (void)InstallGuard(static_cast<std::byte*>(probe), page, "guard probe");
    ::munmap(probe, 2 * page);
  }
  return guard_mode.load(std::memory_order_relaxed) == GuardMode::kMadvise;
}

}  // namespace stack_internal
}  // namespace fringe
