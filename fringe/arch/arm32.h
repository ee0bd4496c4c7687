// fringe/arch/arm32.h
//
// The ARMv7-A (AAPCS, hard-float EABI, Linux: arm-linux-gnueabihf) context
// switch. Included by fringe/arch/switch.h; see there for the interface and
// the design. The trampolines live in arm32.cc.
//
// What differs from switch.h's design:
//
// - Two instruction sets. Code that inlines the switch may be Thumb-2
//   (Debian's default) or ARM; its frame pointer is r7 in Thumb code and r11
//   in ARM code, and that one is saved by hand, the other clobbered. The
//   resume address carries the caller's instruction set in bit 0 (set for
//   Thumb), and the switch jumps with `bx`, which interworks: a Thumb
//   context resumes in Thumb state whether the switching code is ARM or
//   Thumb. The trampolines are ARM code.
// - The runtime unwinder (libgcc's, behind backtrace(3) and exceptions) reads
//   ARM EHABI tables (.ARM.exidx), not DWARF; gdb reads the DWARF CFI. The
//   trampolines carry both, saying the same thing (arm32.cc).
// - Who restores the frame pointer: the resumed side, not the switching
//   one. A switch jumps with sp still at the target's pair, and the code at
//   the resume address (label 0, or the entry trampoline) pops the pair into
//   its own frame pointer, r7 or r11, which only it knows.
// - The first switch lands 4 bytes into the entry trampoline.
//
// The pair at a suspended context's sp is {frame pointer, resume address},
// 4-byte words; AAPCS has no red zone.
//
// Registers at a switch: r0 carries the word both ways, r2 the target stack
// pointer, r3 the link slot, and r1 returns the stack pointer of whoever
// switched, so at the entry trampoline r0 and r1 are already entry's first
// two arguments. r12 (ip) carries the resume address. Everything else is
// clobbered: r4-r10 and r11 or r7 (whichever is not the frame pointer), lr,
// and d0-d15 (so the callee-saved d8-d15; d16-d31 too where they exist).
// r9 is an ordinary callee-saved register on Linux (AAPCS leaves it to the
// platform), so it is clobbered like the others.
//
// Floating-point control (FPSCR) is the thread's, not a context's: AAPCS
// (section 5.1.2.2, "VFP register usage conventions"): "The FPSCR is the only
// status register that may be accessed by conforming code. It is a global
// register with the following properties: [...] The exception-control bits
// (8-12), rounding mode bits (22-23) and flush-to-zero bits (24) may be
// modified by calls to specific support functions that affect the global
// state of the application." The switch leaves it alone, as on aarch64.

#ifndef FRINGE_ARCH_ARM32_H_
#define FRINGE_ARCH_ARM32_H_

#include <cstdint>

