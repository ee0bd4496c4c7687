// fringe/arch/aarch64.h
//
// The AArch64 (AAPCS64, Linux) context switch. Included by
// fringe/arch/switch.h; see there for the interface and the design. The
// trampolines and the GCS check live in aarch64.cc.
//
// What differs from switch.h's design: nothing in the frames. A suspended
// context's pair {x29, resume address} is an ordinary AAPCS64 frame record,
// so frame-pointer walkers follow it, and x29 points at it (in the entry
// trampoline too); the first switch lands 4 bytes into the entry trampoline,
// on its `bti j`.
//
// There is no red zone on AArch64 Linux: nothing below sp is live.
//
// Registers at a switch: x0 carries the word both ways, x2 the target stack
// pointer, x3 the link slot, and x1 returns the stack pointer of whoever
// switched. At the entry trampoline x0 and x1 are therefore already entry's
// first two arguments. Everything else is clobbered, including x18: GCC and
// Clang allocate it as a temporary on Linux (the "platform register" is
// reserved only where the OS says so), so another context may change it.
//
// Hardened builds (-mbranch-protection=standard):
// - BTI: every `br` of a switch lands on a `bti j` (spelled `hint #36`, which
//   every assembler accepts whatever -march says, and every CPU without BTI
//   runs as a NOP): label 0 below, and entry trampoline + 4 in aarch64.cc.
//   The entry trampoline's `blr` lands on entry's own `bti c` (the compiler
//   puts one on every function whose address is taken).
// - PAC (pac-ret): the resume addresses a switch stores are plain `adr`
//   results, never signed, and fringe's CFI says so (an FDE starts with the
//   return address unsigned, and no .cfi_negate_ra_state follows); the
//   frames of compiled code keep their own signed return addresses and CFI.
// - GCS (the arm64 shadow stack): not switched per context yet, so fringe
//   refuses to run with it; see aarch64.cc.
//
// Floating-point control (FPCR: rounding mode, exception traps, flush to
// zero) belongs to the thread, not to a context: the switch leaves it alone,
// so a mode one side sets is what the other side runs with after the next
// switch. This is what AAPCS64 (section "SIMD and Floating-Point registers")
// prescribes: "The FPCR is used to control the behavior of the floating-point
// unit. It is a global register with the following properties. The
// exception-control bits (8-12), rounding mode bits (22-23), flush-to-zero
// bits (24), and the AH and FIZ bits (0-1) may be modified by calls to
// specific support functions that affect the global state of the
// application." The status register FPSR is not preserved across a call
// either ("These fields are not preserved across a public interface").
// tests/arch_hardening_fp_control_test.cc pins this.

#ifndef FRINGE_ARCH_AARCH64_H_
#define FRINGE_ARCH_AARCH64_H_

#include <atomic>
#include <cstdint>

