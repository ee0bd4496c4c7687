// The s390x trampolines; the design is drawn in switch.h, what differs in
// s390x.h.

#include "fringe/arch/switch.h"

// The link trampoline (__morestack) and the entry trampoline of switch.h.
//
// fringe_arch_s390x_entry_trampoline is where the first switch lands, with
// r2 = arg and r3 = resumer already in place and r15 at the initial pair
// (base - 48). It calls entry(arg, resumer, context).
asm(R"(
    .text
    .p2align 4
    .local __morestack
    .type __morestack, @function
__morestack:
    .cfi_startproc
    # Unwinders arrive here with r11 = the link slot's value: the resumer's
    # suspended context, whose own r15 is 32 bytes above it; the resumer's
    # CFA (its r15 + 160) is 192 above it.
    .cfi_def_cfa %r11, 192
    # Its return address is the resume address at link + 8, its r11, r12
    # and r13 at link + 0, + 16 and + 24, its r15 the CFA - 160.
    .cfi_offset %r14, -184
    .cfi_offset %r11, -192
    .cfi_offset %r12, -176
    .cfi_offset %r13, -168
    .cfi_val_offset %r15, -160
    # Never executed: the planted return address points past the first nop.
    nop
    nop
    .cfi_endproc
    .size __morestack, .-__morestack

    .p2align 4
    .globl fringe_arch_s390x_entry_trampoline
    .hidden fringe_arch_s390x_entry_trampoline
    .type fringe_arch_s390x_entry_trampoline, @function
fringe_arch_s390x_entry_trampoline:
    .cfi_startproc
    # This frame's CFA is base: r15 + 48 at the landing. Its return address
    # is at base - 24, where __morestack + 4 was planted, and the "caller's"
    # r11 is the link slot at base - 32.
    .cfi_def_cfa %r15, 48
    .cfi_offset %r14, -24
    .cfi_offset %r11, -32
    # Skipped by the first switch: keeps the landing address off the
    # symbol's first instruction.
    nop
    # Pop the initial pair as a resumed switch would.
    lg %r11, 0(%r15)
    la %r15, 16(%r15)
    .cfi_def_cfa_offset 32
    lg %r4, 24(%r15)
    lg %r1, 16(%r15)
    # The register save area entry may use, below the link slot; r15 =
    # base - 192 is 8-byte aligned, as the ABI requires.
    aghi %r15, -160
    .cfi_def_cfa_offset 192
    basr %r14, %r1
    # entry never returns.
    .short 0
    .cfi_endproc
    .size fringe_arch_s390x_entry_trampoline, .-fringe_arch_s390x_entry_trampoline
)");

extern "C" void __morestack();
extern "C" void fringe_arch_s390x_entry_trampoline();

namespace fringe::arch_internal {

extern const Trampolines kTrampolines = {&__morestack,
                                         &fringe_arch_s390x_entry_trampoline};

}  // namespace fringe::arch_internal
