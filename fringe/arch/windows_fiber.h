// fringe/arch/windows_fiber.h
//
// The context switch on Windows x86_64: Windows fibers (SwitchToFiber), not
// a hand-made stack switch. The Windows ABI ties the running stack to the
// bounds in the Thread Information Block (exception dispatch, stack growth
// through guard pages and stack-overflow handling read them); switching
// stacks behind its back means patching those undocumented fields, as
// Boost.Context does. SwitchToFiber updates them itself. See README,
// "Windows", and fringe/stack/internal/fiber_stack.h for the stacks.
//
// Same interface as the other CPU files (switch.h), with two differences:
//  - A StackPointer names a stack_internal::FiberContext: a fiber and the
//    mailbox its next switch in fills. A suspended side's context lives on
//    its own stack, in the Switch it is suspended in.
//  - A generator starts on a FiberStack (InitFiber), not on raw memory, and
//    its last switch (Switch with a word of at most kLastSwitchWordMax: only
//    the generator's entry sends those from its stack) first returns the
//    fiber to where it waits for its next generator.

#ifndef FRINGE_ARCH_WINDOWS_FIBER_H_
#define FRINGE_ARCH_WINDOWS_FIBER_H_

#if !defined(_WIN32) || !defined(__x86_64__)
#error "fringe/arch/windows_fiber.h is for Windows x86_64"
#endif

#include <cstdint>

#include "fringe/stack/internal/fiber_stack.h"

namespace fringe::arch_internal {

// Words up to this one, sent by Switch (from a generator's stack), end the
// generator (generator_internal::kReturnedWord and kThrewWord; generator.h
// checks).
inline constexpr std::uintptr_t kLastSwitchWordMax = 1;

// The running fiber: the TIB's FiberData (what GetCurrentFiber() reads).
__attribute__((always_inline)) inline void* RunningFiber() {
  void* fiber;
  asm volatile("movq %%gs:0x20, %0" : "=r"(fiber));
  return fiber;
}

// The first switch to the returned context runs entry(arg, resumer,
// context) on `stack`, below frames_base.
inline StackPointer InitFiber(stack_internal::FiberStack* stack,
                              void* frames_base, EntryFunction entry,
                              void* context) {
  return stack->Start(frames_base, entry, context);
}

// From a generator's stack to its resumer.
inline Transfer Switch(std::uintptr_t arg, StackPointer to, FpControl fp = {}) {
  auto* target = static_cast<stack_internal::FiberContext*>(to);
  target->fp = fp.bits;
  if (arg <= kLastSwitchWordMax) stack_internal::FinishOnFiber(arg, target);
  stack_internal::FiberContext self{RunningFiber(), 0, nullptr};
  target->arg = arg;
  target->from = &self;
  stack_internal::SwitchToContext(target);
  return {self.arg, self.from, {self.fp}};
}

// From the resumer into a generator. The resumer may be a thread that is not
// a fiber yet: it is converted, once (fringe never converts it back).
// Nothing to link: a fiber's frames end at its own start.
inline Transfer SwitchAndLink(std::uintptr_t arg, StackPointer to, void*,
                              FpControl fp = {}) {
  auto* target = static_cast<stack_internal::FiberContext*>(to);
  stack_internal::FiberContext self{
      stack_internal::CurrentFiberConvertingThread(), 0, nullptr};
  target->arg = arg;
  target->from = &self;
  target->fp = fp.bits;
  stack_internal::SwitchToContext(target);
  return {self.arg, self.from, {self.fp}};
}

}  // namespace fringe::arch_internal

#endif  // FRINGE_ARCH_WINDOWS_FIBER_H_
