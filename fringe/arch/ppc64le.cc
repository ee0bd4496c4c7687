// The ppc64le trampolines; the design is drawn in switch.h, what differs in
// ppc64le.h.

#include "fringe/arch/switch.h"

// The link trampoline (__morestack) and the entry trampoline of switch.h.
// DWARF register numbers: 1 = r1, 2 = r2, 31 = r31, 65 = lr.
//
// fringe_arch_ppc64le_entry_trampoline is where the first switch lands, by
// bctr with r12 = the landing address, r3 = arg and r4 = resumer already in
// place and r1 at the initial pair (base - 48). It calls
// entry(arg, resumer, context) through ctr with r12 = entry, as the ELFv2
// ABI wants for a call through a pointer (entry computes its TOC from it).
asm(R"(
    .text
    .p2align 4
    .local __morestack
    .type __morestack, @function
__morestack:
    .cfi_startproc
    # Unwinders arrive here with r31 = the link slot's value: the frame
    # header 16 bytes into the resumer's suspended context, whose own r1
    # (its CFA) is 320 bytes above it (ppc64le.h).
    .cfi_def_cfa 31, 320
    # Its return address is the resume address at link + 16, its r31 at
    # link - 16, its TOC at link + 8.
    .cfi_offset 65, -304
    .cfi_offset 31, -336
    .cfi_offset 2, -312
    # Never executed: the return address points past the first nop.
    nop
    nop
    .cfi_endproc
    .size __morestack, .-__morestack

    .p2align 4
    .globl fringe_arch_ppc64le_entry_trampoline
    .hidden fringe_arch_ppc64le_entry_trampoline
    .type fringe_arch_ppc64le_entry_trampoline, @function
fringe_arch_ppc64le_entry_trampoline:
    .cfi_startproc
    # At the landing r1 = base - 48; at the call, base - 32 (the link slot),
    # so this frame's CFA is base. The "caller's" r31 is the link slot's
    # value; the return address is in r30 (see ppc64le.h), which entry
    # saves and its CFI restores.
    .cfi_def_cfa 1, 48
    .cfi_offset 31, -32
    .cfi_register 65, 30
    # Skipped by the first switch: keeps the landing address off the
    # symbol's first instruction.
    nop
1:
    addi 30, 12, (__morestack + 4) - 1b
    ld 31, 0(1)
    addi 1, 1, 16
    .cfi_def_cfa_offset 32
    ld 12, 16(1)
    ld 5, 24(1)
    mtctr 12
    # r1 = base - 32 is 16-byte aligned, and its header (back chain = the
    # link slot) is what entry's prologue saves into.
    bctrl
    # entry never returns.
    trap
    .cfi_endproc
    .size fringe_arch_ppc64le_entry_trampoline, .-fringe_arch_ppc64le_entry_trampoline
)");

extern "C" void __morestack();
extern "C" void fringe_arch_ppc64le_entry_trampoline();

namespace fringe::arch_internal {

extern const Trampolines kTrampolines = {
    &__morestack, &fringe_arch_ppc64le_entry_trampoline};
static_assert(kLinkTrampolineReturnOffset == 4,
              "the entry trampoline computes __morestack + 4 itself");

}  // namespace fringe::arch_internal
