// fringe/arch/switch.h
//
// The context switch every fringe generator is built on, for the CPU being
// compiled for. Internal to fringe: users want fringe/generator/generator.h.
//
// A stack pointer names a suspended context. In namespace
// fringe::arch_internal:
//
//   // Lays out the initial frame (below) just below `base` (16-byte aligned)
//   // so that the first switch to the returned pointer calls
//   //   entry(arg, resumer, context)
//   // on the new stack, where `arg` is the word passed by that switch and
//   // `resumer` names the context that switched. `entry` must never return.
//   // One implementation for every CPU, at the end of this file.
//   StackPointer InitStack(void* base, EntryFunction entry, void* context);
//
//   // Suspends the running context and runs `to`, handing it `arg` and `fp`
//   // (the running context's FP control state, where that is per context:
//   // cpu_state.h). Returns when some context switches back, with its word,
//   // its stack pointer and its `fp`. Contexts that do not keep their own
//   // FP control state pass none and ignore what arrives.
//   Transfer Switch(std::uintptr_t arg, StackPointer to, FpControl fp = {});
//
//   // Like Switch, and also records where the running context suspended in
//   // the link slot of the stack whose base is `to_base`, so that debuggers
//   // and unwinders walk from that stack's frames into the switching one's.
//   Transfer SwitchAndLink(std::uintptr_t arg, StackPointer to, void* to_base,
//                          FpControl fp = {});
//
// The design every CPU shares (each CPU's header says only what differs):
//
// The switch. Inline assembly that declares every register clobbered except
// the stack and frame pointers and the words passed, so the compiler saves
// only what is live across the switch, and the switch inlines into its
// caller. By hand it saves just the frame pointer and a resume address (label
// 0 of the switch), as a pair at the stack pointer it hands over, which is
// then the suspended context:
//
//   sp + 0     saved frame pointer
//   sp + W     resume address       (W = sizeof(void*))
//   sp + 2W    the suspended code's own stack (some CPUs skip a red zone)
//
// To resume a context the switch loads that pair, moves the stack pointer
// above it and jumps to the resume address with an indirect branch, never a
// return: the return-address predictor never saw a call for that address and
// would mispredict every switch; the indirect predictor learns the ping-pong.
//
// The initial frame InitStack lays out (W-byte words, base 16-byte aligned):
//
//   base - 1W  context              entry's third argument
//   base - 2W  entry                called by the entry trampoline
//   base - 3W  __morestack          return address of the entry trampoline's
//              + kLinkTrampolineReturnOffset      frame: unwinders see the
//                                   link trampoline as its caller
//   base - 4W  link slot            saved frame pointer of that frame, zero
//              (kLinkSlotOffset)    until the first SwitchAndLink, which
//                                   stores the resumer's suspended-context
//                                   address here (and every later one too)
//   base - 5W  entry trampoline     resume address of the first switch
//              + kEntryTrampolineLandingOffset
//   base - 6W  link slot            frame pointer of the first switch; the
//              + kEntryFramePointerAboveLinkSlot   entry trampoline keeps it
//                                   <- initial stack pointer
//
// The first switch pops the last two words as it would a suspended context's
// pair and lands in the entry trampoline with the stack pointer at the link
// slot and the word and resumer already in place; the trampoline calls
// entry(arg, resumer, context) and never returns.
//
// While a generator runs, its resumer's stack is a suspended context whose
// pair the link slot points at (the resumer's switch stored it there):
//
//   resumer's frames ...            <- resumer's own stack pointer (its CFA)
//   [red zone skipped, x86_64]
//   resume address                  link + W
//   resumer's frame pointer         link + 0  <- link slot value
//
// Unwinding a generator's stack therefore goes: entry's frames -> the entry
// trampoline (CFI: its caller's frame pointer is the link slot, its return
// address is the planted __morestack + offset) -> __morestack, the link
// trampoline, whose CFI says: CFA = link slot value + 2W (+ red zone),
// return address at link + W, frame pointer at link + 0 -> the resumer's
// frame at the switch's resume address -> the resumer's callers. So
// backtrace(3), _Unwind_Backtrace, C++ exceptions and gdb see one stack.
// Frame-pointer walkers follow the same chain, and a zero link slot ends it.
//
// Why the name __morestack (a local symbol in each CPU's .cc, never
// executed): gdb stops a backtrace whose frame addresses jump "inwards" (to
// a lower CFA), which the hop from a generator's stack to its resumer's may
// do, except across a function named __morestack (gcc's -fsplit-stack chains
// its stack segments through it). Our stacks are not ordered.
//
// This header needs no OS, heap or exceptions.
//
// Porting a CPU: see fringe/arch/README.md.

#ifndef FRINGE_ARCH_SWITCH_H_
#define FRINGE_ARCH_SWITCH_H_

// x32 (-mx32) defines __x86_64__ but has 4-byte pointers, and the x86_64
// switch's frames and offsets assume 8-byte ones. Checked before any #include
// so that this, not a missing x32 libc header, is what the user reads.
#if defined(__x86_64__) && defined(__ILP32__)
#error "fringe: x32 (-mx32) is not supported; build for x86_64 or i686"
#endif

#include <cstddef>
#include <cstdint>

#include "fringe/arch/cpu_state.h"

