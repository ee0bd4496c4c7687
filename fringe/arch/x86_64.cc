// The x86_64 trampolines and shadow-stack check; the design is drawn in
// switch.h, what differs in x86_64.h.

#if defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "fringe/arch/switch.h"

// Where the first switch lands: this many bytes past the entry trampoline's
// symbol, on its endbr64. The assembly below is laid out from it.
#define FRINGE_X86_64_ENTRY_LANDING 1
#define FRINGE_X86_64_STR(x) FRINGE_X86_64_STR2(x)
#define FRINGE_X86_64_STR2(x) #x

// The link trampoline (__morestack) and the entry trampoline of switch.h.
// Only the CFI's numbers differ: the red zone the switch skips (x86_64.h).
//
// fringe_arch_x86_64_entry_trampoline is where the first switch lands, with
// an indirect jump, so on an endbr64 (see x86_64.h). It calls entry(arg in
// %rdi, resumer in %rsi, context in %rdx).
// clang-format off: the assembly splices FRINGE_X86_64_ENTRY_LANDING in.
asm(R"(
    .text
    .p2align 4
    .local __morestack
    .type __morestack, @function
__morestack:
    .cfi_startproc
    # Unwinders arrive here with %rbp = the link slot's value: the resumer's
    # stack pointer after its switch pushed the resume address and %rbp, and
    # stepped 128 bytes over its red zone.
    # The resumer's own stack pointer (its CFA) is 144 bytes above that.
    .cfi_def_cfa %rbp, 144
    # Its return address is the switch's resume address, at link + 8.
    .cfi_offset %rip, -136
    # Its frame pointer was pushed last, at link + 0.
    .cfi_offset %rbp, -144
    # Never executed: the planted return address points past these, inside
    # the symbol (some unwinders dislike one-byte functions).
    nop
    nop
    .cfi_endproc
    .size __morestack, .-__morestack

    .p2align 4
    .globl fringe_arch_x86_64_entry_trampoline
    .hidden fringe_arch_x86_64_entry_trampoline
    .type fringe_arch_x86_64_entry_trampoline, @function
fringe_arch_x86_64_entry_trampoline:
    .cfi_startproc
    # %rbp = %rsp = base - 32 here and stays so (entry saves it if it uses
    # it). This frame's CFA is base - 16; its return address is at CFA - 8
    # (the CIE's rule), where __morestack + 2 was planted.
    .cfi_def_cfa %rbp, 16
    # The "caller's" %rbp is the link slot at base - 32.
    .cfi_offset %rbp, -16
    # The first switch lands FRINGE_X86_64_ENTRY_LANDING bytes in, on this
    # endbr64 (it comes by `jmp *%rax`: IBT wants one). Off the symbol's
    # first byte, which unwinders would attribute to the previous function.
    # Nops, never executed, fill the bytes before (.org fails if they
    # cannot).
    .org fringe_arch_x86_64_entry_trampoline + )"
    FRINGE_X86_64_STR(FRINGE_X86_64_ENTRY_LANDING) R"(, 0x90
    endbr64
    movq 24(%rsp), %rdx
    # %rsp + 8 is 16-byte aligned at entry, as the ABI requires.
    callq *16(%rsp)
    # entry never returns.
    ud2
    .cfi_endproc
    .size fringe_arch_x86_64_entry_trampoline, .-fringe_arch_x86_64_entry_trampoline
)");
// clang-format on

extern "C" void __morestack();
extern "C" void fringe_arch_x86_64_entry_trampoline();

namespace fringe::arch_internal {

extern const Trampolines kTrampolines = {&__morestack,
                                         &fringe_arch_x86_64_entry_trampoline};
static_assert(kEntryTrampolineLandingOffset == FRINGE_X86_64_ENTRY_LANDING);

namespace {

// From <asm/prctl.h> (Linux 6.6), spelled out for older kernel headers.
constexpr int kArchShstkStatus = 0x5005;
constexpr std::uint64_t kArchShstkShstk = 1;  // Bit 0: shadow stack enabled.

// Not a status word: no test override is pending.
constexpr std::uint64_t kNoStatusOverride = ~std::uint64_t{0};

std::atomic<std::uint64_t> status_override{kNoStatusOverride};

std::uint64_t ShadowStackStatus() {
  if (std::uint64_t s = status_override.exchange(kNoStatusOverride);
      s != kNoStatusOverride) {
    return s;
  }
  std::uint64_t status = 0;
#if defined(__linux__) && defined(SYS_arch_prctl)
  // Kernels without user shadow stacks (before 6.6, or built without
  // CONFIG_X86_USER_SHADOW_STACK) answer EINVAL: then they are off.
  if (syscall(SYS_arch_prctl, kArchShstkStatus, &status) != 0) status = 0;
#endif
  return status;
}

}  // namespace

// Set once InitStack has found shadow stacks off; a relaxed load on every
// later call. Racing first calls both ask the kernel, harmlessly.
std::atomic<bool> shadow_stacks_checked{false};

[[gnu::cold]] void CheckShadowStacks() {
  if (const char* problem = ShadowStackProblem(ShadowStackStatus())) {
    std::fprintf(stderr, "fringe: %s\n", problem);
    std::fflush(stderr);
    std::abort();
  }
  shadow_stacks_checked.store(true, std::memory_order_relaxed);
}

const char* ShadowStackProblem(std::uint64_t status) {
  if ((status & kArchShstkShstk) == 0) return nullptr;
  return "this process runs with x86 shadow stacks (CET SHSTK) enabled, and "
         "fringe's context switch does not switch them yet, so the first "
         "return after a switch would fault; run it with shadow stacks off "
         "(e.g. GLIBC_TUNABLES=glibc.cpu.x86_shstk=off)";
}

void SetShadowStackStatusForTesting(std::uint64_t status) {
  status_override.store(status);
  shadow_stacks_checked.store(false);
}

}  // namespace fringe::arch_internal
