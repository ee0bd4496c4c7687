// fringe/arch/aarch64.h
//
// The AArch64 (AAPCS64, Linux) context switch. Included by
// fringe/arch/switch.h; see there for the interface. The trampolines and
// InitStack live in aarch64.cc.
//
// Initial frame laid out by InitStack, addresses relative to the (16-byte
// aligned) stack base:
//
//   base -  8  context            loaded into x2 (third argument of entry)
//   base - 16  entry              called (blr) by the entry trampoline
//   base - 24  __morestack + 4    lr half of the entry trampoline's frame
//                                 record: unwinders see __morestack as its
//                                 caller (the link trampoline)
//   base - 32  link slot          fp half of that frame record; every
//                                 SwitchAndLink stores the resumer's frame
//                                 record address here, so the link
//                                 trampoline's CFI leads unwinders into the
//                                 resumer's frames
//   base - 40  entry trampoline   first switch loads it and branches there
//   base - 48  base - 32          first switch loads it into x29
//                                 <- initial stack pointer
//
// A suspended context's stack, from the stack pointer it hands over upwards,
// is an ordinary AAPCS64 frame record, so frame-pointer walkers follow it:
//
//   sp +  0    saved x29
//   sp +  8    resume address     (label 0 of the switch that suspended)
//   sp + 16    the suspended code's own sp
//
// There is no red zone on AArch64 Linux: nothing below sp is live.
//
// Registers at a switch: x0 carries the word both ways, x2 the target stack
// pointer, x3 the link slot, and x1 returns the stack pointer of whoever
// switched. At the entry trampoline x0 and x1 are therefore already entry's
// first two arguments. Everything else is clobbered, including x18: GCC and
// Clang allocate it as a temporary on Linux (the "platform register" is
// reserved only where the OS says so), so another context may change it.

#ifndef FRINGE_ARCH_AARCH64_H_
#define FRINGE_ARCH_AARCH64_H_

#include <cstdint>

namespace fringe::arch_internal {

StackPointer InitStack(void* base, EntryFunction entry, void* context);

// The switch proper; SwitchAndLink adds one store (LINK) to it.
//
// Why br and not ret: ret predicts from the return-address stack, which never
// saw a bl for this address, so it would mispredict on every switch; br uses
// the indirect predictor, which learns the ping-pong between two contexts.
// Why one stp/ldp pair: sp must stay 16-byte aligned whenever it is used as
// a base register, and {x29, resume address} is exactly one aligned pair.
#define FRINGE_AARCH64_SWITCH_ASM(LINK)                                \
  "adr x4, 0f\n\t"               /* resume address */                  \
  "stp x29, x4, [sp, #-16]!\n\t" /* frame record: fp, then "lr" */     \
  "mov x1, sp\n\t"               /* hand our stack pointer over */     \
      LINK                                                             \
  "ldp x29, x4, [x2]\n\t"                                              \
  "add sp, x2, #16\n\t" /* enter the target stack, above its record */ \
  "br x4\n\t"                                                          \
  "0:\n\t"

// Everything the switch does not handle by hand. x29 is saved by hand
// (compilers refuse the frame pointer as a clobber), sp is the switch itself,
// x0-x3 are operands. Clobbering v0-v31 makes the compiler save d8-d15, the
// callee-saved halves, in the functions that use them. x30 (lr) is clobbered
// because the other context's code ran meanwhile.
#if defined(__ARM_FEATURE_SVE)
#define FRINGE_AARCH64_SVE_CLOBBERS                                           \
  , "p0", "p1", "p2", "p3", "p4", "p5", "p6", "p7", "p8", "p9", "p10", "p11", \
      "p12", "p13", "p14", "p15", "ffr"
#else
#define FRINGE_AARCH64_SVE_CLOBBERS
#endif
#define FRINGE_AARCH64_CLOBBERS                                                \
  "x4", "x5", "x6", "x7", "x8", "x9", "x10", "x11", "x12", "x13", "x14",       \
      "x15", "x16", "x17", "x18", "x19", "x20", "x21", "x22", "x23", "x24",    \
      "x25", "x26", "x27", "x28", "x30", "v0", "v1", "v2", "v3", "v4", "v5",   \
      "v6", "v7", "v8", "v9", "v10", "v11", "v12", "v13", "v14", "v15", "v16", \
      "v17", "v18", "v19", "v20", "v21", "v22", "v23", "v24", "v25", "v26",    \
      "v27", "v28", "v29", "v30", "v31", "cc",                                 \
      "memory" FRINGE_AARCH64_SVE_CLOBBERS

__attribute__((always_inline)) inline Transfer SwitchAndLink(std::uintptr_t arg,
                                                             StackPointer to,
                                                             void* to_base) {
  register std::uintptr_t x0 asm("x0") = arg;
  register StackPointer x1 asm("x1");
  register StackPointer x2 asm("x2") = to;
  // The link slot sits 32 bytes below the base (see the drawing above).
  register void* x3 asm("x3") = static_cast<char*>(to_base) - 32;
  asm volatile(FRINGE_AARCH64_SWITCH_ASM("str x1, [x3]\n\t")
               : "+r"(x0), "=r"(x1), "+r"(x2), "+r"(x3)
               :
               : FRINGE_AARCH64_CLOBBERS);
  return {x0, x1};
}

__attribute__((always_inline)) inline Transfer Switch(std::uintptr_t arg,
                                                      StackPointer to) {
  register std::uintptr_t x0 asm("x0") = arg;
  register StackPointer x1 asm("x1");
  register StackPointer x2 asm("x2") = to;
  asm volatile(FRINGE_AARCH64_SWITCH_ASM("")
               : "+r"(x0), "=r"(x1), "+r"(x2)
               :
               : "x3", FRINGE_AARCH64_CLOBBERS);
  return {x0, x1};
}

#undef FRINGE_AARCH64_SWITCH_ASM
#undef FRINGE_AARCH64_CLOBBERS
#undef FRINGE_AARCH64_SVE_CLOBBERS

}  // namespace fringe::arch_internal

#endif  // FRINGE_ARCH_AARCH64_H_