namespace fringe::arch_internal {

// A suspended context: the stack pointer it left behind.
using StackPointer = void*;

// What a switch returns: the word handed over, who handed it, and its FP
// control state (empty where that is the thread's).
struct Transfer {
  std::uintptr_t arg;
  StackPointer from;
  FpControl fp = {};
};

using EntryFunction = void (*)(std::uintptr_t arg, StackPointer resumer,
                               void* context);

// Where the link slot sits: this many bytes below the base passed to
// InitStack and SwitchAndLink (the fourth word; see the drawing above).
inline constexpr std::size_t kLinkSlotOffset = 4 * sizeof(void*);

// The link slot of the stack whose base is `base`: the suspended context
// that last resumed it with SwitchAndLink (null before the first).
__attribute__((always_inline)) inline StackPointer* LinkSlot(void* base) {
  return reinterpret_cast<StackPointer*>(static_cast<char*>(base) -
                                         kLinkSlotOffset);
}

// The two trampolines InitStack plants, defined next to their assembly in
// the CPU's .cc: __morestack is a local symbol only that file can name.
struct Trampolines {
  void (*link)();   // __morestack
  void (*entry)();  // fringe_arch_<cpu>_entry_trampoline
};
extern const Trampolines kTrampolines;

}  // namespace fringe::arch_internal

// Exactly one of these is compiled in; //fringe/arch:arch selects the files by
// @platforms//cpu, and the compiler's own macros pick the matching header.
// Each defines, besides Switch and SwitchAndLink:
//   kLinkTrampolineReturnOffset    bytes into __morestack of the planted
//                                  return address (past its first
//                                  instruction: unwinders look up address - 1)
//   kEntryTrampolineLandingOffset  bytes into the entry trampoline where the
//                                  first switch lands (off the symbol's first
//                                  byte, on a landing pad where there are)
//   kEntryFramePointerAboveLinkSlot  bytes above the link slot that the entry
//                                  trampoline's frame pointer points (0 where
//                                  a frame pointer points at the saved pair,
//                                  2W where it points above it, as riscv64's)
//   CheckProcessCanSwitch()        what InitStack checks first (shadow
//                                  stacks); empty where nothing can stop it
#if defined(_WIN32) && defined(__x86_64__)
// Windows: fibers, not a hand-made switch (see the file for why).
#include "fringe/arch/windows_fiber.h"  // IWYU pragma: export
#elif defined(__x86_64__)
#include "fringe/arch/x86_64.h"  // IWYU pragma: export
#elif defined(__i386__)
#include "fringe/arch/x86_32.h"  // IWYU pragma: export
#elif defined(__aarch64__)
#include "fringe/arch/aarch64.h"  // IWYU pragma: export
#elif defined(__riscv) && __riscv_xlen == 64
#include "fringe/arch/riscv64.h"  // IWYU pragma: export
#elif defined(__arm__)
#include "fringe/arch/arm32.h"  // IWYU pragma: export
#elif defined(__powerpc64__) && defined(__LITTLE_ENDIAN__) && _CALL_ELF == 2
#include "fringe/arch/ppc64le.h"  // IWYU pragma: export
#elif defined(__s390x__)
#include "fringe/arch/s390x.h"  // IWYU pragma: export
#elif defined(__mips64) && defined(__MIPSEL__) && _MIPS_SIM == _ABI64
#include "fringe/arch/mips64el.h"  // IWYU pragma: export
#else
#error \
    "fringe: unsupported CPU; supported: x86_64, x86_32 (i686), aarch64, riscv64, arm32, ppc64le, s390x, mips64el"
#endif

namespace fringe::arch_internal {

#if !FRINGE_ARCH_FP_CONTROL_PER_CONTEXT
// Where FP control state is the thread's, nothing travels with a switch.
__attribute__((always_inline)) inline Transfer SwitchAndLink(std::uintptr_t arg,
                                                             StackPointer to,
                                                             void* to_base,
                                                             FpControl) {
  return SwitchAndLink(arg, to, to_base);
}
__attribute__((always_inline)) inline Transfer Switch(std::uintptr_t arg,
                                                      StackPointer to,
                                                      FpControl) {
  return Switch(arg, to);
}
#endif

}  // namespace fringe::arch_internal

#if !defined(_WIN32)
namespace fringe::arch_internal {

// Lays out the initial frame drawn above. Inline, with the shadow-stack
// check's fast path: as a call into fringe/arch (and from there into the
// check) it cost ~1 ns of the ~20 ns a generator's whole life costs
// (BM_FringeCallOnGivenStack).
inline StackPointer InitStack(void* base, EntryFunction entry, void* context) {
  CheckProcessCanSwitch();
  auto* top = static_cast<std::uintptr_t*>(base);
  auto link = reinterpret_cast<std::uintptr_t>(LinkSlot(base));
  static_assert(kLinkSlotOffset == 4 * sizeof(*top));
  top[-1] = reinterpret_cast<std::uintptr_t>(context);
  top[-2] = reinterpret_cast<std::uintptr_t>(entry);
  top[-3] = reinterpret_cast<std::uintptr_t>(kTrampolines.link) +
            kLinkTrampolineReturnOffset;
  top[-4] = 0;  // The link slot; a zero frame pointer ends frame-pointer walks.
  top[-5] = reinterpret_cast<std::uintptr_t>(kTrampolines.entry) +
            kEntryTrampolineLandingOffset;
  top[-6] = link + kEntryFramePointerAboveLinkSlot;
  return top - 6;
}

}  // namespace fringe::arch_internal
#endif

#endif  // FRINGE_ARCH_SWITCH_H_
