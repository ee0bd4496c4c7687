// OsStack on Windows: a fiber's stack (os_stack.h, and README "Windows").

#include <cstddef>
#include <string>
#include <utility>

#include "absl/base/config.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "fringe/stack/internal/fiber_stack.h"
#include "fringe/stack/os_stack.h"

namespace fringe {

absl::StatusOr<OsStack> OsStack::Create(std::size_t size,
                                        std::size_t guard_size) {
  // The call as the caller most likely wrote it.
  const std::string who =
      guard_size == kDefaultGuardSize
          ? absl::StrCat("OsStack::Create(", size, ")")
          : absl::StrCat("OsStack::Create(", size, ", ", guard_size, ")");
  absl::StatusOr<stack_internal::FiberStack*> fiber =
      stack_internal::FiberStack::Create(who, size, guard_size);
  if (!fiber.ok()) return fiber.status();
  auto* limit = static_cast<std::byte*>((*fiber)->limit);
  OsStack stack(limit, static_cast<std::byte*>((*fiber)->base) - limit,
                guard_size);
  stack.fiber_ = *fiber;
  return stack;
}

std::size_t OsStack::DefaultSize() { return std::size_t{64} << 10; }

void OsStack::Release() {
  stack_internal::FiberStack::Destroy(fiber_);
  fiber_ = nullptr;
  limit_ = nullptr;
  size_ = 0;
  guard_size_ = 0;
}

}  // namespace fringe
