#include "fringe/stack/os_stack.h"

#include <cstddef>
#include <string>
#include <utility>

#include "absl/base/config.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "fringe/stack/guard_registry.h"
#include "fringe/stack/internal/guarded_mapping.h"

namespace fringe {

using stack_internal::GuardedLayout;

absl::StatusOr<OsStack> OsStack::Create(std::size_t size,
                                        std::size_t guard_size) {
  // The call as the caller most likely wrote it.
  const std::string who =
      guard_size == kDefaultGuardSize
          ? absl::StrCat("OsStack::Create(", size, ")")
          : absl::StrCat("OsStack::Create(", size, ", ", guard_size, ")");
  absl::StatusOr<GuardedLayout> layout =
      stack_internal::MakeGuardedLayout(who, "size", size, guard_size);
  if (!layout.ok()) return layout.status();
  absl::StatusOr<std::byte*> memory =
      stack_internal::MapGuarded(who, *layout, /*count=*/1);
  if (!memory.ok()) return memory.status();
  // For the stack-overflow report (fringe/debug); a full registry only
  // costs the report, so the result is ignored.
  (void)RegisterGuard(*memory, layout->guard, layout->usable);
  return OsStack(*memory + layout->guard, layout->usable, layout->guard);
}

std::size_t OsStack::DefaultSize() {
  return ScaledForSanitizers(std::size_t{64} << 10);
}

std::size_t OsStack::ScaledForSanitizers(std::size_t size) {
#if defined(ABSL_HAVE_ADDRESS_SANITIZER) || defined(ABSL_HAVE_THREAD_SANITIZER)
  return size * 16;
#else
  return size;
#endif
}

void OsStack::Release() {
  // Before munmap: a later mapping at this address is not our guard.
  UnregisterGuard(limit_ - guard_size_);
  stack_internal::UnmapGuarded(limit_ - guard_size_,
                               GuardedLayout{size_, guard_size_}, 1);
  limit_ = nullptr;
  size_ = 0;
  guard_size_ = 0;
}

}  // namespace fringe
