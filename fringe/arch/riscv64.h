// fringe/arch/riscv64.h
//
// The RV64GC (LP64D psABI, Linux) context switch. Included by
// fringe/arch/switch.h; see there for the interface and the design. The
// trampolines live in riscv64.cc.
//
// What differs from switch.h's design: the frame pointer convention. The
// psABI's s0 points just above the saved ra (at s0 - 8) and s0 (at s0 - 16),
// i.e. at the caller's sp, not at the saved pair. So SwitchAndLink stores
// the suspending code's sp before the switch (its pair's address + 16) in
// the link slot, __morestack's CFA is the link slot's value itself, and the
// entry trampoline's s0 is the link slot + 16
// (kEntryFramePointerAboveLinkSlot), its frame's CFA; frame-pointer walkers
// follow the link too. The first switch lands 4 bytes into the entry
// trampoline.
//
// There is no red zone on RISC-V Linux: nothing below sp is live.
//
// Registers at a switch: a0 carries the word both ways, a2 the target stack
// pointer, a3 the link slot, and a1 returns the stack pointer of whoever
// switched. At the entry trampoline a0 and a1 are therefore already entry's
// first two arguments. Everything else is clobbered except gp and tp, which
// belong to the program and the thread, not to a context.
//
// Floating-point control (frm, the rounding mode in fcsr) belongs to the
// thread, not to a context: the switch leaves fcsr alone, so a mode one side
// sets is what the other side runs with after the next switch. The RISC-V
// psABI (calling convention, "Floating-point Register Convention") says: "The
// Floating-Point Control and Status Register (fcsr) must have thread storage
// duration in accordance with C11 section 7.6 "Floating-point environment
// <fenv.h>"." (The vector CSRs vxrm and vxsat, by contrast, "are not
// preserved across calls and their values are unspecified upon entry".)
// tests/arch_hardening_fp_control_test.cc pins this.

#ifndef FRINGE_ARCH_RISCV64_H_
#define FRINGE_ARCH_RISCV64_H_

#include <cstdint>

