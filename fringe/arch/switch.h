// fringe/arch/switch.h
//
// The context switch every fringe generator is built on, for the CPU being
// compiled for. Internal to fringe: users want fringe/generator/generator.h.
//
// A stack pointer names a suspended context. Each CPU file implements, in
// namespace fringe::arch_internal:
//
//   // Lays out a frame just below `base` (kStackAlignment-aligned) so that the
//   // first switch to the returned pointer calls
//   //   entry(arg, resumer, context)
//   // on the new stack, where `arg` is the word passed by that switch and
//   // `resumer` names the context that switched. `entry` must never return.
//   StackPointer InitStack(void* base, EntryFunction entry, void* context);
//
//   // Suspends the running context and runs `to`, handing it `arg`. Returns
//   // when some context switches back, with its word and its stack pointer.
//   Transfer Switch(std::uintptr_t arg, StackPointer to);
//
//   // Like Switch, and also records where the running context suspended in
//   // the link slot of the stack whose base is `to_base`, so that debuggers
//   // and unwinders walk from that stack's frames into the switching one's.
//   Transfer SwitchAndLink(std::uintptr_t arg, StackPointer to, void* to_base);
//
// Both switches are inline assembly that declares every register clobbered
// except the stack and frame pointers and the words passed, so the compiler
// saves only what is live across the switch, and the switch inlines into its
// caller. This header needs no OS, heap or exceptions.

#ifndef FRINGE_ARCH_SWITCH_H_
#define FRINGE_ARCH_SWITCH_H_

// x32 (-mx32) defines __x86_64__ but has 4-byte pointers, and the x86_64
// switch's frames and offsets assume 8-byte ones. Checked before any #include
// so that this, not a missing x32 libc header, is what the user reads.
#if defined(__x86_64__) && defined(__ILP32__)
#error "fringe: x32 (-mx32) is not supported; build for x86_64 or i686"
#endif

#include <cstdint>

namespace fringe::arch_internal {

// A suspended context: the stack pointer it left behind.
using StackPointer = void*;

// What a switch returns: the word handed over and who handed it.
struct Transfer {
  std::uintptr_t arg;
  StackPointer from;
};

using EntryFunction = void (*)(std::uintptr_t arg, StackPointer resumer,
                               void* context);

}  // namespace fringe::arch_internal

// Exactly one of these is compiled in; //fringe/arch:arch selects the files by
// @platforms//cpu, and the compiler's own macros pick the matching header.
#if defined(_WIN32) && defined(__x86_64__)
// Windows: fibers, not a hand-made switch (see the file for why).
#include "fringe/arch/windows_fiber.h"  // IWYU pragma: export
#elif defined(__x86_64__)
#include "fringe/arch/x86_64.h"  // IWYU pragma: export
#elif defined(__i386__)
#include "fringe/arch/x86.h"  // IWYU pragma: export
#elif defined(__aarch64__)
#include "fringe/arch/aarch64.h"  // IWYU pragma: export
#elif defined(__riscv) && __riscv_xlen == 64
#include "fringe/arch/riscv64.h"  // IWYU pragma: export
#else
#error "fringe: unsupported CPU; supported: x86_64, x86_32 (i686), aarch64, riscv64"
#endif

#endif  // FRINGE_ARCH_SWITCH_H_
