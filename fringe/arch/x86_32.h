// fringe/arch/x86_32.h
//
// The x86 (i686, 32-bit System V ABI as used by Linux) context switch.
// Included by fringe/arch/switch.h; see there for the interface and the
// design. The trampolines live in x86_32.cc.
//
// What differs from switch.h's design: nothing in the frames (4-byte
// words). A suspended context's pair {%ebp, resume address} is an ordinary
// %ebp-chained frame, so frame-pointer walkers follow it; the resume address
// is an endbr32 in code built for IBT, and the first switch lands on the
// entry trampoline's endbr32, 1 byte in.
//
// The i386 ABI has no red zone: nothing below %esp is live.
//
// Registers at a switch: %eax carries the word both ways, %esi the FP
// control state (cpu_state.h) both ways, %ecx the target stack pointer, %ebx
// the link slot, and %edx returns the stack pointer of whoever switched. %ebx
// may be the PIC register (the GOT pointer): it is an operand (an output in
// Switch), never a bare clobber, which is how GCC and Clang let inline
// assembly take it in position-independent code; they then keep the GOT
// pointer elsewhere or recompute it. The ABI passes arguments on the stack,
// so the entry trampoline pushes them. Everything else is clobbered, so the
// compiler keeps only what is live, in its own frame.

#ifndef FRINGE_ARCH_X86_32_H_
#define FRINGE_ARCH_X86_32_H_

#include <cstdint>

namespace fringe::arch_internal {

// The initial frame's per-CPU constants (switch.h).
inline constexpr std::uintptr_t kLinkTrampolineReturnOffset = 2;
inline constexpr std::uintptr_t kEntryTrampolineLandingOffset = 1;
inline constexpr std::uintptr_t kEntryFramePointerAboveLinkSlot = 0;

// Nothing can stop the switch: Linux has no user shadow stacks for 32-bit
// processes (see x86_32.cc).
inline void CheckProcessCanSwitch() {}

// The switch proper; SwitchAndLink adds one store (LINK) to it.
//
// Why call + addl to push the resume address: i386 has no %eip-relative
// addressing and `pushl $0f` would need a text relocation in PIE code. A
// call to the very next instruction is the classic i386 way to read %eip,
// and modern x86 cores special-case it so that it does not push the
// return-stack buffer; a call to a get-pc thunk would need a symbol visible
// from every object this header inlines into.
// Why endbr32 at label 0, and only in code built for IBT: the x86_64
// switch's endbr64 (see x86_64.h). The call to label 1 is direct and needs
// none.
#if defined(__CET__) && (__CET__ & 1)
#define FRINGE_X86_32_ENDBR32 "endbr32\n\t"
#else
#define FRINGE_X86_32_ENDBR32 ""
#endif
#define FRINGE_X86_32_SWITCH_ASM(LINK)                                 \
  "calll 1f\n\t"                                                       \
  "1:\n\t"                                                             \
  "addl $(0f - 1b), (%%esp)\n\t" /* resume address */                  \
  "pushl %%ebp\n\t"              /* frame pointer, for the unwinder */ \
  "movl %%esp, %%edx\n\t"        /* hand our stack pointer over */     \
      LINK                                                             \
  "movl %%ecx, %%esp\n\t" /* enter the target stack */                 \
  "popl %%ebp\n\t"                                                     \
  "popl %%ecx\n\t"                                                     \
  "jmpl *%%ecx\n\t"                                                    \
  "0:\n\t"                                                             \
  FRINGE_X86_32_ENDBR32 /* the landing pad of that jmp, under IBT */

// Everything the switch does not handle by hand. %ebp is saved by hand
// (compilers refuse it as a clobber when it is the frame pointer), %esp is
// the switch itself, %eax/%ebx/%ecx/%edx/%esi are operands. The x87 stack is
// clobbered: doubles live there without SSE math, and the other context may
// leave values on it. The i386 ABI has no callee-saved vector registers, but
// values may still be live in them across an inlined switch. GCC rejects
// xmm/mm names when the target lacks SSE/MMX; then nothing lives there.
#if defined(__SSE__)
#define FRINGE_X86_32_SSE_CLOBBERS \
  , "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7"
#else
#define FRINGE_X86_32_SSE_CLOBBERS
#endif
#if defined(__MMX__)
#define FRINGE_X86_32_MMX_CLOBBERS \
  , "mm0", "mm1", "mm2", "mm3", "mm4", "mm5", "mm6", "mm7"
#else
#define FRINGE_X86_32_MMX_CLOBBERS
#endif
#define FRINGE_X86_32_CLOBBERS                                                \
  "edi", "st", "st(1)", "st(2)", "st(3)", "st(4)", "st(5)", "st(6)", "st(7)", \
      "cc", "memory" FRINGE_X86_32_SSE_CLOBBERS FRINGE_X86_32_MMX_CLOBBERS

__attribute__((always_inline)) inline Transfer SwitchAndLink(
    std::uintptr_t arg, StackPointer to, void* to_base, FpControl fp = {}) {
  void* link = LinkSlot(to_base);
  StackPointer from;
  asm volatile(FRINGE_X86_32_SWITCH_ASM("movl %%esp, (%%ebx)\n\t")
               : "+a"(arg), "=d"(from), "+c"(to), "+b"(link), "+S"(fp.bits)
               :
               : FRINGE_X86_32_CLOBBERS);
  return {arg, from, fp};
}

__attribute__((always_inline)) inline Transfer Switch(std::uintptr_t arg,
                                                      StackPointer to,
                                                      FpControl fp = {}) {
  StackPointer from;
  void* ebx;  // Whatever the other context left in %ebx.
  asm volatile(FRINGE_X86_32_SWITCH_ASM("")
               : "+a"(arg), "=d"(from), "+c"(to), "=b"(ebx), "+S"(fp.bits)
               :
               : FRINGE_X86_32_CLOBBERS);
  return {arg, from, fp};
}

#undef FRINGE_X86_32_SWITCH_ASM
#undef FRINGE_X86_32_ENDBR32
#undef FRINGE_X86_32_CLOBBERS
#undef FRINGE_X86_32_SSE_CLOBBERS
#undef FRINGE_X86_32_MMX_CLOBBERS

}  // namespace fringe::arch_internal

#endif  // FRINGE_ARCH_X86_32_H_
