// fringe/debug/internal/resume_context.h
//
// Makes a signal handler return into a context that fringe's switch
// suspended, instead of into the code that faulted: what recovering from a
// generator's stack overflow does (stack_overflow.cc). Every CPU's switch
// leaves a suspended context as [frame pointer][resume address] at its stack
// pointer and resumes it by loading both, stepping over them and jumping to
// the resume address with the word in the first argument register and the
// switching context's stack pointer in the second (fringe/arch/switch.h).
// Here the kernel does the loading, from the ucontext the handler edits.
// Internal to fringe.

#ifndef FRINGE_DEBUG_INTERNAL_RESUME_CONTEXT_H_
#define FRINGE_DEBUG_INTERNAL_RESUME_CONTEXT_H_

#include <signal.h>
#include <sys/ucontext.h>

#include <cstdint>

namespace fringe::debug_internal {

// The suspended context of whoever last resumed a generator, from the value
// SwitchAndLink left in the generator's link slot. riscv64's switch stores
// its stack pointer there before pushing its [s0][resume address] pair
// (fringe/arch/riscv64.h), and ppc64le's stores the pair's address + 16,
// for glibc's back-chain walk (fringe/arch/ppc64le.h); the others store the
// pair's address.
inline void* ContextFromLink(void* link) {
#if defined(__riscv) || defined(__powerpc64__)
  return static_cast<char*>(link) - 16;
#else
  return link;
#endif
}

// Where a stack pointer sits in `context`, or 0 if this CPU is not known.
inline std::uintptr_t StackPointerOf(const ucontext_t& context) {
#if defined(__x86_64__)
  return context.uc_mcontext.gregs[REG_RSP];
#elif defined(__i386__)
  return context.uc_mcontext.gregs[REG_ESP];
#elif defined(__aarch64__)
  return context.uc_mcontext.sp;
#elif defined(__riscv)
  return context.uc_mcontext.__gregs[2];           // sp
#elif defined(__arm__)
  return context.uc_mcontext.arm_sp;
#elif defined(__powerpc64__)
  return context.uc_mcontext.gp_regs[1];  // r1
#elif defined(__s390x__)
  return context.uc_mcontext.gregs[15];
#elif defined(__mips__)
  return context.uc_mcontext.gregs[29];     // sp
#else
  (void)context;
  return 0;
#endif
}

// Rewrites `context` so that returning from the handler resumes the context
// suspended at `suspended`, receiving `word` (and 0 as the switching side).
// Returns false on a CPU it does not know.
//
// Two conventions (fringe/arch/<cpu>.h): on x86_64, x86_32, aarch64 and
// riscv64 the switching side loads the [frame pointer][resume address] pair
// and steps the stack pointer over it; on arm32, ppc64le, s390x and mips64el
// it only points the stack pointer at the pair and jumps, and the resumed
// code pops its own pair (and whatever else it saved next to it).
inline bool ResumeSuspendedContext(ucontext_t& context, void* suspended,
                                   std::uintptr_t word) {
  auto* slots = static_cast<std::uintptr_t*>(suspended);
  const std::uintptr_t pc = slots[1];
  [[maybe_unused]] const auto at_pair = reinterpret_cast<std::uintptr_t>(slots);
  [[maybe_unused]] const std::uintptr_t fp = slots[0];
  [[maybe_unused]] const auto above_pair =
      reinterpret_cast<std::uintptr_t>(slots + 2);
#if defined(__x86_64__)
  greg_t* r = context.uc_mcontext.gregs;
  r[REG_RSP] = static_cast<greg_t>(above_pair);
  r[REG_RBP] = static_cast<greg_t>(fp);
  r[REG_RIP] = static_cast<greg_t>(pc);
  r[REG_RDI] = static_cast<greg_t>(word);
  r[REG_RSI] = 0;
  return true;
#elif defined(__i386__)
  greg_t* r = context.uc_mcontext.gregs;
  r[REG_ESP] = static_cast<greg_t>(above_pair);
  r[REG_EBP] = static_cast<greg_t>(fp);
  r[REG_EIP] = static_cast<greg_t>(pc);
  r[REG_EAX] = static_cast<greg_t>(word);
  r[REG_EDX] = 0;
  return true;
#elif defined(__aarch64__)
  context.uc_mcontext.sp = above_pair;
  context.uc_mcontext.regs[29] = fp;
  context.uc_mcontext.pc = pc;
  context.uc_mcontext.regs[0] = word;
  context.uc_mcontext.regs[1] = 0;
  return true;
#elif defined(__riscv)
  unsigned long* r = context.uc_mcontext.__gregs;  // [0] is pc, [n] is xn.
  r[2] = above_pair;
  r[8] = fp;  // s0
  r[0] = pc;
  r[10] = word;  // a0
  r[11] = 0;     // a1
  return true;
#elif defined(__arm__)
  // The resume address carries the Thumb bit when the suspended code is
  // Thumb; a return from a signal takes the state from CPSR's T bit.
  constexpr unsigned long kThumbBit = 1ul << 5;
  context.uc_mcontext.arm_sp = at_pair;
  context.uc_mcontext.arm_pc = pc & ~std::uintptr_t{1};
  context.uc_mcontext.arm_cpsr =
      (pc & 1) != 0 ? context.uc_mcontext.arm_cpsr | kThumbBit
                    : context.uc_mcontext.arm_cpsr & ~kThumbBit;
  context.uc_mcontext.arm_r0 = word;
  context.uc_mcontext.arm_r1 = 0;
  return true;
#elif defined(__powerpc64__)
  unsigned long* r = context.uc_mcontext.gp_regs;
  r[1] = at_pair;
  r[32] = pc;  // PT_NIP
  r[3] = word;
  r[4] = 0;
  return true;
#elif defined(__s390x__)
  context.uc_mcontext.gregs[15] = at_pair;
  context.uc_mcontext.psw.addr = pc;
  context.uc_mcontext.gregs[2] = word;
  context.uc_mcontext.gregs[3] = 0;
  return true;
#elif defined(__mips__)
  context.uc_mcontext.gregs[29] = at_pair;  // sp
  context.uc_mcontext.pc = pc;
  context.uc_mcontext.gregs[4] = word;  // a0
  context.uc_mcontext.gregs[5] = 0;     // a1
  return true;
#else
  (void)context;
  (void)word;
  (void)pc;
  (void)at_pair;
  return false;
#endif
}

}  // namespace fringe::debug_internal

#endif  // FRINGE_DEBUG_INTERNAL_RESUME_CONTEXT_H_
