// The riscv64 trampolines; the design is drawn in switch.h, what differs in
// riscv64.h.

#include <cstdint>

#include "fringe/arch/switch.h"

// The link trampoline (__morestack) and the entry trampoline of switch.h.
//
// fringe_arch_riscv64_entry_trampoline is where the first switch lands, with
// a0 = arg and a1 = resumer already in place. It calls
// entry(arg in a0, resumer in a1, context in a2).
//
// `.option norvc` keeps every instruction here 4 bytes long, so the offsets
// InitStack adds (+4) land where this file says, whatever the compressed
// instruction extension would have chosen.
asm(R"(
    .text
    .option push
    .option norvc
    .p2align 4
    .local __morestack
    .type __morestack, @function
__morestack:
    .cfi_startproc
    # Unwinders arrive here with s0 = the link slot's value: the resumer's
    # sp before its switch, which is the resumer's CFA.
    .cfi_def_cfa s0, 0
    # Its return address (ra column) is the switch's resume address, which
    # the switch stored at link - 8.
    .cfi_offset ra, -8
    # Its s0 was stored at link - 16.
    .cfi_offset s0, -16
    # Never executed: the planted return address points past the first nop,
    # inside the symbol (unwinders look up return address - 1).
    nop
    nop
    .cfi_endproc
    .size __morestack, .-__morestack

    .p2align 4
    .globl fringe_arch_riscv64_entry_trampoline
    .hidden fringe_arch_riscv64_entry_trampoline
    .type fringe_arch_riscv64_entry_trampoline, @function
fringe_arch_riscv64_entry_trampoline:
    .cfi_startproc
    # s0 = base - 16 here, sp = base - 32; s0 stays so (entry saves it if it
    # uses it). This frame's CFA is s0 = base - 16.
    .cfi_def_cfa s0, 0
    # Its return address is at base - 24, where __morestack + 4 was planted.
    .cfi_offset ra, -8
    # The "caller's" s0 is the link slot at base - 32.
    .cfi_offset s0, -16
    # Skipped by the first switch: keeps the landing address off the
    # symbol's first instruction, like the x86_64 trampoline.
    nop
    ld a2, 24(sp)
    ld t1, 16(sp)
    # sp = base - 32 is 16-byte aligned at the call, as the psABI requires.
    # jalr through ra pushes the return-address stack; entry's ret pops it.
    jalr ra, 0(t1)
    # entry never returns.
    unimp
    .cfi_endproc
    .size fringe_arch_riscv64_entry_trampoline, .-fringe_arch_riscv64_entry_trampoline
    .option pop
)");

extern "C" void __morestack();
extern "C" void fringe_arch_riscv64_entry_trampoline();

namespace fringe::arch_internal {

extern const Trampolines kTrampolines = {&__morestack,
                                         &fringe_arch_riscv64_entry_trampoline};

}  // namespace fringe::arch_internal