namespace fringe::arch_internal {

// The initial frame's per-CPU constants (switch.h).
inline constexpr std::uintptr_t kLinkTrampolineReturnOffset = 4;
inline constexpr std::uintptr_t kEntryTrampolineLandingOffset = 4;
inline constexpr std::uintptr_t kEntryFramePointerAboveLinkSlot = 0;

// Nothing can stop the switch: 32-bit ARM has no shadow stack.
inline void CheckProcessCanSwitch() {}

#if defined(__thumb__)
#define FRINGE_ARM32_FP "r7"
#define FRINGE_ARM32_NOT_FP "r11"
// `adr` gives the label's address; bit 0 makes `bx` resume in Thumb state.
#define FRINGE_ARM32_THUMB_BIT "orr ip, ip, #1\n\t"
#else
#define FRINGE_ARM32_FP "r11"
#define FRINGE_ARM32_NOT_FP "r7"
#define FRINGE_ARM32_THUMB_BIT ""
#endif

// The switch proper; SwitchAndLink adds one store (LINK) to it. The pair is
// stored with one `stmdb`, which writes lower-numbered registers lower: the
// frame pointer (r7 or r11) below ip (r12), as switch.h's pair wants. The
// resumed side pops the pair itself, at label 0, into its own frame pointer:
// the switching side may be of the other instruction set, whose frame
// pointer is the other register.
#define FRINGE_ARM32_SWITCH_ASM(LINK)                                   \
  "adr ip, 0f\n\t" FRINGE_ARM32_THUMB_BIT /* resume address */          \
  "stmdb sp!, {" FRINGE_ARM32_FP                                        \
  ", ip}\n\t"                                                           \
  "mov r1, sp\n\t" /* hand our stack pointer over */                    \
      LINK                                                              \
  "ldr ip, [r2, #4]\n\t"                                                \
  "mov sp, r2\n\t" /* enter the target stack, at its pair */            \
  "bx ip\n\t"                                                           \
  ".p2align 2\n\t" /* adr's target: word-aligned for Thumb's adr too */ \
  "0:\n\t"                                                              \
  "ldr " FRINGE_ARM32_FP ", [sp], #8\n\t" /* pop our pair */

// d16-d31 exist with NEON (and VFPv3-D32), not on VFPv3-D16 cores.
#if defined(__ARM_NEON) || defined(__ARM_NEON__)
#define FRINGE_ARM32_D32_CLOBBERS                                         \
  , "d16", "d17", "d18", "d19", "d20", "d21", "d22", "d23", "d24", "d25", \
      "d26", "d27", "d28", "d29", "d30", "d31"
#else
#define FRINGE_ARM32_D32_CLOBBERS
#endif
#if defined(__ARM_FP) || defined(__VFP_FP__) && !defined(__SOFTFP__)
#define FRINGE_ARM32_VFP_CLOBBERS                                             \
  , "d0", "d1", "d2", "d3", "d4", "d5", "d6", "d7", "d8", "d9", "d10", "d11", \
      "d12", "d13", "d14", "d15" FRINGE_ARM32_D32_CLOBBERS
#else
#define FRINGE_ARM32_VFP_CLOBBERS
#endif
#define FRINGE_ARM32_CLOBBERS                                                 \
  "r4", "r5", "r6", "r8", "r9", "r10", FRINGE_ARM32_NOT_FP, "ip", "lr", "cc", \
      "memory" FRINGE_ARM32_VFP_CLOBBERS

__attribute__((always_inline)) inline Transfer SwitchAndLink(std::uintptr_t arg,
                                                             StackPointer to,
                                                             void* to_base) {
  // Before the register variables: a call between their initialisation and
  // the asm (LinkSlot() is one at -O0) may overwrite them.
  void* link = LinkSlot(to_base);
  register std::uintptr_t r0 asm("r0") = arg;
  register StackPointer r1 asm("r1");
  register StackPointer r2 asm("r2") = to;
  register void* r3 asm("r3") = link;
  asm volatile(FRINGE_ARM32_SWITCH_ASM("str r1, [r3]\n\t")
               : "+r"(r0), "=r"(r1), "+r"(r2), "+r"(r3)
               :
               : FRINGE_ARM32_CLOBBERS);
  return {r0, r1};
}

__attribute__((always_inline)) inline Transfer Switch(std::uintptr_t arg,
                                                      StackPointer to) {
  register std::uintptr_t r0 asm("r0") = arg;
  register StackPointer r1 asm("r1");
  register StackPointer r2 asm("r2") = to;
  asm volatile(FRINGE_ARM32_SWITCH_ASM("")
               : "+r"(r0), "=r"(r1), "+r"(r2)
               :
               : "r3", FRINGE_ARM32_CLOBBERS);
  return {r0, r1};
}

#undef FRINGE_ARM32_SWITCH_ASM
#undef FRINGE_ARM32_FP
#undef FRINGE_ARM32_NOT_FP
#undef FRINGE_ARM32_THUMB_BIT
#undef FRINGE_ARM32_CLOBBERS
#undef FRINGE_ARM32_VFP_CLOBBERS
#undef FRINGE_ARM32_D32_CLOBBERS

}  // namespace fringe::arch_internal

#endif  // FRINGE_ARCH_ARM32_H_
