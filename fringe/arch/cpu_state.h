// fringe/arch/cpu_state.h
//
// CPU state that the context switch itself leaves alone, and that the
// generator handles around it. Internal to fringe.
//
//  - ThreadPointer(): which thread is running, read so that the compiler
//    cannot reuse an earlier read. Compilers treat a thread's identity as
//    constant within a function (glibc declares __errno_location() and
//    pthread_self() `const`; a thread_local's address is computed once), but
//    code on a generator stack can be suspended on one thread and resumed on
//    another. fringe pins generators to a thread with it (and keys its own
//    per-thread caches on it), through `asm volatile`, which the compiler
//    neither merges with another read nor moves across the switch.
//
//  - FpControl: the floating-point control state that the CPU's psABI makes
//    callee-saved, so that each generator keeps its own, as a caller keeps
//    its own across a call:
//      x86_64, x86_32: "The control bits of the MXCSR register are
//        callee-saved (preserved across calls), while the status bits are
//        caller-saved. The x87 status word register is caller-saved, whereas
//        the x87 control word is callee-saved." (System V psABI, AMD64 3.2.1;
//        i386 2.2.1 likewise). MXCSR's sticky status flags stay the thread's.
//      aarch64: FPCR is "global" state that only dedicated support functions
//        change (AAPCS64, 6.1.3), so it is the thread's, not a generator's.
//      riscv64: "fcsr ... must have thread storage duration in accordance
//        with C11" (RISC-V psABI, "Floating-point Register Convention"), so
//        frm is the thread's too.
//      arm32: FPSCR is "a global register" like aarch64's FPCR (AAPCS,
//        5.1.2.2; quoted in arm32.h).
//      ppc64le: FPSCR's modes are "limited-access" (ELFv2 ABI 2.2.1; see
//        ppc64le.h): changed only by functions meant to, for the thread.
//      s390x: the ABI does not say (fpc is missing from its preservation
//        table; see s390x.h); the thread's, as on POWER.
//      mips64el: FCSR, the thread's (see mips64el.h).
//    On the CPUs where it is per context, the side that switches out reads
//    its state (stmxcsr, fnstcw) and the switch hands it over in a register
//    (Switch's `fp`, switch.h), as it does the word; the side that arrives
//    compares that with its own and writes the hardware (ldmxcsr, fldcw:
//    serialising on most cores) only when they differ. One read per switch:
//    reading both before and after each switch cost 3.6 ns per round trip
//    here, twice what the switch itself costs. In a register, not in the
//    generator's control block: the body's load of it there was one more
//    cache miss, in a chain of dependent ones, for each generator resumed in
//    turn (BM_FringeResumeRoundRobin, 100 / 1,000 / 10,000 generators:
//    11.5-12.2 / 12.5-12.9 / 58-60 ns per resume through memory, 7.9-8.8 /
//    8.5-9.7 / 39-46 in a register; one resume 5.9 -> 5.7 ns; builds with
//    aligned functions, two interleaved runs each).

#ifndef FRINGE_ARCH_CPU_STATE_H_
#define FRINGE_ARCH_CPU_STATE_H_

#include <cstdint>

namespace fringe::arch_internal {

__attribute__((always_inline)) inline std::uintptr_t ThreadPointer() {
  std::uintptr_t tp;
#if defined(_WIN32) && defined(__x86_64__)
  // The TEB's own address (NT_TIB.Self): one per thread, shared by the
  // thread's fibers.
  asm volatile("movq %%gs:0x30, %0" : "=r"(tp));
#elif defined(__x86_64__)
  asm volatile("movq %%fs:0, %0" : "=r"(tp));
#elif defined(__i386__)
  asm volatile("movl %%gs:0, %0" : "=r"(tp));
#elif defined(__aarch64__)
  asm volatile("mrs %0, tpidr_el0" : "=r"(tp));
#elif defined(__riscv)
  asm volatile("mv %0, tp" : "=r"(tp));
#elif defined(__arm__)
  // TPIDRURO, which Linux sets to the thread's TLS pointer.
  asm volatile("mrc p15, 0, %0, c13, c0, 3" : "=r"(tp));
#elif defined(__powerpc64__)
  asm volatile("mr %0, 13" : "=r"(tp));
#elif defined(__s390x__)
  // a0:a1, the high and low halves.
  asm volatile("ear %0, %%a0\n\tsllg %0, %0, 32\n\tear %0, %%a1" : "=&d"(tp));
#elif defined(__mips64)
  // UserLocal, in $3: the register Linux emulates rdhwr for fastest.
  register std::uintptr_t v1 asm("$3");
  asm volatile(".set push\n\t.set mips32r2\n\trdhwr $3, $29\n\t.set pop"
               : "=r"(v1));
  tp = v1;
#else
#error "fringe: ThreadPointer() has no implementation for this CPU"
#endif
  return tp;
}

#if defined(__x86_64__) || defined(__i386__)

// x86_32 too: every x86 CPU since the Pentium III has MXCSR, and fringe on
// x86_32 needs it (glibc's fesetround sets it wherever it exists).
#define FRINGE_ARCH_FP_CONTROL_PER_CONTEXT 1

// One 32-bit word, so that it fits one register on x86_32 too: MXCSR's low
// half (its high half is reserved, zero) and the x87 control word above it.
// Each is read back from memory with the width it was stored with: a wider
// load of what stmxcsr and fnstcw stored defeats store-to-load forwarding,
// which cost 5 ns per round trip here.
struct FpControl {
  std::uint32_t bits = 0;
};

// MXCSR bits 0-5 are the sticky exception flags: the thread's, not kept.
inline constexpr std::uint32_t kMxcsrStatusBits = 0x3f;

__attribute__((always_inline)) inline FpControl ReadFpControl() {
  std::uint32_t mxcsr;
  std::uint16_t x87;
  asm volatile("stmxcsr %0\n\tfnstcw %1" : "=m"(mxcsr), "=m"(x87));
  return {(mxcsr & 0xffff) | std::uint32_t{x87} << 16};
}

// Makes `mine` the running context's control state again, given `running`,
// the state the other side read just before it switched here (so no read of
// the hardware is needed to find that nothing changed). Keeps the status
// flags, which are the thread's.
__attribute__((always_inline)) inline void ReturnToFpControl(
    FpControl mine, FpControl running) {
  if (__builtin_expect(((mine.bits ^ running.bits) & ~kMxcsrStatusBits) != 0,
                       0)) {
    std::uint32_t now;
    asm volatile("stmxcsr %0" : "=m"(now));
    std::uint32_t mxcsr =
        (mine.bits & 0xffff & ~kMxcsrStatusBits) | (now & kMxcsrStatusBits);
    std::uint16_t x87 = static_cast<std::uint16_t>(mine.bits >> 16);
    asm volatile("ldmxcsr %0\n\tfldcw %1" : : "m"(mxcsr), "m"(x87));
  }
}

#else  // The thread's, per the psABI (see the top of this file).

#define FRINGE_ARCH_FP_CONTROL_PER_CONTEXT 0

struct FpControl {};
inline FpControl ReadFpControl() { return {}; }
inline void ReturnToFpControl(FpControl, FpControl) {}

#endif

}  // namespace fringe::arch_internal

#endif  // FRINGE_ARCH_CPU_STATE_H_