namespace fringe::arch_internal {

// The initial frame's per-CPU constants (switch.h).
inline constexpr std::uintptr_t kLinkTrampolineReturnOffset = 4;
inline constexpr std::uintptr_t kEntryTrampolineLandingOffset = 4;
inline constexpr std::uintptr_t kEntryFramePointerAboveLinkSlot = 16;

// Nothing can stop the switch (RISC-V Linux has no user shadow stack yet).
inline void CheckProcessCanSwitch() {}

// The switch proper; SwitchAndLink adds one store (LINK) to it, before the
// stack pointer moves.
//
// Why t1 carries the resume address: jalr/jr through ra (x1) or t0 (x5) is
// a return-address-stack hint (jr t0 pops it, a mispredicted "return"), jr
// through t1 is a plain indirect jump, which the predictor learns.
#define FRINGE_RISCV64_SWITCH_ASM(LINK)                                   \
  LINK "lla t1, 0f\n\t"       /* resume address, pc-relative */           \
       "addi sp, sp, -16\n\t" /* keeps sp 16-byte aligned */              \
       "sd s0, 0(sp)\n\t"     /* frame pointer, for the unwinder */       \
       "sd t1, 8(sp)\n\t"                                                 \
       "mv a1, sp\n\t" /* hand our stack pointer over */                  \
       "ld s0, 0(a2)\n\t"                                                 \
       "ld t1, 8(a2)\n\t"                                                 \
       "addi sp, a2, 16\n\t" /* enter the target stack, above its pair */ \
       "jr t1\n\t"                                                        \
       "0:\n\t"

// Everything the switch does not handle by hand. s0 is saved by hand
// (compilers refuse the frame pointer as a clobber), sp is the switch itself,
// a0-a3 are operands. Clobbering f0-f31 makes the compiler save fs0-fs11,
// the callee-saved ones, in the functions that use them. ra is clobbered
// because the other context's code ran meanwhile.
#if defined(__riscv_flen)
#define FRINGE_RISCV64_FP_CLOBBERS                                            \
  , "f0", "f1", "f2", "f3", "f4", "f5", "f6", "f7", "f8", "f9", "f10", "f11", \
      "f12", "f13", "f14", "f15", "f16", "f17", "f18", "f19", "f20", "f21",   \
      "f22", "f23", "f24", "f25", "f26", "f27", "f28", "f29", "f30", "f31"
#else
#define FRINGE_RISCV64_FP_CLOBBERS
#endif
// The V extension: the psABI preserves no vector register across a call
// (v0-v31, vl and vtype are all temporaries), so all are clobbered, or a
// vector the compiler keeps live across the switch is overwritten by the
// other side. GCC 12 defines __riscv_vector for -march=rv64gcv but has no
// vector registers (it generates no vector code, and rejects "v0" as a
// clobber); GCC 13 added them with the RVV intrinsics. "vl" and "vtype" are
// names neither GCC 12 nor Clang 14/16 accepts; Clang needs none: it assumes
// nothing about vl/vtype after an inline asm statement and issues a new
// vsetvli before the next vector instruction (the vector test checks that
// the other side's vtype does not leak into the resumer's vector code).
#if defined(__riscv_vector) && \
    (defined(__clang__) || !defined(__GNUC__) || __GNUC__ >= 13)
#define FRINGE_RISCV64_VECTOR_CLOBBERS                                        \
  , "v0", "v1", "v2", "v3", "v4", "v5", "v6", "v7", "v8", "v9", "v10", "v11", \
      "v12", "v13", "v14", "v15", "v16", "v17", "v18", "v19", "v20", "v21",   \
      "v22", "v23", "v24", "v25", "v26", "v27", "v28", "v29", "v30", "v31"
#else
#define FRINGE_RISCV64_VECTOR_CLOBBERS
#endif
#define FRINGE_RISCV64_CLOBBERS                                           \
  "ra", "t0", "t1", "t2", "t3", "t4", "t5", "t6", "a4", "a5", "a6", "a7", \
      "s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9", "s10", "s11", \
      "memory" FRINGE_RISCV64_FP_CLOBBERS FRINGE_RISCV64_VECTOR_CLOBBERS

__attribute__((always_inline)) inline Transfer SwitchAndLink(std::uintptr_t arg,
                                                             StackPointer to,
                                                             void* to_base) {
  // Before the register variables: a call between their initialisation and
  // the asm (LinkSlot() is one at -O0) may overwrite them.
  void* link = LinkSlot(to_base);
  register std::uintptr_t a0 asm("a0") = arg;
  register StackPointer a1 asm("a1");
  register StackPointer a2 asm("a2") = to;
  register void* a3 asm("a3") = link;
  asm volatile(FRINGE_RISCV64_SWITCH_ASM("sd sp, 0(a3)\n\t")
               : "+r"(a0), "=r"(a1), "+r"(a2), "+r"(a3)
               :
               : FRINGE_RISCV64_CLOBBERS);
  return {a0, a1};
}

__attribute__((always_inline)) inline Transfer Switch(std::uintptr_t arg,
                                                      StackPointer to) {
  register std::uintptr_t a0 asm("a0") = arg;
  register StackPointer a1 asm("a1");
  register StackPointer a2 asm("a2") = to;
  asm volatile(FRINGE_RISCV64_SWITCH_ASM("")
               : "+r"(a0), "=r"(a1), "+r"(a2)
               :
               : "a3", FRINGE_RISCV64_CLOBBERS);
  return {a0, a1};
}

#undef FRINGE_RISCV64_SWITCH_ASM
#undef FRINGE_RISCV64_CLOBBERS
#undef FRINGE_RISCV64_FP_CLOBBERS
#undef FRINGE_RISCV64_VECTOR_CLOBBERS

}  // namespace fringe::arch_internal

#endif  // FRINGE_ARCH_RISCV64_H_
