#include "fringe/stack/slice_stack.h"

#include <cstddef>
#include <cstdint>
#include <span>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "fringe/stack/stack.h"

namespace fringe {
namespace stack_internal {

absl::Status SliceTooSmallError(std::span<std::byte> memory) {
  return absl::InvalidArgumentError(absl::StrCat(
      "SliceStack::Create: a span of ", memory.size(), " bytes at 0x",
      absl::Hex(reinterpret_cast<std::uintptr_t>(memory.data())), " holds no ",
      kStackAlignment, "-byte-aligned block of ", kStackAlignment,
      " bytes or more"));
}

}  // namespace stack_internal
}  // namespace fringe
