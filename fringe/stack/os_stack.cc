#include "fringe/stack/os_stack.h"

#include <sys/mman.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>

#include "absl/base/config.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "fringe/stack/guard_registry.h"
#include "fringe/stack/internal/os_memory.h"

namespace fringe {

absl::StatusOr<OsStack> OsStack::Create(std::size_t size) {
  const std::string who = absl::StrCat("OsStack::Create(", size, ")");
  if (size == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(who, ": size must be positive"));
  }
  const std::size_t guard = stack_internal::PageSize();
  const std::optional<std::size_t> usable =
      stack_internal::RoundUpToPages(size);
  if (!usable.has_value() || *usable > SIZE_MAX - guard) {
    return absl::ResourceExhaustedError(
        absl::StrCat(who, ": size rounded up to whole pages plus a ", guard,
                     "-byte guard page does not fit in the address space"));
  }
  const std::size_t total = *usable + guard;

  // MAP_NORESERVE: a stack is mostly untouched, so don't charge all of it
  // against the overcommit limit. MAP_STACK: recent kernels then never back
  // it with transparent huge pages, which would make every touch cost 2 MiB.
  void* memory =
      ::mmap(nullptr, total, PROT_READ | PROT_WRITE,
             MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
  if (memory == MAP_FAILED) {
    return stack_internal::MappingError(who, "mmap", errno,
                                        /*call_splits_mappings=*/false);
  }
  if (::mprotect(memory, guard, PROT_NONE) != 0) {
    const int error = errno;
    ::munmap(memory, total);
    return stack_internal::MappingError(who, "mprotect of the guard page",
                                        error, /*call_splits_mappings=*/true);
  }
  // For the stack-overflow report (fringe/debug); a full registry only
  // costs the report, so the result is ignored.
  (void)RegisterGuard(memory, guard, *usable);
  return OsStack(static_cast<std::byte*>(memory) + guard, *usable, guard);
}

std::size_t OsStack::DefaultSize() {
#if defined(ABSL_HAVE_ADDRESS_SANITIZER) || defined(ABSL_HAVE_THREAD_SANITIZER)
  return std::size_t{1} << 20;
#else
  return std::size_t{64} << 10;
#endif
}

OsStack::OsStack(OsStack&& other) noexcept
    : limit_(std::exchange(other.limit_, nullptr)),
      size_(std::exchange(other.size_, 0)),
      guard_size_(std::exchange(other.guard_size_, 0)) {}

OsStack& OsStack::operator=(OsStack&& other) noexcept {
  if (this != &other) {
    Release();
    limit_ = std::exchange(other.limit_, nullptr);
    size_ = std::exchange(other.size_, 0);
    guard_size_ = std::exchange(other.guard_size_, 0);
  }
  return *this;
}

OsStack::~OsStack() { Release(); }

void OsStack::Release() {
  if (limit_ == nullptr) return;
  // Before munmap: a later mapping at this address is not our guard page.
  UnregisterGuard(limit_ - guard_size_);
  // munmap of a range we mapped can only fail on a corrupted object; there is
  // nothing useful to do about it in a destructor.
  ::munmap(limit_ - guard_size_, guard_size_ + size_);
  limit_ = nullptr;
  size_ = 0;
  guard_size_ = 0;
}

}  // namespace fringe
