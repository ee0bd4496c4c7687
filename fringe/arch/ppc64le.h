// fringe/arch/ppc64le.h
//
// The POWER (64-bit little-endian, ELFv2 ABI, Linux: powerpc64le-linux-gnu)
// context switch. Included by fringe/arch/switch.h; see there for the
// interface and the design. The trampolines live in ppc64le.cc.
//
// What differs from switch.h's design:
//
// - A suspended context skips the 288-byte protected zone below the
//   suspended code's r1 (the ELFv2 "red zone", which leaf functions use
//   without allocating a frame), and holds more than the pair:
//
//     sp +   0   saved r31          (GCC's frame pointer)
//     sp +   8   resume address
//     sp +  16   the suspended code's r1   } a frame header as glibc's
//     sp +  24   saved r2 (the TOC)        } backtrace(3) walks it: back
//     sp +  32   resume address again      } chain at +0, return address
//     sp +  40   (padding)                 } at +16
//     sp +  48   288 bytes skipped  the protected zone
//     sp + 336   the suspended code's own r1
//
//   SwitchAndLink stores sp + 16 in the link slot: glibc's backtrace(3)
//   does not read DWARF on POWER but walks the back chain, and the link
//   slot is the back-chain word of the entry trampoline's frame, so the
//   walk goes from the generator's stack through that header into the
//   resumer's frames. __morestack's CFI (for exceptions, _Unwind_Backtrace
//   and gdb) starts from the same value: CFA = link + 320.
// - r2, the TOC pointer, is saved and restored by hand: the other context
//   may be code of another module with another TOC, and compilers refuse
//   r2 as a clobber.
// - The resumed side pops its own words (r31, r2, r1 += 336) at label 0; the
//   switch jumps with r1 at the target's pair.
// - The entry trampoline's frame header (ELFv2: the callee stores CR at
//   +8, LR at +16, the TOC at +24 of its caller's frame) is the link slot
//   and the three words above it, which InitStack filled with __morestack
//   + 4, entry and context: the trampoline reads entry and context first,
//   and its CFI takes its return address (__morestack + 4) from r30, which
//   entry saves, since entry's CR save overwrites that word.
// - The first switch lands 4 bytes into the entry trampoline.
//
// Registers at a switch: r3 carries the word both ways, r5 the target stack
// pointer, r6 the link slot, and r4 returns the stack pointer of whoever
// switched, so at the entry trampoline r3 and r4 are already entry's first
// two arguments. The jump is mtctr + bctr (bctr is predicted by the count
// cache; a blr would mispredict on the link stack). Everything else is
// clobbered: r0, r7-r12, r14-r30, lr, ctr, xer, cr0-cr7 (so the callee-saved
// cr2-cr4), f0-f31 and v0-v31, which together are VSX's vs0-vs63 (so the
// callee-saved f14-f31 and v20-v31; GCC names the FPRs "fr0"-"fr31"). r13
// is the thread pointer.
//
// Floating-point control (FPSCR): the ELFv2 ABI ("Register Roles" and
// "Limited-Access Bits", section 2.2.1) makes FPSCR's rounding-mode and
// exception-enable bits limited-access: functions preserve them unless
// changing them is their purpose (fesetround and friends), whose change then
// holds for their callers: global state of the thread, like AAPCS64's FPCR.
// The switch leaves FPSCR alone; tests/arch_hardening_fp_control_test.cc
// pins this.

#ifndef FRINGE_ARCH_PPC64LE_H_
#define FRINGE_ARCH_PPC64LE_H_

#include <cstdint>

