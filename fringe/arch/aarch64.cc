// The AArch64 trampolines and InitStack; see aarch64.h for the frame drawing.

#include <cstdint>

#include "fringe/arch/switch.h"

// Two trampolines sit at the bottom of every generator stack.
//
// __morestack (the link trampoline) is never executed: InitStack plants
// __morestack + 4 as the return address (lr half of the frame record) of the
// entry trampoline's frame, so unwinders believe __morestack called it. Its
// CFI then leads them from the generator's stack into the frames of whoever
// last resumed it. It is named __morestack (a local symbol) because gdb
// rejects a backtrace whose frame addresses jump "inwards", except across a
// function of that name (gcc's -fsplit-stack uses it to chain stack
// segments); our stacks are not ordered.
//
// fringe_arch_aarch64_entry_trampoline is where the first switch lands, with
// x0 = arg and x1 = resumer already in place. It calls
// entry(arg in x0, resumer in x1, context in x2).
asm(R"(
    .text
    .p2align 4
    .local __morestack
    .type __morestack, %function
__morestack:
    .cfi_startproc
    // Unwinders arrive here with x29 = the link slot's value: the address of
    // the frame record {x29, resume address} the resumer's switch pushed.
    // The resumer's own sp (its CFA) is 16 bytes above that record.
    .cfi_def_cfa x29, 16
    // Its return address (x30 column) is the switch's resume address, at
    // link + 8.
    .cfi_offset x30, -8
    // Its frame pointer is the record's first word, at link + 0.
    .cfi_offset x29, -16
    // Never executed: the planted return address points past the first nop,
    // inside the symbol (unwinders look up return address - 1).
    nop
    nop
    .cfi_endproc
    .size __morestack, .-__morestack

    .p2align 4
    .globl fringe_arch_aarch64_entry_trampoline
    .hidden fringe_arch_aarch64_entry_trampoline
    .type fringe_arch_aarch64_entry_trampoline, %function
fringe_arch_aarch64_entry_trampoline:
    .cfi_startproc
    // x29 = sp = base - 32 here and stays so (entry saves x29 if it uses
    // it). This frame's CFA is base - 16.
    .cfi_def_cfa x29, 16
    // Its return address is at base - 24, where __morestack + 4 was planted.
    .cfi_offset x30, -8
    // The "caller's" x29 is the link slot at base - 32.
    .cfi_offset x29, -16
    // Skipped by the first switch: keeps the landing address off the
    // symbol's first instruction, like the x86_64 trampoline.
    nop
    ldr x2, [sp, #24]
    ldr x3, [sp, #16]
    // sp = base - 32 is 16-byte aligned at the call, as AAPCS64 requires.
    blr x3
    // entry never returns.
    brk #0x3e8
    .cfi_endproc
    .size fringe_arch_aarch64_entry_trampoline, .-fringe_arch_aarch64_entry_trampoline
)");

extern "C" void __morestack();
extern "C" void fringe_arch_aarch64_entry_trampoline();

namespace fringe::arch_internal {

StackPointer InitStack(void* base, EntryFunction entry, void* context) {
  auto* top = static_cast<std::uintptr_t*>(base);
  top[-1] = reinterpret_cast<std::uintptr_t>(context);
  top[-2] = reinterpret_cast<std::uintptr_t>(entry);
  top[-3] = reinterpret_cast<std::uintptr_t>(&__morestack) + 4;
  top[-4] = 0;  // The link slot; a zero frame pointer ends frame-pointer walks.
  top[-5] =
      reinterpret_cast<std::uintptr_t>(&fringe_arch_aarch64_entry_trampoline) +
      4;
  top[-6] = reinterpret_cast<std::uintptr_t>(top - 4);
  return top - 6;
}

}  // namespace fringe::arch_internal
