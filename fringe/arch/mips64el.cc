// The mips64el trampolines; the design is drawn in switch.h, what differs in
// mips64el.h.

#include "fringe/arch/switch.h"

// The link trampoline (__morestack) and the entry trampoline of switch.h.
// DWARF register numbers: 28 = $gp, 29 = $sp, 30 = $fp, 31 = $ra.
//
// fringe_arch_mips64el_entry_trampoline is where the first switch lands,
// with $a0 = arg and $a1 = resumer already in place and $sp at the initial
// pair (base - 48). It calls entry(arg, resumer, context) through $t9.
asm(R"(
    .text
    .set push
    .set noreorder
    .p2align 4
    .local __morestack
    .type __morestack, @function
__morestack:
    .cfi_startproc
    # Unwinders arrive here with $fp = the link slot's value: the resumer's
    # suspended context, whose own $sp (its CFA) is 32 bytes above it.
    .cfi_def_cfa 30, 32
    # Its return address is the resume address at link + 8, its $fp and
    # $gp at link + 0 and + 16.
    .cfi_offset 31, -24
    .cfi_offset 30, -32
    .cfi_offset 28, -16
    # Never executed: the planted return address points past the first nop.
    nop
    nop
    .cfi_endproc
    .size __morestack, .-__morestack

    .p2align 4
    .globl fringe_arch_mips64el_entry_trampoline
    .hidden fringe_arch_mips64el_entry_trampoline
    .type fringe_arch_mips64el_entry_trampoline, @function
fringe_arch_mips64el_entry_trampoline:
    .cfi_startproc
    # This frame's CFA is base: $sp + 48 at the landing. Its return address
    # is at base - 24, where __morestack + 4 was planted, and the "caller's"
    # $fp is the link slot at base - 32.
    .cfi_def_cfa 29, 48
    .cfi_offset 31, -24
    .cfi_offset 30, -32
    # Skipped by the first switch: keeps the landing address off the
    # symbol's first instruction.
    nop
    # Pop the initial pair as a resumed switch would.
    ld $fp, 0($sp)
    daddiu $sp, $sp, 16
    .cfi_def_cfa_offset 32
    ld $6, 24($sp)
    ld $25, 16($sp)
    # $sp = base - 32 is 16-byte aligned, as n64 requires.
    jalr $25
    nop
    # entry never returns.
    break
    .cfi_endproc
    .size fringe_arch_mips64el_entry_trampoline, .-fringe_arch_mips64el_entry_trampoline
    .set pop
)");

extern "C" void __morestack();
extern "C" void fringe_arch_mips64el_entry_trampoline();

namespace fringe::arch_internal {

extern const Trampolines kTrampolines = {
    &__morestack, &fringe_arch_mips64el_entry_trampoline};

}  // namespace fringe::arch_internal
