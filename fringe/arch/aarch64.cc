// The AArch64 trampolines and GCS check; the design is drawn in switch.h,
// what differs in aarch64.h.

#include <cstdint>

#include "fringe/arch/switch.h"

// Compilers that know GCS (GCC 14, Clang 18 and later; not Debian 12's gcc 12
// or clang 16) mark an object compiled with -mbranch-protection=gcs, and some
// include gcs in =standard. This file is always linked with fringe, so it
// must stay unmarked for the linker to clear the program's GCS marking (it
// ANDs the objects' features): refuse to compile it as GCS-compatible.
#if defined(__ARM_FEATURE_GCS_DEFAULT)
#error \
    "fringe: fringe/arch/aarch64.cc must not be compiled with GCS (shadow stack) protection: fringe does not switch shadow stacks yet. Compile this file with -mbranch-protection=pac-ret+bti, e.g. --per_file_copt=fringe/arch/aarch64.cc@-mbranch-protection=pac-ret+bti"
#endif

#if FRINGE_AARCH64_CHECKS_GCS
#include <sys/prctl.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#endif

// The link trampoline (__morestack) and the entry trampoline of switch.h.
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
    // bti j: the first switch's `br` lands here (see aarch64.h).
    hint #36
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

extern const Trampolines kTrampolines = {&__morestack,
                                         &fringe_arch_aarch64_entry_trampoline};

#if FRINGE_AARCH64_CHECKS_GCS
// The arm64 Guarded Control Stack (GCS) is a shadow stack of return
// addresses: every `ret` must match the top entry. fringe's switch moves to
// another stack without moving to another shadow stack, so with GCS enabled
// the first `ret` after a switch faults. Until fringe switches shadow stacks
// per context, it refuses to run with GCS rather than crash later, and never
// claims GCS compatibility (the #error above): `readelf -n` of this file's
// object built by Debian's gcc 12 or clang 16 with -mbranch-protection=standard
// shows "AArch64 feature: BTI, PAC", no GCS (neither compiler knows GCS), so
// no program linking fringe is marked GCS-compatible, and a loader enables
// GCS only if forced to.

// prctl(2) values from linux/prctl.h (Linux 6.13), which glibc 2.36 lacks.
constexpr int kPrGetShadowStackStatus = 74;
constexpr unsigned long kPrShadowStackEnable = 1;

const char* GcsProblem(int prctl_result, int prctl_errno,
                       unsigned long status) {
  // EINVAL: a kernel without shadow stack support, so GCS is off. Any other
  // failure (e.g. a seccomp filter's EPERM) says nothing either way, and a
  // process with GCS on would fault at its first switch, which a fatal
  // message here could not make clearer.
  static_cast<void>(prctl_errno);
  if (prctl_result != 0) return nullptr;
  if ((status & kPrShadowStackEnable) == 0) return nullptr;
  return "this process runs with the arm64 Guarded Control Stack (GCS, a "
         "shadow stack) enabled, and fringe's context switch does not switch "
         "shadow stacks yet: the first return on a generator's stack would "
         "fault. Run it with GCS disabled (e.g. "
         "GLIBC_TUNABLES=glibc.cpu.aarch64_gcs=0).";
}

// Whether the process has passed the check. Relaxed: a racing second check
// just asks the kernel again.
std::atomic<bool> gcs_checked{false};

namespace {

// Set by SetGcsStatusForTesting: the status word to use instead of prctl's.
std::atomic<bool> gcs_status_forced{false};
std::atomic<unsigned long> forced_gcs_status{0};

}  // namespace

[[gnu::cold]] void CheckGcs() {
  unsigned long status = 0;
  int result = 0;
  int error = 0;
  if (gcs_status_forced.load(std::memory_order_relaxed)) {
    status = forced_gcs_status.load(std::memory_order_relaxed);
  } else {
    const int saved_errno = errno;
    result = prctl(kPrGetShadowStackStatus, &status, 0UL, 0UL, 0UL);
    error = errno;
    errno = saved_errno;
  }
  if (const char* problem = GcsProblem(result, error, status)) {
    std::fprintf(stderr, "fringe: %s\n", problem);
    std::fflush(stderr);
    std::abort();
  }
  gcs_checked.store(true, std::memory_order_relaxed);
}

void SetGcsStatusForTesting(unsigned long status) {
  forced_gcs_status.store(status, std::memory_order_relaxed);
  gcs_status_forced.store(true, std::memory_order_relaxed);
  gcs_checked.store(false, std::memory_order_relaxed);
}
#endif  // FRINGE_AARCH64_CHECKS_GCS

}  // namespace fringe::arch_internal