namespace fringe::arch_internal {

// The initial frame's per-CPU constants (switch.h).
inline constexpr std::uintptr_t kLinkTrampolineReturnOffset = 4;
inline constexpr std::uintptr_t kEntryTrampolineLandingOffset = 4;
inline constexpr std::uintptr_t kEntryFramePointerAboveLinkSlot = 0;

// Hosted Linux only: InitStack checks, once per process, that GCS is off
// (see aarch64.cc). A freestanding build has no kernel to ask.
#if __STDC_HOSTED__ && defined(__linux__)
#define FRINGE_AARCH64_CHECKS_GCS 1

// Aborts with one line if GCS is on; asks the kernel once. Inline: after the
// first call, one relaxed load.
extern std::atomic<bool> gcs_checked;
void CheckGcs();
inline void CheckProcessCanSwitch() {
  if (!gcs_checked.load(std::memory_order_relaxed)) [[unlikely]] {
    CheckGcs();
  }
}

// The reason fringe cannot run, given what prctl(PR_GET_SHADOW_STACK_STATUS)
// returned, the errno it set and the status word it wrote; nullptr if it
// can. Exposed for tests: no CPU or kernel here can turn GCS on.
const char* GcsProblem(int prctl_result, int prctl_errno, unsigned long status);

// For tests: the next InitStack checks `status` instead of asking the kernel.
void SetGcsStatusForTesting(unsigned long status);
#else
#define FRINGE_AARCH64_CHECKS_GCS 0
inline void CheckProcessCanSwitch() {}
#endif

// The switch proper; SwitchAndLink adds one store (LINK) to it.
//
// Why one stp/ldp pair: sp must stay 16-byte aligned whenever it is used as
// a base register, and {x29, resume address} is exactly one aligned pair.
#define FRINGE_AARCH64_SWITCH_ASM(LINK)                                \
  "adr x4, 0f\n\t"               /* resume address */                  \
  "stp x29, x4, [sp, #-16]!\n\t" /* frame record: fp, then "lr" */     \
  "mov x1, sp\n\t"               /* hand our stack pointer over */     \
      LINK                                                             \
  "ldp x29, x4, [x2]\n\t"                                              \
  "add sp, x2, #16\n\t" /* enter the target stack, above its record */ \
  "br x4\n\t"                                                          \
  "0:\n\t"                                                             \
  "hint #36\n\t" /* bti j: the landing pad for the br that resumes us */

// Everything the switch does not handle by hand. x29 is saved by hand
// (compilers refuse the frame pointer as a clobber), sp is the switch itself,
// x0-x3 are operands. Clobbering v0-v31 makes the compiler save d8-d15, the
// callee-saved halves, in the functions that use them. x30 (lr) is clobbered
// because the other context's code ran meanwhile.
//
// With SVE, "v0"-"v31" name the whole z registers in both GCC and Clang (the
// register allocators see one register), so z state is covered; p0-p15 are
// listed. The first-fault register is a clobber only GCC can name: Clang 14
// and 16 reject "ffr" ("unknown register name"), so with Clang it is left
// out. Clang needs no clobber for it: it models FFR as inaccessible memory
// (svsetffr, svldff1 and svrdffr are `memory(inaccessiblemem: ...)` in its
// IR), and the "memory" clobber of an asm volatile already orders every one
// of them around the switch. AAPCS64 makes FFR caller-saved, so code must
// not expect its value to survive a switch either way.
#if defined(__ARM_FEATURE_SVE) && defined(__clang__)
#define FRINGE_AARCH64_SVE_CLOBBERS                                           \
  , "p0", "p1", "p2", "p3", "p4", "p5", "p6", "p7", "p8", "p9", "p10", "p11", \
      "p12", "p13", "p14", "p15"
#elif defined(__ARM_FEATURE_SVE)
#define FRINGE_AARCH64_SVE_CLOBBERS                                           \
  , "p0", "p1", "p2", "p3", "p4", "p5", "p6", "p7", "p8", "p9", "p10", "p11", \
      "p12", "p13", "p14", "p15", "ffr"
#else
#define FRINGE_AARCH64_SVE_CLOBBERS
#endif
#define FRINGE_AARCH64_CLOBBERS                                                \
  "x4", "x5", "x6", "x7", "x8", "x9", "x10", "x11", "x12", "x13", "x14",       \
      "x15", "x16", "x17", "x18", "x19", "x20", "x21", "x22", "x23", "x24",    \
      "x25", "x26", "x27", "x28", "x30", "v0", "v1", "v2", "v3", "v4", "v5",   \
      "v6", "v7", "v8", "v9", "v10", "v11", "v12", "v13", "v14", "v15", "v16", \
      "v17", "v18", "v19", "v20", "v21", "v22", "v23", "v24", "v25", "v26",    \
      "v27", "v28", "v29", "v30", "v31", "cc",                                 \
      "memory" FRINGE_AARCH64_SVE_CLOBBERS

__attribute__((always_inline)) inline Transfer SwitchAndLink(std::uintptr_t arg,
                                                             StackPointer to,
                                                             void* to_base) {
  // Before the register variables: a call between their initialisation and
  // the asm (LinkSlot() is one at -O0) may overwrite them.
  void* link = LinkSlot(to_base);
  register std::uintptr_t x0 asm("x0") = arg;
  register StackPointer x1 asm("x1");
  register StackPointer x2 asm("x2") = to;
  register void* x3 asm("x3") = link;
  asm volatile(FRINGE_AARCH64_SWITCH_ASM("str x1, [x3]\n\t")
               : "+r"(x0), "=r"(x1), "+r"(x2), "+r"(x3)
               :
               : FRINGE_AARCH64_CLOBBERS);
  return {x0, x1};
}

__attribute__((always_inline)) inline Transfer Switch(std::uintptr_t arg,
                                                      StackPointer to) {
  register std::uintptr_t x0 asm("x0") = arg;
  register StackPointer x1 asm("x1");
  register StackPointer x2 asm("x2") = to;
  asm volatile(FRINGE_AARCH64_SWITCH_ASM("")
               : "+r"(x0), "=r"(x1), "+r"(x2)
               :
               : "x3", FRINGE_AARCH64_CLOBBERS);
  return {x0, x1};
}

#undef FRINGE_AARCH64_SWITCH_ASM
#undef FRINGE_AARCH64_CLOBBERS
#undef FRINGE_AARCH64_SVE_CLOBBERS

}  // namespace fringe::arch_internal

#endif  // FRINGE_ARCH_AARCH64_H_
