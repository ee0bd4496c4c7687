// fringe/arch/x86_64.h
//
// The x86_64 (System V ABI) context switch. Included by fringe/arch/switch.h;
// see there for the interface and the design. The trampolines and the
// shadow-stack check live in x86_64.cc.
//
// What differs from switch.h's design:
//
// - A suspended context skips the 128-byte red zone below the suspended
//   code's stack pointer, which the compiler may use in a leaf function and
//   the pushes must not overwrite:
//
//     sp +   0   saved %rbp
//     sp +   8   resume address     (an endbr64 in code built for IBT)
//     sp +  16   128 bytes skipped  the suspended code's red zone
//     sp + 144   the suspended code's own %rsp
//
//   so __morestack's CFA is the link slot's value + 144.
//
//   The skip puts the context on another cache line than the frame's data
//   above it, one more miss for a generator resumed cold. Measured and not
//   worth changing the frame layout for (round-robin over 10,000 generators,
//   BM_FringeResumeRoundRobin, aligned builds, three runs each): without the
//   skip (unsafe; a measurement only) 36-39 ns against 40-42; with the
//   body's own FP control word kept in the context instead of its frame,
//   40-42 against 33-44; and a prefetch of the frame's line before the
//   switch made it worse (36-40 against 32-39).
// - The first switch lands on the entry trampoline's endbr64, 1 byte in.
//
// Registers at a switch: %rdi carries the word both ways, %ebx the FP
// control state (cpu_state.h) both ways, %rdx the target stack pointer, %rcx
// the link slot, and %rsi returns the stack pointer of whoever switched.
// Everything else is clobbered, so the compiler keeps only what is live, in
// its own frame.

#ifndef FRINGE_ARCH_X86_64_H_
#define FRINGE_ARCH_X86_64_H_

#include <atomic>
#include <cstdint>

namespace fringe::arch_internal {

// The initial frame's per-CPU constants (switch.h).
inline constexpr std::uintptr_t kLinkTrampolineReturnOffset = 2;
inline constexpr std::uintptr_t kEntryTrampolineLandingOffset = 1;
inline constexpr std::uintptr_t kEntryFramePointerAboveLinkSlot = 0;

// Shadow stacks (CET SHSTK): the switch does not switch them yet, so the
// first `ret` after a switch would fault in a process that runs with them.
// fringe's own object never claims SHSTK compatibility (//fringe/arch builds
// it with -fcf-protection=branch, so the linker clears the property for the
// whole program), and InitStack, on the process's first call, asks the kernel
// (arch_prctl(ARCH_SHSTK_STATUS)) and aborts with a one-line message if they
// are on nevertheless. Inline: after the first call, one relaxed load.
extern std::atomic<bool> shadow_stacks_checked;
void CheckShadowStacks();
inline void CheckProcessCanSwitch() {
  if (!shadow_stacks_checked.load(std::memory_order_relaxed)) [[unlikely]] {
    CheckShadowStacks();
  }
}

// For tests: the message InitStack dies with for `status`, the word
// ARCH_SHSTK_STATUS fills in; nullptr when fringe can run.
const char* ShadowStackProblem(std::uint64_t status);
// Makes InitStack check again, on its next call, with `status` instead of the
// kernel's answer.
void SetShadowStackStatusForTesting(std::uint64_t status);

// The switch proper; SwitchAndLink adds one store (LINK) to it.
//
// Why endbr64 at label 0: under CET indirect-branch tracking a `jmp *` that
// lands anywhere else faults. Emitted when the includer is built for IBT
// (-fcf-protection=branch or full set bit 0 of __CET__), the only case where
// its program can run with IBT enforced: linkers mark a program IBT only if
// every object is. Elsewhere it would be a 4-byte NOP in the hottest path:
// +0.06-0.1 ns on a 1.3 ns round trip in the switch benchmark.
#if defined(__CET__) && (__CET__ & 1)
#define FRINGE_X86_64_ENDBR64 "endbr64\n\t"
#else
#define FRINGE_X86_64_ENDBR64 ""
#endif
#define FRINGE_X86_64_SWITCH_ASM(LINK)                                    \
  "leaq -128(%%rsp), %%rsp\n\t" /* step over the red zone */              \
  "leaq 0f(%%rip), %%rax\n\t"                                             \
  "pushq %%rax\n\t" /* resume address */                                 \
  "pushq %%rbp\n\t" /* frame pointer, for the unwinder */                \
  LINK                                                                    \
  "movq %%rsp, %%rsi\n\t" /* hand our stack pointer over */              \
  "movq %%rdx, %%rsp\n\t" /* enter the target stack */                   \
  "popq %%rbp\n\t"                                                        \
  "popq %%rax\n\t"                                                        \
  "jmpq *%%rax\n\t"                                                       \
  "0:\n\t"                                                                \
  FRINGE_X86_64_ENDBR64 /* the landing pad of that jmp, under IBT */      \
  "leaq 128(%%rsp), %%rsp\n\t" /* back above our red zone */

// Everything the switch does not handle by hand. %rbp is saved by hand
// (compilers refuse it as a clobber when it is the frame pointer), %rsp is
// the switch itself, %rdi/%rsi/%rdx/%rcx/%rbx are operands. x87/MMX state is
// clobbered too: the other context may leave values on the x87 stack.
#if defined(__AVX512F__)
#define FRINGE_X86_64_AVX512_CLOBBERS                                       \
  , "xmm16", "xmm17", "xmm18", "xmm19", "xmm20", "xmm21", "xmm22", "xmm23", \
      "xmm24", "xmm25", "xmm26", "xmm27", "xmm28", "xmm29", "xmm30",         \
      "xmm31", "k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7"
#else
#define FRINGE_X86_64_AVX512_CLOBBERS
#endif
#define FRINGE_X86_64_CLOBBERS                                               \
  "rax", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15",               \
      "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", \
      "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "st",   \
      "st(1)", "st(2)", "st(3)", "st(4)", "st(5)", "st(6)", "st(7)", "mm0",  \
      "mm1", "mm2", "mm3", "mm4", "mm5", "mm6", "mm7", "cc",                 \
      "memory" FRINGE_X86_64_AVX512_CLOBBERS

__attribute__((always_inline)) inline Transfer SwitchAndLink(
    std::uintptr_t arg, StackPointer to, void* to_base, FpControl fp = {}) {
  void* link = LinkSlot(to_base);
  StackPointer from;
  asm volatile(FRINGE_X86_64_SWITCH_ASM("movq %%rsp, (%%rcx)\n\t")
               : "+D"(arg), "=S"(from), "+d"(to), "+c"(link), "+b"(fp.bits)
               :
               : FRINGE_X86_64_CLOBBERS);
  return {arg, from, fp};
}

__attribute__((always_inline)) inline Transfer Switch(std::uintptr_t arg,
                                                      StackPointer to,
                                                      FpControl fp = {}) {
  StackPointer from;
  asm volatile(FRINGE_X86_64_SWITCH_ASM("")
               : "+D"(arg), "=S"(from), "+d"(to), "+b"(fp.bits)
               :
               : "rcx", FRINGE_X86_64_CLOBBERS);
  return {arg, from, fp};
}

#undef FRINGE_X86_64_SWITCH_ASM
#undef FRINGE_X86_64_ENDBR64
#undef FRINGE_X86_64_CLOBBERS
#undef FRINGE_X86_64_AVX512_CLOBBERS

}  // namespace fringe::arch_internal

#endif  // FRINGE_ARCH_X86_64_H_
