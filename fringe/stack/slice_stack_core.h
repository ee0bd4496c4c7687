// fringe/stack/slice_stack_core.h
//
// `SliceStack` without Abseil: a stack in memory the caller owns (a static
// array, a region of SRAM, part of a larger buffer). Nothing is ever freed,
// and there is no guard page. This header needs no OS, heap, exceptions or
// Abseil, so it is what fringe's freestanding core (bare metal, built with
// -ffreestanding -fno-exceptions) uses; hosted code normally includes
// slice_stack.h and calls `SliceStack::Create`, which reports errors as
// absl::Status.
//
//   alignas(16) static std::byte memory[4096];
//   std::optional<fringe::SliceStack> stack =
//       fringe::SliceStack::FromSpan(memory);
//   if (!stack) Panic("stack memory too small");
//   fringe::Generator<void, int, fringe::SliceStack> gen(
//       fringe::kUnguarded, *std::move(stack), body);

#ifndef FRINGE_STACK_SLICE_STACK_CORE_H_
#define FRINGE_STACK_SLICE_STACK_CORE_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <utility>

#include "fringe/stack/stack.h"

namespace fringe {

class SliceStack {
 public:
  // Uses the largest kStackAlignment-aligned part of `memory`: the span is
  // shrunk to kStackAlignment at both ends. Returns nullopt if nothing usable
  // is left. `memory` must outlive the SliceStack and everything running on
  // it.
  static std::optional<SliceStack> FromSpan(std::span<std::byte> memory) {
    const std::uintptr_t begin =
        reinterpret_cast<std::uintptr_t>(memory.data());
    // Bytes to skip to reach alignment, computed without forming a pointer
    // past the end of `memory`.
    const std::size_t skip = static_cast<std::size_t>(
        (kStackAlignment - begin % kStackAlignment) % kStackAlignment);
    if (memory.size() <= skip) return std::nullopt;
    const std::size_t usable =
        (memory.size() - skip) / kStackAlignment * kStackAlignment;
    if (usable == 0) return std::nullopt;
    return SliceStack(memory.data() + skip, usable);
  }

  // Same as FromSpan, reporting "nothing usable left" as InvalidArgumentError
  // that names the span's size. Returns absl::StatusOr<SliceStack>; defined in
  // slice_stack.h (target :slice_stack), the only place that needs Abseil.
  static inline auto Create(std::span<std::byte> memory);

  // Move-only, so that two stacks never share memory by accident. A moved-from
  // SliceStack is empty: base() and limit() are null and size() is 0.
  constexpr SliceStack(SliceStack&& other) noexcept
      : limit_(std::exchange(other.limit_, nullptr)),
        size_(std::exchange(other.size_, 0)) {}
  constexpr SliceStack& operator=(SliceStack&& other) noexcept {
    limit_ = std::exchange(other.limit_, nullptr);
    size_ = std::exchange(other.size_, 0);
    return *this;
  }
  SliceStack(const SliceStack&) = delete;
  SliceStack& operator=(const SliceStack&) = delete;

  void* base() const { return limit_ == nullptr ? nullptr : limit_ + size_; }
  void* limit() const { return limit_; }
  // Usable bytes: base() - limit(), a multiple of kStackAlignment.
  constexpr std::size_t size() const { return size_; }

 private:
  constexpr SliceStack(std::byte* limit, std::size_t size)
      : limit_(limit), size_(size) {}

  std::byte* limit_ = nullptr;
  std::size_t size_ = 0;
};

static_assert(Stack<SliceStack>);
static_assert(!kIsGuardedStack<SliceStack>);

}  // namespace fringe

#endif  // FRINGE_STACK_SLICE_STACK_CORE_H_
