// fringe/stack/slice_stack.h
//
// `SliceStack`: a stack in memory the caller owns, created with
// `SliceStack::Create`, which reports a span too small to hold an aligned
// stack as absl::InvalidArgumentError. The memory is never freed and has no
// guard page, so `Generator` accepts a SliceStack only through its
// `kUnguarded` constructor. Code that must build without Abseil (fringe's
// freestanding core) includes slice_stack_core.h and uses
// `SliceStack::FromSpan` instead.
//
//   static std::byte memory[16 * 1024];
//   absl::StatusOr<fringe::SliceStack> stack =
//       fringe::SliceStack::Create(memory);
//   if (!stack.ok()) return stack.status();
//   fringe::Generator<void, int, fringe::SliceStack> gen(
//       fringe::kUnguarded, *std::move(stack), body);

#ifndef FRINGE_STACK_SLICE_STACK_H_
#define FRINGE_STACK_SLICE_STACK_H_

#include <cstddef>
#include <optional>
#include <span>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "fringe/stack/slice_stack_core.h"

namespace fringe {
namespace stack_internal {

// The error for a span with no usable aligned space; out of line so that the
// message formatting is not inlined into every caller.
absl::Status SliceTooSmallError(std::span<std::byte> memory);

}  // namespace stack_internal

// Declared `auto` in slice_stack_core.h so that header needs no Abseil; the
// definition fixes the return type.
inline auto SliceStack::Create(std::span<std::byte> memory) {
  std::optional<SliceStack> stack = FromSpan(memory);
  if (!stack.has_value()) {
    return absl::StatusOr<SliceStack>(
        stack_internal::SliceTooSmallError(memory));
  }
  return absl::StatusOr<SliceStack>(*std::move(stack));
}

}  // namespace fringe

#endif  // FRINGE_STACK_SLICE_STACK_H_
