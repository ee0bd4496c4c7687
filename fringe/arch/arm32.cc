// The arm32 trampolines; the design is drawn in switch.h, what differs in
// arm32.h.

#include "fringe/arch/switch.h"

// The link trampoline (__morestack) and the entry trampoline of switch.h, in
// ARM state. Each says how to unwind it twice: DWARF CFI (.cfi_*, for gdb)
// and EHABI (.fnstart/.save/.setfp, for libgcc's unwinder: backtrace(3),
// exceptions). Both unwinders carry the link slot's value in r7 from the
// entry trampoline to __morestack, whichever register the frames around them
// use as their frame pointer.
//
// fringe_arch_arm32_entry_trampoline is where the first switch lands (`bx`
// to an even address: ARM state), with r0 = arg and r1 = resumer already in
// place and sp = the link slot. It calls entry(arg, resumer, context) with
// `blx`, which enters entry in its own instruction set (bit 0 of a Thumb
// function's address).
asm(R"(
    .text
    .syntax unified
    .arm
    .p2align 3
    .local __morestack
    .type __morestack, %function
__morestack:
    .fnstart
    .cfi_startproc
    @ Unwinders arrive here with r7 = the link slot's value: the address of
    @ the pair {frame pointer, resume address} the resumer's switch stored.
    @ The resumer's own sp (its CFA) is 8 bytes above that pair.
    .cfi_def_cfa r7, 8
    @ Its return address is the pair's second word, its frame pointer (r7 in
    @ Thumb code, r11 in ARM code) the first.
    .cfi_offset lr, -4
    .cfi_offset r7, -8
    .cfi_offset r11, -8
    @ EHABI, read backwards: vsp = r7, then pop {r7, lr}. (EHABI cannot load
    @ one word into two registers: the resumer's r11 is not restored.)
    .save {r7, lr}
    .setfp r7, sp
    @ Never executed: the planted return address points past the first nop.
    nop
    nop
    .cfi_endproc
    .fnend
    .size __morestack, .-__morestack

    .p2align 3
    .globl fringe_arch_arm32_entry_trampoline
    .hidden fringe_arch_arm32_entry_trampoline
    .type fringe_arch_arm32_entry_trampoline, %function
fringe_arch_arm32_entry_trampoline:
    .fnstart
    .cfi_startproc
    @ The first switch lands (4 bytes in) with sp at the initial pair
    @ {link slot address, this landing}, base - 24, and pops it here, as the
    @ code at a switch's resume address does. From then on, and at the call
    @ below, sp = base - 16, the link slot: this frame's CFA is base - 8, its
    @ return address is at base - 12, where __morestack + 4 was planted, and
    @ the "caller's" r7 is the link slot. (Unwinders only see it at the call.)
    .cfi_def_cfa sp, 16
    .cfi_offset lr, -4
    .cfi_offset r7, -8
    @ EHABI: pop {r7, lr} from sp (its state at the call).
    .save {r7, lr}
    @ Skipped by the first switch: keeps the landing address off the
    @ symbol's first instruction.
    nop
    @ The link slot's address, as the frame pointer of entry's callers in
    @ either instruction set.
    ldr r7, [sp], #8
    .cfi_def_cfa_offset 8
    mov r11, r7
    ldr r2, [sp, #12]
    ldr r3, [sp, #8]
    @ sp = base - 16 is 8-byte aligned at the call, as AAPCS requires.
    blx r3
    @ entry never returns.
    udf #0
    .cfi_endproc
    .fnend
    .size fringe_arch_arm32_entry_trampoline, .-fringe_arch_arm32_entry_trampoline
)");

extern "C" void __morestack();
extern "C" void fringe_arch_arm32_entry_trampoline();

namespace fringe::arch_internal {

extern const Trampolines kTrampolines = {&__morestack,
                                         &fringe_arch_arm32_entry_trampoline};

}  // namespace fringe::arch_internal
