// fringe/stack/stack.h
//
// The `Stack` concept: a block of memory that a generator runs on. A stack is
// described by two addresses, `base()` (one past the highest usable byte,
// aligned to `kStackAlignment`) and `limit()` (the lowest usable byte); stacks
// grow down from `base()` towards `limit()` on every CPU fringe supports.
//
// Allocators that satisfy the concept live next to this file: `OsStack`
// (mmap + guard page), `OwnedStack` (heap), `SliceStack` (caller's memory) and
// `StackPool`'s `PooledStack`. A user type works too:
//
//   struct MyStack {
//     void* base() const { return top_; }
//     void* limit() const { return bottom_; }
//     ...  // movable
//   };
//   static_assert(fringe::Stack<MyStack>);
//
// This header needs no OS and no heap; it is part of fringe's freestanding core.

#ifndef FRINGE_STACK_STACK_H_
#define FRINGE_STACK_STACK_H_

#include <concepts>
#include <cstddef>

namespace fringe {

// Every ABI fringe supports (x86_64 SysV, i386 SysV with SSE, AAPCS64, RISC-V
// LP64D) wants the stack pointer 16-byte aligned at call boundaries.
inline constexpr std::size_t kStackAlignment = 16;

template <typename S>
concept Stack = std::movable<S> && requires(const S& s) {
  { s.base() } -> std::same_as<void*>;
  { s.limit() } -> std::same_as<void*>;
};

// Opt-in trait: true for stacks whose memory just below limit() traps on
// access, so that an overflow kills the process instead of corrupting memory.
// `Generator`'s plain constructor accepts only such stacks.
template <typename S>
inline constexpr bool kIsGuardedStack = false;

}  // namespace fringe

#endif  // FRINGE_STACK_STACK_H_
