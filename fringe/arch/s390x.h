// fringe/arch/s390x.h
//
// The z/Architecture (s390x ELF ABI, Linux: s390x-linux-gnu) context switch.
// Included by fringe/arch/switch.h; see there for the interface and the
// design. The trampolines live in s390x.cc.
//
// What differs from switch.h's design:
//
// - r12 is the GOT pointer in position-independent code, which compilers
//   refuse as a clobber ("PIC register clobbered"), and r13 the literal pool
//   pointer, whose clobber GCC accepts and ignores (it keeps using the pool
//   base it loaded before the switch), so the suspended context holds both,
//   above the pair:
//
//     sp +  0   saved r11 (GCC's frame pointer)
//     sp +  8   resume address
//     sp + 16   saved r12
//     sp + 24   saved r13
//     sp + 32   the suspended code's own r15
//
//   There is no red zone: the ABI's 160-byte register save area sits above
//   r15, in the caller's frame, and belongs to the functions it calls.
// - The resumed side pops its own words (r11-r13, r15 += 32) at label 0;
//   the switch jumps with r15 at the target's pair.
// - The CFA is the caller's r15 + 160, the ABI's convention, so __morestack's
//   CFA is the link slot's value + 192 and its CFI gives r15 as a value
//   (CFA - 160). The entry trampoline allocates the 160-byte register save
//   area entry may use: its frame is the link slot and below.
// - The first switch lands 4 bytes into the entry trampoline.
//
// Registers at a switch: r2 carries the word both ways, r4 the target stack
// pointer, r5 the link slot, and r3 returns the stack pointer of whoever
// switched, so at the entry trampoline r2 and r3 are already entry's first
// two arguments. The jump goes through r1 (`br %r14` is predicted as a
// return). Everything else is clobbered: r0, r1, r6-r10, r14, f0-f15
// (so the callee-saved f8-f15), + v16-v31 with the vector facility (whose
// v0-v15 extend f0-f15). The access registers a0/a1 (the thread pointer) are
// reserved, and compilers never allocate a2-a15.
//
// Floating-point control (fpc): the s390x ELF ABI does not list fpc in its
// register preservation table ("Register usage across function calls"; its
// source, github.com/IBM/s390x-abi lzsabi.tex, carries the note "FIXME: What
// about the FPC? -> See the FPSCR in the POWER ABI"), and only says that it
// is 0 at process start. fringe treats it as the thread's, as C11's
// <fenv.h> does and as on POWER (ppc64le.h): the switch leaves it alone;
// tests/arch_hardening_fp_control_test.cc pins this.

#ifndef FRINGE_ARCH_S390X_H_
#define FRINGE_ARCH_S390X_H_

#include <cstdint>

namespace fringe::arch_internal {

// The initial frame's per-CPU constants (switch.h).
inline constexpr std::uintptr_t kLinkTrampolineReturnOffset = 4;
inline constexpr std::uintptr_t kEntryTrampolineLandingOffset = 4;
inline constexpr std::uintptr_t kEntryFramePointerAboveLinkSlot = 0;

// Nothing can stop the switch: s390x has no user shadow stack.
inline void CheckProcessCanSwitch() {}

// The switch proper; SwitchAndLink adds one store (LINK) to it.
#define FRINGE_S390X_SWITCH_ASM(LINK)                             \
  "larl %%r1, 0f\n\t" /* resume address */                        \
  "aghi %%r15, -32\n\t"                                           \
  "stg %%r11, 0(%%r15)\n\t"                                       \
  "stg %%r1, 8(%%r15)\n\t"                                        \
  "stmg %%r12, %%r13, 16(%%r15)\n\t"                              \
  "lgr %%r3, %%r15\n\t" /* hand our stack pointer over */         \
      LINK                                                        \
  "lgr %%r15, %%r4\n\t" /* enter the target stack, at its pair */ \
  "lg %%r1, 8(%%r15)\n\t"                                         \
  "br %%r1\n\t"                                                   \
  "0:\n\t"                                                        \
  "lg %%r11, 0(%%r15)\n\t"                                        \
  "lmg %%r12, %%r13, 16(%%r15)\n\t"                               \
  "la %%r15, 32(%%r15)\n\t"

#if defined(__VX__)
#define FRINGE_S390X_VECTOR_CLOBBERS                                      \
  , "v16", "v17", "v18", "v19", "v20", "v21", "v22", "v23", "v24", "v25", \
      "v26", "v27", "v28", "v29", "v30", "v31"
#else
#define FRINGE_S390X_VECTOR_CLOBBERS
#endif
#define FRINGE_S390X_CLOBBERS                                                \
  "r0", "r1", "r6", "r7", "r8", "r9", "r10", "r14", "f0", "f1", "f2", "f3",  \
      "f4", "f5", "f6", "f7", "f8", "f9", "f10", "f11", "f12", "f13", "f14", \
      "f15", "cc", "memory" FRINGE_S390X_VECTOR_CLOBBERS

__attribute__((always_inline)) inline Transfer SwitchAndLink(std::uintptr_t arg,
                                                             StackPointer to,
                                                             void* to_base) {
  // Before the register variables: a call between their initialisation and
  // the asm (LinkSlot() is one at -O0) may overwrite them.
  void* link = LinkSlot(to_base);
  register std::uintptr_t r2 asm("r2") = arg;
  register StackPointer r3 asm("r3");
  register StackPointer r4 asm("r4") = to;
  register void* r5 asm("r5") = link;
  asm volatile(FRINGE_S390X_SWITCH_ASM("stg %%r3, 0(%%r5)\n\t")
               : "+r"(r2), "=r"(r3), "+r"(r4), "+r"(r5)
               :
               : FRINGE_S390X_CLOBBERS);
  return {r2, r3};
}

__attribute__((always_inline)) inline Transfer Switch(std::uintptr_t arg,
                                                      StackPointer to) {
  register std::uintptr_t r2 asm("r2") = arg;
  register StackPointer r3 asm("r3");
  register StackPointer r4 asm("r4") = to;
  asm volatile(FRINGE_S390X_SWITCH_ASM("")
               : "+r"(r2), "=r"(r3), "+r"(r4)
               :
               : "r5", FRINGE_S390X_CLOBBERS);
  return {r2, r3};
}

#undef FRINGE_S390X_SWITCH_ASM
#undef FRINGE_S390X_CLOBBERS
#undef FRINGE_S390X_VECTOR_CLOBBERS

}  // namespace fringe::arch_internal

#endif  // FRINGE_ARCH_S390X_H_
