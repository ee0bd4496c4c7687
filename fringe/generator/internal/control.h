// fringe/generator/internal/control.h
//
// What a generator and its owner share, and the words they pass at a switch.
// Internal to fringe: included by fringe/generator/generator.h.

#ifndef FRINGE_GENERATOR_INTERNAL_CONTROL_H_
#define FRINGE_GENERATOR_INTERNAL_CONTROL_H_

#include <cstddef>
#include <cstdint>
#include <new>
#include <type_traits>
#include <utility>

#if defined(__cpp_exceptions)
#include <exception>
#include <string>
#endif
#if __STDC_HOSTED__
#include <unistd.h>  // sysconf(_SC_MINSIGSTKSZ)
#endif

#include "fringe/arch/cpu_state.h"
#include "fringe/arch/switch.h"
#include "fringe/generator/internal/fatal.h"
#include "fringe/generator/internal/stack_record.h"
#include "fringe/generator/internal/switch_hooks.h"
#include "fringe/stack/stack.h"

#if __STDC_HOSTED__
#include <new>
#include <string>

#include "absl/status/statusor.h"
#include "fringe/stack/os_stack.h"
#endif

namespace fringe {
namespace generator_internal {

// Words that travel with a switch, besides pointers to values.
// Into the generator: a pointer to the input (or 0 for Input = void), or:
inline constexpr std::uintptr_t kUnwindWord = 1;
// Out of the generator: a pointer to the output, or one of the words that
// end it, all at most kLastEndingWord (so that Resume() tells them all from
// a value with one compare):
inline constexpr std::uintptr_t kReturnedWord = 0;
inline constexpr std::uintptr_t kThrewWord = 1;
inline constexpr std::uintptr_t kThreadExitWord = 3;  // Exit/cancel in flight.
// (kOverflowedWord = 4, stack_record.h.)
inline constexpr std::uintptr_t kLastEndingWord = 4;
// or, for Output = void, a suspension:
inline constexpr std::uintptr_t kSuspendedVoidWord = 8;
static_assert(kOverflowedWord <= kLastEndingWord &&
              kSuspendedVoidWord > kLastEndingWord);

// What the generator and its owner share, at the top of the generator's
// stack (so it never moves when the Generator object does).
struct ControlBase {
  // First: every resume writes `tools.suspended`, and the link slot just
  // below, which Generator's constructor places in the same cache line.
  // Per resume, round-robin over 100 / 1,000 / 10,000 generators: 11.2-11.6
  // / 13.5-14.7 / 56-58 ns in lines of their own, 9.9-10.1 / 10.6-12.2 /
  // 49-52 in one (builds with aligned functions, two runs each; the FP
  // handoff, then kept here too, now travels in a register).
  ToolState tools;  // Found by tools through the StackRecord (stack_record.h).
  SwitchHooks hooks;
  arch_internal::FpControl fp_control;  // The creator's, for the first entry.
  // The body is suspended in SuspendOrCancel(): destroying the generator
  // cancels it (no ForcedUnwind), which works without exceptions too.
  bool cancellable = false;
#if defined(__cpp_exceptions)
  std::exception_ptr exception;  // What escaped the body.
#endif
};

template <typename F>
struct Control : ControlBase {
  explicit Control(F&& f) : body(std::move(f)) {}
  explicit Control(const F& f) : body(f) {}
  F body;
};

// Room the body gets at the very least, besides the control block: its
// first frames and a signal handler's, and a signal frame, which the kernel
// writes on whatever stack is running (3.5 KiB with AVX-512 state, up to 11
// KiB with AMX). glibc's sysconf(_SC_MINSIGSTKSZ) reads the kernel's figure
// for this CPU (AT_MINSIGSTKSZ). Stacks of kSurelyEnoughRoom never ask.
inline constexpr std::size_t kFrameRoom = 1024;
inline constexpr std::size_t kSurelyEnoughRoom = 64 * 1024;

inline std::size_t MinimumStackRoom() {
#if __STDC_HOSTED__ && defined(_SC_MINSIGSTKSZ)
  static const std::size_t room = [] {
    long signal_frame = sysconf(_SC_MINSIGSTKSZ);
    std::size_t room =
        kFrameRoom + (signal_frame > 0 ? std::size_t(signal_frame) : 2048);
    return (room + kStackAlignment - 1) & ~(kStackAlignment - 1);
  }();
  return room;
#else
  return kFrameRoom;  // Freestanding: no signals.
#endif
}

// Stack colouring. Every stack's top sits at the same offset in its page
// (mmap and pools hand out page-aligned stacks), so the hot lines of many
// live generators -- the control block and the frames just below it -- would
// all fall into the same few L1 sets (64 sets of 12 lines here): 100
// generators resumed in turn then miss L1 on each resume. A generator
// starts its control block and frames one of 16 cache lines lower, picked
// from its stack's page number by Fibonacci hashing (a pool's stacks are an
// even stride apart, which a plain modulo would map to few colours). Per
// resume in BM_FringeResumeRoundRobin (generator_benchmark), both builds
// with -falign-functions=64 (code layout alone moved the 10,000 case by up
// to 40% between builds): 1,000 generators 22.4-24.0 -> 13.2-14.2 ns; 100
// (11 ns) and 10,000 (about 50 ns, bound by page walks and the L2's size:
// each stack top is a page of its own) unchanged.
// A stack with no room to spare beyond the minimum is not coloured.
inline constexpr std::uintptr_t kColourLine = 64;
inline std::uintptr_t StackColour(std::uintptr_t base) {
  const std::uint64_t page = static_cast<std::uint64_t>(base) >> 12;
  return static_cast<std::uintptr_t>((page * 0x9E3779B97F4A7C15u) >> 60) *
         kColourLine;
}

// Whether `room` bytes for the body's frames leave `spare` bytes over the
// minimum. Stacks of kSurelyEnoughRoom never ask MinimumStackRoom().
inline bool HasRoom(std::size_t room, std::size_t spare) {
  return room >= kSurelyEnoughRoom + spare ||
         room >= MinimumStackRoom() + spare;
}

template <typename F>
constexpr std::size_t ControlAlignment() {
  return alignof(Control<F>) > kStackAlignment ? alignof(Control<F>)
                                               : kStackAlignment;
}

// The smallest stack (base - limit, both kStackAlignment-aligned) that a
// generator whose body is an F accepts.
template <typename F>
std::size_t MinimumStackSize() {
  constexpr std::size_t kAlign = ControlAlignment<F>();
  return ((sizeof(StackRecord) + sizeof(Control<F>) + kAlign - 1) &
          ~(kAlign - 1)) +
         MinimumStackRoom();
}

#if defined(__cpp_exceptions)
// Destroying a generator throws ForcedUnwind from its Suspend(); where that
// cannot leave the body (inside a destructor, below a noexcept function) the
// C++ runtime would end in a bare std::terminate. These turn that into one
// line naming the fix. (exception_state.cc)
// StackOverflow's what(): "fringe: the generator overflowed its stack [...".
std::string OverflowMessage(void* limit, void* base);
void BeginForcedUnwind();  // In the body, just before the throw.
void EndForcedUnwind();    // In the body, once it reached the entry.
#endif

template <typename T>
using ValueOrEmpty = std::conditional_t<std::is_void_v<T>, std::nullptr_t, T>;

template <typename Input, typename Output, typename F>
[[noreturn]] void Entry(std::uintptr_t word,
                        arch_internal::StackPointer resumer, void* context);

}  // namespace generator_internal

namespace generator_internal {

// Yielder::OnResumerStack's call, made on the resumer's stack by
// RunOnResumerStack, which then switches back to the body.
template <typename F, typename R>
struct ResumerStackCall {
  F* f;
  ControlBase* control;
  void* base;  // Where the frames on the resumer's stack start.
  alignas(std::conditional_t<std::is_void_v<R>, char, R>) unsigned char storage
      [sizeof(std::conditional_t<std::is_void_v<R>, char, R>)];
#if defined(__cpp_exceptions)
  std::exception_ptr error;
#endif

