// fringe/arch/mips64el.h
//
// The MIPS64r2 (n64 ABI, little-endian, Linux: mips64el-linux-gnuabi64)
// context switch. Included by fringe/arch/switch.h; see there for the
// interface and the design. The trampolines live in mips64el.cc.
//
// What differs from switch.h's design:
//
// - $gp ($28) is callee-saved in n64 and, in position-independent code, the
//   global pointer the compiler computed in the prologue and keeps using,
//   so the suspended context holds it too, above the pair:
//
//     sp +  0   saved $fp ($30, GCC's frame pointer)
//     sp +  8   resume address
//     sp + 16   saved $gp
//     sp + 24   (padding)
//     sp + 32   the suspended code's own $sp
//
//   There is no red zone.
// - The resumed side pops its own words ($fp, $gp, $sp += 32) at label 0;
//   the switch jumps with $sp at the target's pair.
// - Position-independent calls go through $t9 ($25): the entry trampoline
//   calls entry with its address there, from which entry computes its $gp.
// - Delay slots: the assembly is `.set noreorder` and fills each by hand.
//   The resume address comes from `bal` (MIPS64r2 has no PC-relative
//   add), which clobbers $ra, clobbered anyway.
// - The first switch lands 4 bytes into the entry trampoline.
//
// Registers at a switch: $a0 carries the word both ways, $a2 the target
// stack pointer, $a3 the link slot, and $a1 returns the stack pointer of
// whoever switched, so at the entry trampoline $a0 and $a1 are already
// entry's first two arguments. The jump is `jr $12` (`jr $ra` would be
// predicted as a return). Everything else is clobbered: $2-$3, $8-$25, $31,
// hi, lo and $f0-$f31 (so the callee-saved $s0-$s7 and $f24-$f31). $at is
// the assembler's and unused here; $k0/$k1 are the kernel's.
//
// Floating-point control (FCSR): no n64 ABI text was at hand when this port
// was written (the calling convention is SGI's "MIPSpro N32 ABI Handbook";
// check it), so fringe treats FCSR as the thread's, as C11's <fenv.h> does
// and as on aarch64: the switch leaves it alone;
// tests/arch_hardening_fp_control_test.cc pins this.

#ifndef FRINGE_ARCH_MIPS64EL_H_
#define FRINGE_ARCH_MIPS64EL_H_

#include <cstdint>

namespace fringe::arch_internal {

// The initial frame's per-CPU constants (switch.h).
inline constexpr std::uintptr_t kLinkTrampolineReturnOffset = 4;
inline constexpr std::uintptr_t kEntryTrampolineLandingOffset = 4;
inline constexpr std::uintptr_t kEntryFramePointerAboveLinkSlot = 0;

// Nothing can stop the switch: MIPS has no user shadow stack.
inline void CheckProcessCanSwitch() {}

// The switch proper; SwitchAndLink adds one store (LINK) to it.
#define FRINGE_MIPS64EL_SWITCH_ASM(LINK)                                 \
  ".set push\n\t"                                                        \
  ".set noreorder\n\t"                                                   \
  "bal 1f\n\t"                                                           \
  "nop\n\t"                                                              \
  "1:\n\t"                                                               \
  "daddiu $12, $31, 0f - 1b\n\t" /* resume address */                    \
  "daddiu $sp, $sp, -32\n\t"                                             \
  "sd $fp, 0($sp)\n\t"                                                   \
  "sd $12, 8($sp)\n\t"                                                   \
  "sd $gp, 16($sp)\n\t"                                                  \
  "move $5, $sp\n\t" /* hand our stack pointer over */                   \
  LINK                                                                   \
  "move $sp, $6\n\t" /* enter the target stack, at its pair */           \
  "ld $12, 8($sp)\n\t"                                                   \
  "jr $12\n\t"                                                           \
  "nop\n\t"                                                              \
  "0:\n\t"                                                               \
  "ld $fp, 0($sp)\n\t"                                                   \
  "ld $gp, 16($sp)\n\t"                                                  \
  "daddiu $sp, $sp, 32\n\t"                                              \
  ".set pop\n\t"

#define FRINGE_MIPS64EL_CLOBBERS                                              \
  "$2", "$3", "$8", "$9", "$10", "$11", "$12", "$13", "$14", "$15", "$16",   \
      "$17", "$18", "$19", "$20", "$21", "$22", "$23", "$24", "$25", "$31",  \
      "hi", "lo", "$f0", "$f1", "$f2", "$f3", "$f4", "$f5", "$f6", "$f7",    \
      "$f8", "$f9", "$f10", "$f11", "$f12", "$f13", "$f14", "$f15", "$f16",  \
      "$f17", "$f18", "$f19", "$f20", "$f21", "$f22", "$f23", "$f24", "$f25", \
      "$f26", "$f27", "$f28", "$f29", "$f30", "$f31", "memory"

__attribute__((always_inline)) inline Transfer SwitchAndLink(std::uintptr_t arg,
                                                             StackPointer to,
                                                             void* to_base) {
  // Before the register variables: a call between their initialisation and
  // the asm (LinkSlot() is one at -O0) may overwrite them.
  void* link = LinkSlot(to_base);
  register std::uintptr_t a0 asm("$4") = arg;
  register StackPointer a1 asm("$5");
  register StackPointer a2 asm("$6") = to;
  register void* a3 asm("$7") = link;
  asm volatile(FRINGE_MIPS64EL_SWITCH_ASM("sd $5, 0($7)\n\t")
               : "+r"(a0), "=r"(a1), "+r"(a2), "+r"(a3)
               :
               : FRINGE_MIPS64EL_CLOBBERS);
  return {a0, a1};
}

__attribute__((always_inline)) inline Transfer Switch(std::uintptr_t arg,
                                                      StackPointer to) {
  register std::uintptr_t a0 asm("$4") = arg;
  register StackPointer a1 asm("$5");
  register StackPointer a2 asm("$6") = to;
  asm volatile(FRINGE_MIPS64EL_SWITCH_ASM("")
               : "+r"(a0), "=r"(a1), "+r"(a2)
               :
               : "$7", FRINGE_MIPS64EL_CLOBBERS);
  return {a0, a1};
}

#undef FRINGE_MIPS64EL_SWITCH_ASM
#undef FRINGE_MIPS64EL_CLOBBERS

}  // namespace fringe::arch_internal

#endif  // FRINGE_ARCH_MIPS64EL_H_
