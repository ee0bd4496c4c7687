// fringe/stack/stack.h
//
// The `Stack` concept: a block of memory that a generator runs on. A stack is
// described by two addresses, `base()` (one past the highest usable byte,
// aligned to `kStackAlignment`) and `limit()` (the lowest usable byte); stacks
// grow down from `base()` towards `limit()` on every CPU fringe supports.
//
// Allocators that satisfy the concept live next to this file: `OsStack`
// (mmap + guard), `OwnedStack` (heap), `SliceStack` (caller's memory) and
// `StackPool`'s `PooledStack`. A user type works too:
//
//   struct MyStack {
//     void* base() const { return top_; }
//     void* limit() const { return bottom_; }
//     ...  // movable
//   };
//   static_assert(fringe::Stack<MyStack>);
//
// This header needs no OS and no heap; it is part of fringe's freestanding
// core.

#ifndef FRINGE_STACK_STACK_H_
#define FRINGE_STACK_STACK_H_

// One clear error instead of dozens from the C++20 below it.
#if __cplusplus < 202002L
#error "fringe needs C++20: compile with -std=c++20 (Bazel: add build --cxxopt=-std=c++20 --host_cxxopt=-std=c++20 to your .bazelrc)"
#else

#include <concepts>
#include <cstddef>

namespace fringe {

// Every ABI fringe supports (x86_64 SysV, i386 SysV with SSE, AAPCS64, RISC-V
// LP64D) wants the stack pointer 16-byte aligned at call boundaries.
inline constexpr std::size_t kStackAlignment = 16;

// How many bytes below limit() fringe's guarded stacks (`OsStack`,
// `StackPool`) make trap, unless asked otherwise. A frame is allocated by
// moving the stack pointer down by its size at once; code built without
// -fstack-clash-protection then first stores wherever the frame's variables
// are (a local buffer from its start: its lowest address), possibly a whole
// frame below the last touched byte. A guard smaller than the frame is jumped
// and the store lands in whatever lies below: with fringe's allocators,
// another stack. So the guard must be at least as big as the biggest frame
// that may overflow:
// - 64-bit CPUs: 64 KiB. Covers the big local buffers ordinary code has
//   (PATH_MAX, BUFSIZ, 16-32 KiB scratch arrays), and is what gcc's AArch64
//   -fstack-clash-protection assumes (it probes only every 64 KiB, so a
//   smaller guard is jumped even by protected code). The cost is address
//   space only, of which 64-bit processes have terabytes.
// - 32-bit CPUs: 16 KiB. Address space is the scarce resource there (3-4 GiB
//   in all): with 16 KiB stacks, a 64 KiB guard would make 80% of every
//   pool's address space guard. 16 KiB still covers the common buffers
//   (PATH_MAX + BUFSIZ), and gcc's i686 stack-clash probes need one page.
inline constexpr std::size_t kDefaultGuardSize =
    sizeof(void*) >= 8 ? std::size_t{64} << 10 : std::size_t{16} << 10;

template <typename S>
concept Stack = std::movable<S> && requires(const S& s) {
  { s.base() } -> std::same_as<void*>;
  { s.limit() } -> std::same_as<void*>;
};

// Opt-in trait: true for stacks whose memory just below limit() traps on
// access, so that an overflow kills the process instead of corrupting memory
// (for fringe's own, the kDefaultGuardSize bytes below it, or the guard_size
// asked for).
// `Generator`'s plain constructor accepts only such stacks.
template <typename S>
inline constexpr bool kIsGuardedStack = false;

}  // namespace fringe

#endif  // __cplusplus < 202002L

#endif  // FRINGE_STACK_STACK_H_