namespace fringe::arch_internal {

// The initial frame's per-CPU constants (switch.h).
inline constexpr std::uintptr_t kLinkTrampolineReturnOffset = 4;
inline constexpr std::uintptr_t kEntryTrampolineLandingOffset = 4;
inline constexpr std::uintptr_t kEntryFramePointerAboveLinkSlot = 0;

// Nothing can stop the switch: POWER Linux has no user shadow stack.
inline void CheckProcessCanSwitch() {}

// The switch proper; SwitchAndLink adds one store (LINK) to it.
// `bcl 20, 31` is the form that reads the program counter without
// disturbing the link-stack predictor.
#define FRINGE_PPC64LE_SWITCH_ASM(LINK)                   \
  "addi 1, 1, -336\n\t" /* below the protected zone */    \
  "bcl 20, 31, 1f\n\t"                                    \
  "1:\n\t"                                                \
  "mflr 12\n\t"                                           \
  "addi 12, 12, 0f - 1b\n\t" /* resume address */         \
  "std 31, 0(1)\n\t"                                      \
  "std 12, 8(1)\n\t"                                      \
  "addi 0, 1, 336\n\t"                                    \
  "std 0, 16(1)\n\t" /* back chain: our own r1 */         \
  "std 2, 24(1)\n\t"                                      \
  "std 12, 32(1)\n\t"                                     \
  "mr 4, 1\n\t" /* hand our stack pointer over */         \
      LINK                                                \
  "mr 1, 5\n\t" /* enter the target stack, at its pair */ \
  "ld 12, 8(1)\n\t"                                       \
  "mtctr 12\n\t"                                          \
  "bctr\n\t"                                              \
  "0:\n\t"                                                \
  "ld 31, 0(1)\n\t"                                       \
  "ld 2, 24(1)\n\t"                                       \
  "addi 1, 1, 336\n\t"

#define FRINGE_PPC64LE_CLOBBERS                                               \
  "r0", "r7", "r8", "r9", "r10", "r11", "r12", "r14", "r15", "r16", "r17",    \
      "r18", "r19", "r20", "r21", "r22", "r23", "r24", "r25", "r26", "r27",   \
      "r28", "r29", "r30", "lr", "ctr", "xer", "cr0", "cr1", "cr2", "cr3",    \
      "cr4", "cr5", "cr6", "cr7", "fr0", "fr1", "fr2", "fr3", "fr4", "fr5",   \
      "fr6", "fr7", "fr8", "fr9", "fr10", "fr11", "fr12", "fr13", "fr14",     \
      "fr15", "fr16", "fr17", "fr18", "fr19", "fr20", "fr21", "fr22", "fr23", \
      "fr24", "fr25", "fr26", "fr27", "fr28", "fr29", "fr30", "fr31", "v0",   \
      "v1", "v2", "v3", "v4", "v5", "v6", "v7", "v8", "v9", "v10", "v11",     \
      "v12", "v13", "v14", "v15", "v16", "v17", "v18", "v19", "v20", "v21",   \
      "v22", "v23", "v24", "v25", "v26", "v27", "v28", "v29", "v30", "v31",   \
      "memory"

__attribute__((always_inline)) inline Transfer SwitchAndLink(std::uintptr_t arg,
                                                             StackPointer to,
                                                             void* to_base) {
  // Before the register variables: a call between their initialisation and
  // the asm (LinkSlot() is one at -O0) may overwrite them.
  void* link = LinkSlot(to_base);
  register std::uintptr_t r3 asm("r3") = arg;
  register StackPointer r4 asm("r4");
  register StackPointer r5 asm("r5") = to;
  register void* r6 asm("r6") = link;
  asm volatile(FRINGE_PPC64LE_SWITCH_ASM("addi 0, 4, 16\n\tstd 0, 0(6)\n\t")
               : "+r"(r3), "=r"(r4), "+r"(r5), "+r"(r6)
               :
               : FRINGE_PPC64LE_CLOBBERS);
  return {r3, r4};
}

__attribute__((always_inline)) inline Transfer Switch(std::uintptr_t arg,
                                                      StackPointer to) {
  register std::uintptr_t r3 asm("r3") = arg;
  register StackPointer r4 asm("r4");
  register StackPointer r5 asm("r5") = to;
  asm volatile(FRINGE_PPC64LE_SWITCH_ASM("")
               : "+r"(r3), "=r"(r4), "+r"(r5)
               :
               : "r6", FRINGE_PPC64LE_CLOBBERS);
  return {r3, r4};
}

#undef FRINGE_PPC64LE_SWITCH_ASM
#undef FRINGE_PPC64LE_CLOBBERS

}  // namespace fringe::arch_internal

#endif  // FRINGE_ARCH_PPC64LE_H_
