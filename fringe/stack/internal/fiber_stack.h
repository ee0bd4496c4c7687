// fringe/stack/internal/fiber_stack.h
//
// Windows: a generator's stack is a Windows fiber's, allocated by the OS
// (CreateFiberEx), which fringe switches to with SwitchToFiber. Moving the
// stack pointer into memory of one's own, as fringe does elsewhere, breaks
// the Windows ABI: the Thread Information Block names the running stack's
// bounds, and exception dispatch, stack growth and stack-overflow handling
// read them (README, "Windows").
//
// A FiberStack is one fiber that runs generators one after another, so that
// a stack allocator can reuse it without a system call:
//
//   StackBase (TIB)  +--------------------------------------+
//                    | the OS's fiber start frames           |
//                    | FiberMain's frame                     |
//                    | kParkRoom: where the fiber waits for   |
//                    |   its next generator (Park, RunJob)    |
//   base()           +--------------------------------------+
//                    | the generator's control block          |
//                    | the body's frames, growing down        |
//   limit()          +--------------------------------------+
//                    | guard: reserved; the OS's guard page   |
//                    | grows the stack into it, then raises   |
//                    | STATUS_STACK_OVERFLOW                  |
//   allocation base  +--------------------------------------+
//
// Between generators the fiber waits in FiberMain, above base(), so that a
// new generator's control block (written by its creator, on another stack)
// never overwrites a frame that is still to return. A generator's first
// switch in hands the fiber its job (entry function, frames base); its last
// switch out returns to FiberMain (through __builtin_longjmp: the body's
// frames are all dead by then) before it switches to its resumer.
//
// Internal to fringe: OsStack and StackPool own FiberStacks;
// fringe/arch/windows_fiber.h switches to them.

#ifndef FRINGE_STACK_INTERNAL_FIBER_STACK_H_
#define FRINGE_STACK_INTERNAL_FIBER_STACK_H_

#if !defined(_WIN32)
#error "fringe/stack/internal/fiber_stack.h is for Windows only"
#endif

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "absl/status/statusor.h"

namespace fringe::stack_internal {

// Something a switch can go to: a fiber, and the mailbox that the switch to
// it fills (the word handed over, who handed it, and the hander's FP
// control state: arch_internal::FpControl's bits). On Windows,
// arch_internal::StackPointer points to one of these.
struct FiberContext {
  void* fiber;
  std::uintptr_t arg;
  FiberContext* from;
  std::uint32_t fp = 0;
};

using FiberEntry = void (*)(std::uintptr_t arg, void* resumer, void* context);

struct FiberStack {
  // Creates a fiber whose stack has at least `size` usable bytes and
  // `guard_size` bytes of reserve below them, and lets it run up to where
  // it waits for a generator. `who` names the call in error messages.
  // InvalidArgumentError for a zero or overflowing size, as on every OS;
  // ResourceExhaustedError when CreateFiberEx fails.
  static absl::StatusOr<FiberStack*> Create(std::string_view who,
                                            std::size_t size,
                                            std::size_t guard_size);
  // Deletes the fiber (and with it its stack). Must not be running.
  static void Destroy(FiberStack* stack);

  // Makes `entry(arg, resumer, context)` run on this fiber, below
  // `frames_base` (which lies in [limit, base)), at the first switch to the
  // returned context. Aborts if the fiber is still inside a generator (its
  // stack was handed back by Abandon()).
  FiberContext* Start(void* frames_base, FiberEntry entry, void* context);

  void* base = nullptr;
  void* limit = nullptr;
  std::size_t guard = 0;  // Reserve asked for below the usable bytes.

  // The rest belongs to fiber_stack.cc and fringe/arch/windows_fiber.h.
  FiberContext context{};  // This fiber, while it waits or starts.
  FiberEntry entry = nullptr;
  void* entry_context = nullptr;
  void* frames_base = nullptr;
  // A generator's last switch: where to, and what.
  FiberContext* last_to = nullptr;
  std::uintptr_t last_arg = 0;
  bool waiting = false;      // In FiberMain, between generators.
  void* wait_point[5] = {};  // __builtin_setjmp buffer, in FiberMain.
};

// The fiber running now, converting the thread to a fiber the first time
// (fringe never converts it back: see README, "Windows").
void* CurrentFiberConvertingThread();

// Switches to `to` (its mailbox already filled).
void SwitchToContext(FiberContext* to);

// A generator's last switch: from the running FiberStack's body to `to`,
// handing it `arg`. Goes back to FiberMain first.
[[noreturn]] void FinishOnFiber(std::uintptr_t arg, FiberContext* to);

}  // namespace fringe::stack_internal

#endif  // FRINGE_STACK_INTERNAL_FIBER_STACK_H_
