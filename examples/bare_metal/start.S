// Start-up code for the bare-metal example on qemu-system-aarch64 -M virt:
// sets the stack pointer, enables the FP/SIMD unit, clears .bss, calls
// main(), and hands main's result to the emulator through semihosting.

    .section .text.boot, "ax"
    .global _start
_start:
    ldr x0, =__stack_top
    mov sp, x0
    // CPACR_EL1.FPEN = 0b11: FP/SIMD instructions (which the compiler uses
    // freely) would otherwise trap at EL1.
    mov x0, #(3 << 20)
    msr cpacr_el1, x0
    isb
    ldr x0, =__bss_start
    ldr x1, =__bss_end
1:  cmp x0, x1
    b.hs 2f
    str xzr, [x0], #8
    b 1b
2:  bl main
    // Semihosting SYS_EXIT (0x18): x1 points at {reason, exit code}.
    ldr x1, =exit_block
    mov x2, #0x26
    movk x2, #2, lsl #16        // ADP_Stopped_ApplicationExit = 0x20026
    str x2, [x1]
    str x0, [x1, #8]
    mov x0, #0x18
    hlt #0xf000
3:  b 3b

    .section .bss
    .balign 8
exit_block:
    .skip 16