  R Result() {
#if defined(__cpp_exceptions)
    if (error) std::rethrow_exception(std::move(error));
#endif
    if constexpr (!std::is_void_v<R>) {
      R* value = std::launder(reinterpret_cast<R*>(storage));
      R result = std::move(*value);
      value->~R();
      return result;
    }
  }
};

template <typename F, typename R>
[[noreturn]] void RunOnResumerStack(std::uintptr_t,
                                    arch_internal::StackPointer body,
                                    void* context) {
  auto* call = static_cast<ResumerStackCall<F, R>*>(context);
  // To the sanitizers this is the resumer running again, as after a switch
  // back from the body; and switching back is the resumer resuming it.
  call->control->hooks.AfterResume();
#if defined(__cpp_exceptions)
  try {
#endif
    if constexpr (std::is_void_v<R>) {
      (*call->f)();
    } else {
      ::new (static_cast<void*>(call->storage)) R((*call->f)());
    }
#if defined(__cpp_exceptions)
  } catch (...) {
    call->error = std::current_exception();
  }
#endif
  call->control->hooks.UnpoisonBelowResumer(call->base);
  call->control->hooks.BeforeResume();
  arch_internal::Switch(0, body);
  __builtin_unreachable();
}

#if __STDC_HOSTED__
using DefaultStack = OsStack;

// Generator(body)'s stack: OsStack::DefaultSize(), or fails as `new` does.
#if defined(__linux__)
// Generator::StackHighWater() (exception_state.cc).
std::size_t StackHighWater(const void* limit, const void* base);
#endif

inline OsStack NewDefaultStack() {
  absl::StatusOr<OsStack> stack = OsStack::Create(OsStack::DefaultSize());
  if (!stack.ok()) {
#if defined(__cpp_exceptions)
    throw std::bad_alloc();
#else
    Fatal("Generator(body): could not create its stack: %s",
          std::string(stack.status().message()).c_str());
#endif
  }
  return *std::move(stack);
}
#else
// A freestanding build has no OS stack; Generator needs its stack named.
struct NoDefaultStack {
  NoDefaultStack() = delete;
  void* base() const;
  void* limit() const;
};
using DefaultStack = NoDefaultStack;
#endif

}  // namespace generator_internal
}  // namespace fringe

#endif  // FRINGE_GENERATOR_INTERNAL_CONTROL_H_
