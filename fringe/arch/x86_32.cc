// The x86_32 (i686) trampolines; the design is drawn in switch.h, what
// differs in x86_32.h.

#include <cstdint>

#include "fringe/arch/switch.h"

// Where the first switch lands: this many bytes past the entry trampoline's
// symbol, on its endbr32. The assembly below is laid out from it.
#define FRINGE_X86_32_ENTRY_LANDING 1
#define FRINGE_X86_32_STR(x) FRINGE_X86_32_STR2(x)
#define FRINGE_X86_32_STR2(x) #x

// Shadow stacks: Linux has no user shadow stacks for 32-bit processes (its
// CET shadow-stack support is x86_64 only), so unlike x86_64.cc there is no
// run-time check here. //fringe/arch still builds this object without the
// SHSTK property, so that no program claims a compatibility the switch lacks.

// The link trampoline (__morestack) and the entry trampoline of switch.h.
//
// fringe_arch_x86_32_entry_trampoline is where the first switch lands (on an
// endbr32: it is an indirect jump), with %eax = arg and %edx = resumer. It
// pushes entry's three arguments (the i386 ABI passes them on the stack) and
// calls entry(arg, resumer, context).
// clang-format off: the assembly splices FRINGE_X86_32_ENTRY_LANDING in.
asm(R"(
    .text
    .p2align 4
    .local __morestack
    .type __morestack, @function
__morestack:
    .cfi_startproc
    # Unwinders arrive here with %ebp = the link slot's value: the resumer's
    # stack pointer after its switch pushed the resume address and %ebp.
    # The resumer's own stack pointer (its CFA) is 8 bytes above that.
    .cfi_def_cfa %ebp, 8
    # Its return address is the switch's resume address, at link + 4.
    .cfi_offset %eip, -4
    # Its frame pointer was pushed last, at link + 0.
    .cfi_offset %ebp, -8
    # Never executed: the planted return address points past these, inside
    # the symbol (unwinders look up return address - 1).
    nop
    nop
    .cfi_endproc
    .size __morestack, .-__morestack

    .p2align 4
    .globl fringe_arch_x86_32_entry_trampoline
    .hidden fringe_arch_x86_32_entry_trampoline
    .type fringe_arch_x86_32_entry_trampoline, @function
fringe_arch_x86_32_entry_trampoline:
    .cfi_startproc
    # %ebp = %esp = base - 16 here; %ebp stays so (entry saves it if it uses
    # it). This frame's CFA is base - 8; its return address is at CFA - 4
    # (the CIE's rule), where __morestack + 2 was planted.
    .cfi_def_cfa %ebp, 8
    # The "caller's" %ebp is the link slot at base - 16.
    .cfi_offset %ebp, -8
    # The first switch lands FRINGE_X86_32_ENTRY_LANDING bytes in, on this
    # endbr32 (it comes by `jmp *%ecx`: IBT wants one). Off the symbol's
    # first byte, which unwinders would attribute to the previous function.
    # Nops, never executed, fill the bytes before (.org fails if they
    # cannot).
    .org fringe_arch_x86_32_entry_trampoline + )"
    FRINGE_X86_32_STR(FRINGE_X86_32_ENTRY_LANDING) R"(, 0x90
    endbr32
    # Three 4-byte arguments plus this pad make the call site 16-byte aligned
    # (%esp = base - 32), as the ABI requires: entry sees %esp + 4 aligned.
    subl $4, %esp
    pushl 12(%ebp)
    pushl %edx
    pushl %eax
    calll *8(%ebp)
    # entry never returns.
    ud2
    .cfi_endproc
    .size fringe_arch_x86_32_entry_trampoline, .-fringe_arch_x86_32_entry_trampoline
)");
// clang-format on

extern "C" void __morestack();
extern "C" void fringe_arch_x86_32_entry_trampoline();

namespace fringe::arch_internal {

extern const Trampolines kTrampolines = {&__morestack,
                                         &fringe_arch_x86_32_entry_trampoline};
static_assert(kEntryTrampolineLandingOffset == FRINGE_X86_32_ENTRY_LANDING);

}  // namespace fringe::arch_internal
