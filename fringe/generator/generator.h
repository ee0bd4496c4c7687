// fringe/generator/generator.h
//
// Generator<Input, Output, Stack>: a function that runs on its own stack and
// can suspend itself in the middle, handing a value out and receiving one
// back when it is resumed. A switch costs a few nanoseconds and no system
// call.
//
//   fringe::Generator<int, int> running_sum(
//       *fringe::OsStack::Create(fringe::OsStack::DefaultSize()),
//       [](fringe::Yielder<int, int>& yielder, int first) {
//         int sum = first;
//         for (;;) sum += yielder.Suspend(sum);
//       });
//   running_sum.Resume(1);  // 1 (the body starts; 1 is its argument)
//   running_sum.Resume(2);  // 3 (Suspend returns 2 inside the body)
//
//   fringe::Generator<void, int> squares(std::move(stack), [](auto& y) {
//     for (int i = 0; i < 4; ++i) y.Suspend(i * i);
//   });
//   for (int v : squares) ...;  // 0 1 4 9
//
// Rules:
//  - The body runs only when resumed; the first Resume's input is its
//    argument. Resume returns what the body hands to Suspend, or nullopt once
//    the body has returned (for Output = void: true / false).
//  - Values are moved across, never copied and never destroyed twice.
//  - An exception that escapes the body is rethrown by Resume; the generator
//    is then finished. Each generator has its own C++ exception state, so
//    suspending inside a catch block is safe on both sides.
//  - Destroying a suspended generator unwinds its stack: Suspend throws
//    fringe::ForcedUnwind, which runs the destructors of everything live in
//    the body, exactly once. A `catch (...)` in the body must rethrow it.
//    Without exceptions (-fno-exceptions) this is impossible: destroying a
//    suspended generator aborts, and std::move(g).Abandon() hands the stack
//    back without running the body's destructors.
//  - Resuming a running generator (from its own body, or from a second
//    thread) aborts with a message. A generator is pinned to the thread that
//    first resumes it; one constructed with fringe::kMigratable may be
//    resumed from different threads, one at a time.
//  - Floating-point control state (x86 MXCSR control bits and x87 control
//    word) is kept per generator, as the psABI makes it callee-saved.
//  - By default only stacks with a guard page are accepted (an overflow must
//    trap, not corrupt memory); pass fringe::kUnguarded first to use another.
//  - Backtraces taken in the body (gdb, backtrace(3), the exception
//    unwinder) continue into the frames of whoever called Resume().
//
// The default stack type is OsStack in hosted builds. A freestanding build
// (-ffreestanding) has no default: name the stack type, e.g. SliceStack.

#ifndef FRINGE_GENERATOR_GENERATOR_H_
#define FRINGE_GENERATOR_GENERATOR_H_

// One clear error instead of dozens from the C++20 below it.
#if __cplusplus < 202002L
#error \
    "fringe needs C++20: compile with -std=c++20 (Bazel: add build --cxxopt=-std=c++20 --host_cxxopt=-std=c++20 to your .bazelrc)"
#else

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <memory>
#include <new>
#include <optional>
#include <type_traits>
#include <utility>

#if defined(__cpp_exceptions)
#include <exception>
#include <stdexcept>
#endif
#if defined(__GLIBCXX__) && defined(__cpp_exceptions)
#include <cxxabi.h>  // abi::__forced_unwind: thread exit and cancellation
#endif

#include "fringe/arch/cpu_state.h"
#include "fringe/arch/switch.h"
#include "fringe/generator/internal/control.h"
#include "fringe/generator/internal/exception_state.h"
#include "fringe/generator/internal/fatal.h"
#include "fringe/generator/internal/switch_hooks.h"
#include "fringe/stack/stack.h"
#if defined(_WIN32)
#include "fringe/generator/internal/windows.h"
#endif

namespace fringe {

enum class State {
  kRunnable,  // Not started yet, or suspended: Resume() runs it.
  kRunning,   // Its body is executing (on some thread).
  kFinished,  // Its body returned or threw, or it was unwound.
};

// Passed first to Generator's constructor to accept a stack without a guard
// page (OwnedStack, SliceStack, ...), where an overflow corrupts memory.
inline constexpr struct UnguardedTag {
  explicit UnguardedTag() = default;
} kUnguarded{};

// Passed to Generator's constructor (after kUnguarded, if both) to allow
// resuming the generator from any thread, one at a time. Without it a
// generator is pinned to the thread that first resumes it, because a
// compiler may keep a thread's identity across a Suspend() in the body:
// errno, thread_local addresses and pthread_self() can then refer to the
// previous thread (see README, "Threads").
inline constexpr struct MigratableTag {
  explicit MigratableTag() = default;
} kMigratable{};

// Thrown by Yielder::Suspend inside a generator that is being destroyed (or
// Unwrap()ped) while suspended, to unwind the body's stack. Not derived from
// std::exception on purpose; a body that catches everything must rethrow it:
//
//   try { ... } catch (...) { cleanup(); throw; }
class ForcedUnwind {};

#if defined(__cpp_exceptions)
// Thrown by Resume() when the body overflowed its stack and the overflow
// handler ended it (fringe/debug/stack_overflow.h, `recover = true`). The
// generator is then finished and its stack released, without running the
// destructors of what the body had live (as Abandon() does): what it owned
// leaks. what() names the stack's range.
class StackOverflow : public std::runtime_error {
 public:
  StackOverflow(void* limit, void* base)
      : std::runtime_error(generator_internal::OverflowMessage(limit, base)),
        limit_(limit),
        base_(base) {}
  void* limit() const { return limit_; }
  void* base() const { return base_; }

 private:
  void* limit_;
  void* base_;
};
#endif

template <typename Input, typename Output, Stack S>
class Generator;

// The body's handle on its generator: Suspend hands a value to the caller of
// Resume() and returns the input of the next Resume().
template <typename Input, typename Output>
class Yielder {
 public:
  Yielder(const Yielder&) = delete;
  Yielder& operator=(const Yielder&) = delete;

  // Output = void: `Input Suspend()`.
  template <typename O = Output>
  requires(!std::is_void_v<O>) Input Suspend(std::type_identity_t<O> value) {
    return Receive(
        SwitchOut(reinterpret_cast<std::uintptr_t>(std::addressof(value))));
  }
  template <typename O = Output>
  requires std::is_void_v<O> Input Suspend() {
    return Receive(SwitchOut(generator_internal::kSuspendedVoidWord));
  }

  // Like Suspend, but if the generator is destroyed (or Unwrap()ped) while
  // suspended here, returns std::nullopt (Input = void: false) instead of
  // throwing fringe::ForcedUnwind. The body must then return without
  // suspending again (suspending again aborts). For bodies suspended inside
  // C callbacks (nftw, qsort, ...) that must return the library's stop code
  // rather than be unwound through C frames, and for -fno-exceptions builds,
  // where it makes a suspended generator destroyable:
  //
  //   nftw(root, [](const char* path, ...) {
  //     return yielder->SuspendOrCancel(path) ? FTW_CONTINUE : FTW_STOP;
  //   }, 16, FTW_ACTIONRETVAL);
  // Runs f() on the stack of the code that called Resume(), below its
  // frames, and returns what f returns; an exception from f propagates into
  // the body. For stack-hungry or signal-unsafe calls from a body on a small
  // stack. Backtraces taken inside f go on through the body's frames into
  // the resumer's. (As corosensei's on_parent_stack and folly's
  // runInMainContext.)
  // (Not on Windows, where each stack is a fiber's.)
#if !defined(_WIN32)
  template <typename F>
  std::invoke_result_t<F&> OnResumerStack(F&& f) {
    using R = std::invoke_result_t<F&>;
    using Fn = std::remove_reference_t<F>;
    // The resumer's suspended context sits at resumer_; everything below it
    // is free until the body suspends. (x86_64's switch stepped over the
    // resumer's red zone before it pushed that context.)
    void* base =
        reinterpret_cast<void*>(reinterpret_cast<std::uintptr_t>(resumer_) &
                                ~(std::uintptr_t{kStackAlignment} - 1));
    generator_internal::ResumerStackCall<Fn, R> call{std::addressof(f),
                                                     control_, base};
    arch_internal::StackPointer sp = arch_internal::InitStack(
        base, &generator_internal::RunOnResumerStack<Fn, R>, &call);
    control_->hooks.UnpoisonBelowResumer(base);
    control_->hooks.BeforeSuspend(/*final=*/false);
    arch_internal::SwitchAndLink(0, sp, base);
    control_->hooks.OnEnter();
    return call.Result();
  }
#endif

  // Bytes left between the body's current stack pointer and the stack's
  // limit(): how deep the body may still go (signal frames need some too).
  // (The frame address, not a local's: under ASan locals may live on its
  // fake stack, on the heap.)
  std::size_t RemainingStack() const {
    auto* here = static_cast<char*>(__builtin_frame_address(0));
    return static_cast<std::size_t>(here -
                                    static_cast<char*>(control_->tools.limit));
  }

  using CancellableInput =
      std::conditional_t<std::is_void_v<Input>, bool, std::optional<Input> >;
  template <typename O = Output>
  requires(!std::is_void_v<O>) CancellableInput
      SuspendOrCancel(std::type_identity_t<O> value) {
    return ReceiveOrCancel(SwitchOutCancellable(
        reinterpret_cast<std::uintptr_t>(std::addressof(value))));
  }
  template <typename O = Output>
  requires std::is_void_v<O> CancellableInput SuspendOrCancel() {
    return ReceiveOrCancel(
        SwitchOutCancellable(generator_internal::kSuspendedVoidWord));
  }

 private:
  template <typename, typename, typename>
  friend void generator_internal::Entry(std::uintptr_t,
                                        arch_internal::StackPointer, void*);

  Yielder(arch_internal::StackPointer resumer,
          generator_internal::ControlBase* control)
      : resumer_(resumer), control_(control) {}

  // For the entry's last switch, after the body returned or was unwound:
  // the resumer of the latest switch in, read from memory. gcc 12 (modref)
  // infers that a body that never returns normally stores nothing its caller
  // sees, and used the *first* resumer, still in a register, after a forced
  // unwind: a switch to a stale stack pointer
  // (GeneratorInlinedTest.ForcedUnwindOfANeverReturningBody).
  arch_internal::StackPointer LatestResumer() {
    asm volatile("" : "+m"(resumer_));
    return resumer_;
  }

  std::uintptr_t SwitchOut(std::uintptr_t word) {
    arch_internal::FpControl fp = arch_internal::ReadFpControl();
    control_->hooks.BeforeSuspend(/*final=*/false);
    arch_internal::Transfer t = arch_internal::Switch(word, resumer_, fp);
    control_->hooks.OnEnter();
    arch_internal::ReturnToFpControl(fp, t.fp);
    resumer_ = t.from;
    return t.arg;
  }

  std::uintptr_t SwitchOutCancellable(std::uintptr_t word) {
    control_->cancellable = true;
    word = SwitchOut(word);
    control_->cancellable = false;
    return word;
  }

  CancellableInput ReceiveOrCancel(std::uintptr_t word) {
    if (word == generator_internal::kUnwindWord) return CancellableInput();
    if constexpr (std::is_void_v<Input>) {
      return true;
    } else {
      return CancellableInput(std::move(*reinterpret_cast<Input*>(word)));
    }
  }

  Input Receive(std::uintptr_t word) {
#if defined(__cpp_exceptions)
    if (word == generator_internal::kUnwindWord) {
      generator_internal::BeginForcedUnwind();
      throw ForcedUnwind();
    }
#endif
    if constexpr (!std::is_void_v<Input>) {
      return std::move(*reinterpret_cast<Input*>(word));
    }
  }

  arch_internal::StackPointer resumer_;
  generator_internal::ControlBase* control_;
};

template <typename Input, typename Output,
          Stack S = generator_internal::DefaultStack>
class Generator {
  static_assert(!std::is_array_v<Input>,
                "fringe::Generator: Input must not be an array type (it would "
                "decay to a pointer); use std::array");
  static_assert(!std::is_array_v<Output>,
                "fringe::Generator: Output must not be an array type (it would "
                "decay to a pointer); use std::array");
  static_assert(std::is_void_v<Input> || std::is_object_v<Input>,
                "fringe::Generator: Input must be void or an object type");
  static_assert(std::is_void_v<Output> || std::is_object_v<Output>,
                "fringe::Generator: Output must be void or an object type");

 public:
  using ResumeResult =
      std::conditional_t<std::is_void_v<Output>, bool, std::optional<Output> >;

#if __STDC_HOSTED__
  // The common case in one line, on a fresh OsStack of
  // OsStack::DefaultSize() (64 KiB, with a guard). If that cannot be mapped
  // it throws std::bad_alloc, as `new` does (without exceptions: aborts with
  // the reason); to handle it as a value, create the stack yourself with
  // OsStack::Create() and pass it in.
  //
  //   fringe::Generator<void, int> squares([](auto& y) {
  //     for (int i = 0; i < 4; ++i) y.Suspend(i * i);
  //   });
  template <typename F>
  requires(std::is_same_v<S, generator_internal::DefaultStack> &&
           !std::is_same_v<std::remove_cvref_t<F>,
                           Generator>) explicit Generator(F&& body)
      : Generator(generator_internal::NewDefaultStack(),
                  std::forward<F>(body)) {}
  template <typename F>
  requires std::is_same_v<S, generator_internal::DefaultStack> Generator(
      MigratableTag, F&& body)
      : Generator(kMigratable, generator_internal::NewDefaultStack(),
                  std::forward<F>(body)) {}
#endif

  // body: void(Yielder<Input, Output>&, Input), or void(Yielder&) for
  // Input = void. Only stacks with a guard page (kIsGuardedStack<S>).
  template <typename F>
  Generator(S stack, F&& body)
      : Generator(Construct(), /*migratable=*/false, std::move(stack),
                  std::forward<F>(body)) {
    CheckGuarded();
  }

  // May be resumed from any thread, one at a time (see kMigratable).
  template <typename F>
  Generator(MigratableTag, S stack, F&& body)
      : Generator(Construct(), /*migratable=*/true, std::move(stack),
                  std::forward<F>(body)) {
    CheckGuarded();
  }

  // Accepts any Stack, guarded or not.
  template <typename F>
  Generator(UnguardedTag, MigratableTag, S stack, F&& body)
      : Generator(Construct(), /*migratable=*/true, std::move(stack),
                  std::forward<F>(body)) {}
  template <typename F>
  Generator(UnguardedTag, S stack, F&& body)
      : Generator(Construct(), /*migratable=*/false, std::move(stack),
                  std::forward<F>(body)) {}

 private:
  static constexpr void CheckGuarded() {
    static_assert(kIsGuardedStack<S>,
                  "fringe::Generator: this stack type has no guard page, so a "
                  "stack overflow would silently corrupt memory. Use a guarded "
                  "stack (OsStack, PooledStack) or opt out explicitly: "
                  "Generator(fringe::kUnguarded, stack, body).");
  }

  // What every public constructor delegates to. The stack by reference: each
  // delegation by value moved it once more (and checked the moved-from one
  // on destruction).
  struct Construct {};
  template <typename F>
  Generator(Construct, bool migratable, S&& stack, F&& body)
      : stack_(std::move(stack)), migratable_(migratable) {
    using Body = std::decay_t<F>;
    if constexpr (std::is_void_v<Input>) {
      static_assert(std::is_invocable_v<Body&, Yielder<Input, Output>&>,
                    "fringe::Generator: the body must be callable as "
                    "body(Yielder<void, Output>&)");
    } else {
      static_assert(std::is_invocable_v<Body&, Yielder<Input, Output>&, Input>,
                    "fringe::Generator: the body must be callable as "
                    "body(Yielder<Input, Output>&, Input)");
    }
    using C = generator_internal::Control<Body>;
    auto base = reinterpret_cast<std::uintptr_t>(stack_.base());
    auto limit = reinterpret_cast<std::uintptr_t>(stack_.limit());
    constexpr std::size_t kAlign = generator_internal::ControlAlignment<Body>();
    // [frames | control block | StackRecord] base
    constexpr std::size_t kTop = sizeof(generator_internal::StackRecord);
    std::uintptr_t frames_base =
        (base - kTop - sizeof(C)) & ~(std::uintptr_t{kAlign} - 1);
    if (base < limit + kTop + sizeof(C) + kAlign ||
        !generator_internal::HasRoom(frames_base - limit, 0)) {
      generator_internal::Fatal(
          "Generator: the stack is too small: %zu bytes, %zu needed (%zu for "
          "the body object and fringe's control block, %zu for its first "
          "frames and a signal frame); create a bigger stack",
          std::size_t(base - limit),
          generator_internal::MinimumStackSize<Body>(), kTop + sizeof(C),
          generator_internal::MinimumStackRoom());
    }
    // Colouring (control.h), where the stack has room to spare for it.
    const std::uintptr_t colour = generator_internal::StackColour(base);
    constexpr std::uintptr_t kLine = generator_internal::kColourLine;
    if (generator_internal::HasRoom(frames_base - limit, colour + kLine)) {
      frames_base -= colour;
      if constexpr (kAlign <= kLine / 2) {
        // Half a line in: the link slot (frames_base - kLinkSlotOffset) and
        // the control block's hot fields then share one cache line.
        frames_base = ((frames_base - kLine / 2) & ~(kLine - 1)) + kLine / 2;
      } else {
        frames_base &= ~(std::uintptr_t{kAlign} - 1);
      }
    }
    auto* control =
        ::new (reinterpret_cast<void*>(frames_base)) C(std::forward<F>(body));
    control->fp_control = arch_internal::ReadFpControl();
    control->tools = {stack_.limit(), reinterpret_cast<void*>(frames_base),
                      nullptr};
    *generator_internal::RecordOf(stack_.base()) = {
        generator_internal::kStackRecordMagic, &control->tools};
    control_ = control;
    // None for a body that needs no destructor (a lambda capturing
    // references and scalars): the block's other member with one, the
    // exception_ptr, is always null by then (Ended() takes it).
    if constexpr (!std::is_trivially_destructible_v<Body>) {
      release_control_ = [](generator_internal::ControlBase* c) {
        static_cast<C*>(c)->~C();
      };
    }
    frames_base_ = reinterpret_cast<void*>(frames_base);
#if defined(_WIN32)
    sp_ = arch_internal::InitFiber(
        generator_internal::FiberOf(stack_), frames_base_,
        &generator_internal::Entry<Input, Output, Body>, control);
#else
    sp_ = arch_internal::InitStack(
        frames_base_, &generator_internal::Entry<Input, Output, Body>, control);
#endif
    control->hooks.OnCreate(stack_.limit(), stack_.base());
  }

 public:
  Generator(Generator&& other) noexcept
      : stack_(std::move(other.stack_)),
        control_(std::exchange(other.control_, nullptr)),
        release_control_(other.release_control_),
        frames_base_(other.frames_base_),
        sp_(other.sp_),
        migratable_(other.migratable_),
        overflowed_(other.overflowed_),
        thread_(other.thread_),
        phase_(other.phase_.exchange(Phase::kFinished, kRelaxed)),
        exception_state_(other.exception_state_) {
    if (phase_.load(kRelaxed) == Phase::kRunning) {
      generator_internal::Fatal("Generator moved while it is running");
    }
  }
  Generator& operator=(Generator&& other) noexcept {
    if (this != &other) {
      Generator moved(std::move(other));
      Release();
      stack_ = std::move(moved.stack_);
      control_ = std::exchange(moved.control_, nullptr);
      release_control_ = moved.release_control_;
      frames_base_ = moved.frames_base_;
      sp_ = moved.sp_;
      migratable_ = moved.migratable_;
      overflowed_ = moved.overflowed_;
      thread_ = moved.thread_;
      phase_.store(moved.phase_.exchange(Phase::kFinished, kRelaxed), kRelaxed);
      exception_state_ = moved.exception_state_;
    }
    return *this;
  }

  ~Generator() { Release(); }

  // Runs the body until it suspends (returns its value) or returns
  // (nullopt). Finished: nullopt, without switching.
  template <typename I = Input>
  requires(!std::is_void_v<I>) [[gnu::always_inline]] ResumeResult
      Resume(std::type_identity_t<I> input) {
    return ResumeWith(reinterpret_cast<std::uintptr_t>(std::addressof(input)));
  }
  template <typename I = Input>
  requires std::is_void_v<I>
  [[gnu::always_inline]] ResumeResult Resume() { return ResumeWith(0); }

  State state() const {
    switch (phase_.load(kRelaxed)) {
      case Phase::kRunning:
        return State::kRunning;
      case Phase::kFinished:
        return State::kFinished;
      default:
        return State::kRunnable;
    }
  }
  bool done() const { return phase_.load(kRelaxed) == Phase::kFinished; }

  // True once the body overflowed its stack and the overflow handler ended
  // it (see fringe::StackOverflow); the generator is then finished.
  bool overflowed() const { return overflowed_; }

#if __STDC_HOSTED__ && defined(__linux__)
  // How much of its stack the generator has used so far: the bytes from its
  // stack's base() down to the deepest one written, read on demand (it scans
  // the stack; call it while the generator is not running). Exact on a
  // fresh OsStack, whose pages the kernel zero-fills; on a reused stack (a
  // pooled one) an upper bound, as earlier generators' frames are still
  // there. For picking stack sizes from measurements; see also
  // Yielder::RemainingStack() and OsStack::ScaledForSanitizers().
  std::size_t StackHighWater() const {
    return generator_internal::StackHighWater(stack_.limit(), stack_.base());
  }
#endif

  // Finishes the generator (unwinding it first if suspended) and returns its
  // stack for reuse.
  S Unwrap() && {
    Release();
    return std::move(stack_);
  }

  // Returns the stack without unwinding a suspended body: the destructors of
  // everything live on it (and of the body object, whose operator() is still
  // running) never run, so whatever the body owned leaks. A generator that
  // never started or has finished has nothing live: its body object is
  // destroyed as usual. The way out when unwinding is impossible
  // (-fno-exceptions; a body suspended inside a destructor or below a
  // noexcept function).
  S Abandon() && {
    if (control_ != nullptr) {
      Phase phase = phase_.load(kRelaxed);
      if (phase == Phase::kRunning) {
        generator_internal::Fatal(
            "Generator::Abandon() on a running generator");
      }
      // A suspended body's operator() is still running: leave it be.
      DropControl(/*destroy_body=*/phase != Phase::kSuspended);
    }
    return std::move(stack_);
  }

  // Input = void: an input range over the values the body suspends with.
  class Iterator {
   public:
    using value_type =
        std::remove_cv_t<generator_internal::ValueOrEmpty<Output> >;
    using difference_type = std::ptrdiff_t;

    Iterator() = default;
    generator_internal::ValueOrEmpty<Output>& operator*() const {
      return *generator_->current_;
    }
    [[gnu::always_inline]] Iterator& operator++() {
      generator_->Advance();
      return *this;
    }
    void operator++(int) { ++*this; }
    friend bool operator==(const Iterator& it, std::default_sentinel_t) {
      return it.AtEnd();
    }

   private:
    friend class Generator;
    explicit Iterator(Generator* generator) : generator_(generator) {}
    bool AtEnd() const { return generator_->current_ == nullptr; }
    Generator* generator_ = nullptr;
  };

  // always_inline too: out of line, the iterator's generator pointer came
  // back from a call, and every ++ loaded each field through it (0.5 ns per
  // step, BM_FringeIterate vs BM_FringeIterateWithResume).
  [[gnu::always_inline]] Iterator begin() requires(std::is_void_v<Input> &&
                                                   !std::is_void_v<Output>) {
    Advance();
    return Iterator(this);
  }
  std::default_sentinel_t end() requires(std::is_void_v<Input> &&
                                         !std::is_void_v<Output>) {
    return std::default_sentinel;
  }

 private:
  // always_inline down to the switch (ResumeWith, Run, SwitchIn): gcc counts
  // the switch's assembly as many instructions and kept each level a call,
  // which cost 1.3 ns per resume here (BM_FringeResume 6.85 -> 5.54 ns).
  // (Advance too, for ++.)
  [[gnu::always_inline]] ResumeResult ResumeWith(std::uintptr_t word) {
    word = Run(word);
    if (word == generator_internal::kReturnedWord) return ResumeResult();
    if constexpr (std::is_void_v<Output>) {
      return true;
    } else {
      return ResumeResult(std::move(*reinterpret_cast<Output*>(word)));
    }
  }

  // Runs the body until it suspends (returns the word it sent: a pointer to
  // its output) or finishes (returns kReturnedWord, or rethrows). The fast
  // path is one compare of the state before the switch and one of the word
  // after it; everything else is out of line. Inlined (with the switch) into
  // each Resume() and ++ call site: gcc otherwise kept it a call.
  [[gnu::always_inline]] std::uintptr_t Run(std::uintptr_t word) {
    Phase phase = phase_.load(kRelaxed);
    if (__builtin_expect(phase > Phase::kSuspended, 0)) {
      if (phase == Phase::kFinished) return generator_internal::kReturnedWord;
      generator_internal::Fatal(
          "Generator::Resume() called on a running generator (from inside "
          "its own body, or from two threads at once)");
    }
    word = SwitchIn(word);
    if (__builtin_expect(word <= generator_internal::kLastEndingWord, 0)) {
      if (word == generator_internal::kReturnedWord) {
        phase_.store(Phase::kFinished, kRelaxed);
        return word;
      }
      return Ended(word);
    }
    phase_.store(Phase::kSuspended, kRelaxed);
    return word;
  }

  // The body threw, overflowed or exited the thread.
  [[gnu::noinline]] std::uintptr_t Ended(std::uintptr_t word) {
    phase_.store(Phase::kFinished, kRelaxed);
    current_ = nullptr;  // An iterator is at the end if this throws.
#if defined(__cpp_exceptions)
    if (word == generator_internal::kThrewWord) {
      std::rethrow_exception(std::exchange(control_->exception, nullptr));
    }
#if defined(__GLIBCXX__)
    if (word == generator_internal::kThreadExitWord) {
      exception_state_.ContinueThreadExit();
    }
#endif
#endif
    if (word == generator_internal::kOverflowedWord) Overflowed();
    return generator_internal::kReturnedWord;
  }

  // The body overflowed into its stack's guard and the overflow handler
  // (InstallStackOverflowHandler({.recover = true})) ended it: nothing on its
  // stack can be unwound, so the generator finishes as Abandon() would, and
  // the stack is released at once.
  [[gnu::cold, gnu::noinline]] void Overflowed() {
    overflowed_ = true;
    void* limit = stack_.limit();
    void* base = stack_.base();
    DropControl(/*destroy_body=*/false);
    { [[maybe_unused]] S released = std::move(stack_); }  // Freed here.
#if defined(__cpp_exceptions)
    throw StackOverflow(limit, base);
#else
    (void)limit;
    (void)base;
#endif
  }

  // Inlined into Resume(): as a call (gcc's choice, as Release() calls it
  // too) it cost the five callee-saved registers' pushes and pops per resume.
  [[FRINGE_SWITCH_IN_INLINE]] std::uintptr_t SwitchIn(std::uintptr_t word) {
    std::uintptr_t thread = arch_internal::ThreadPointer();
    if (__builtin_expect(thread != thread_, 0)) AdoptThread(thread);
    phase_.store(Phase::kRunning, kRelaxed);
    generator_internal::ExceptionState::Token exceptions =
        exception_state_.Enter();
    arch_internal::FpControl fp = arch_internal::ReadFpControl();
    control_->tools.suspended = nullptr;
    control_->hooks.BeforeResume();
    arch_internal::Transfer t =
        arch_internal::SwitchAndLink(word, sp_, frames_base_, fp);
    if (__builtin_expect(t.arg == generator_internal::kOverflowedWord, 0)) {
      // The body overflowed its stack, and fringe/debug's handler switched
      // here in its place: do what the body's last switch would have done.
      t.fp = arch_internal::ReadFpControl();
      control_->hooks.BeforeSuspend(/*final=*/true);
    }
    control_->hooks.AfterResume();
    arch_internal::ReturnToFpControl(fp, t.fp);
    exception_state_.Leave(exceptions);
    sp_ = t.from;
    control_->tools.suspended = t.from;
    return t.arg;
  }

  // The first resume pins the generator to its thread; a migratable one
  // follows whichever thread resumes it.
  [[gnu::cold, gnu::noinline]] void AdoptThread(std::uintptr_t thread) {
    if (thread_ != 0 && !migratable_) {
      generator_internal::Fatal(
          "Generator resumed (or destroyed while suspended) on another thread "
          "than the one that first resumed it, so the body's errno, "
          "thread_local variables and pthread_self() may still be the first "
          "thread's. Resume it on that thread only, or construct it with "
          "fringe::kMigratable (README: \"Threads\")");
    }
    thread_ = thread;
    exception_state_.AdoptThread();
  }

  // Iteration hands out the value where the body suspended it, on the
  // generator's stack (alive until the next resume): not even a move. If
  // the body throws, the iterator is at the end from then on (Ended() clears
  // current_ before it rethrows, which spares the fast path a store).
  [[gnu::always_inline]] void Advance() {
    current_ =
        reinterpret_cast<generator_internal::ValueOrEmpty<Output>*>(Run(0));
  }

  // Unwinds a suspended body, then destroys the body and releases the
  // hooks; the stack itself is freed by the member's destructor. Inline
  // unless there is a body to unwind (or a misuse to report): a generator
  // that was moved from or unwrapped has nothing to do, one that never ran
  // or finished just drops its control block.
  void Release() {
    if (control_ == nullptr) return;
    Phase phase = phase_.load(kRelaxed);
    if (__builtin_expect(phase == Phase::kSuspended || phase == Phase::kRunning,
                         0)) {
      ReleaseControl();
    } else {
      DropControl(/*destroy_body=*/true);
    }
  }
  [[gnu::noinline]] void ReleaseControl() {
    Phase phase = phase_.load(kRelaxed);
    if (phase == Phase::kRunning) {
      generator_internal::Fatal("Generator destroyed while it is running");
    }
    if (phase == Phase::kSuspended) {
      const bool cancelling = control_->cancellable;
#if !defined(__cpp_exceptions)
      if (!cancelling) {
        generator_internal::Fatal(
            "Generator destroyed while suspended, and without exceptions its "
            "stack cannot be unwound; suspend with SuspendOrCancel() (the "
            "body then returns), or call std::move(generator).Abandon() "
            "first (it leaks what the body owns)");
      }
#endif
      std::uintptr_t word = SwitchIn(generator_internal::kUnwindWord);
      if (word != generator_internal::kReturnedWord) {
        generator_internal::Fatal(
            "%s",
            word == generator_internal::kThrewWord
                ? "Generator: the body threw another exception while being "
                  "unwound (a catch (...) must rethrow fringe::ForcedUnwind)"
            : cancelling
                ? "Generator: the body suspended again after "
                  "SuspendOrCancel() reported cancellation; it must return"
                : "Generator: the body kept running after "
                  "fringe::ForcedUnwind (a catch (...) must rethrow it)");
      }
    }
    DropControl(/*destroy_body=*/true);
  }

  // The end of every generator's life on its stack: tools stop seeing it
  // (the StackRecord's magic is cleared, so that a reused stack's stale
  // record is never trusted), and the body object is destroyed unless a
  // suspended call of it still runs there.
  void DropControl(bool destroy_body) {
    phase_.store(Phase::kFinished, kRelaxed);
    generator_internal::RecordOf(stack_.base())->magic = 0;
    control_->hooks.OnRelease();
    if (destroy_body && release_control_ != nullptr) release_control_(control_);
    control_ = nullptr;
  }

  // The state is atomic only so that a second thread calling Resume() on a
  // running generator reads it without a data race and aborts; relaxed
  // loads and stores are plain moves, so the switch pays nothing for it.
  // (Two threads entering Resume() in the same few instructions are not
  // guaranteed to be caught: that would need a locked instruction per
  // resume.)
  static constexpr std::memory_order kRelaxed = std::memory_order_relaxed;

  S stack_;
  generator_internal::ControlBase* control_ = nullptr;
  void (*release_control_)(generator_internal::ControlBase*) = nullptr;
  // The base the body's frames start from: below the control block, which
  // sits at the stack's base().
  void* frames_base_ = nullptr;
  arch_internal::StackPointer sp_ = nullptr;
  bool migratable_ = false;
  bool overflowed_ = false;
  std::uintptr_t thread_ = 0;  // ThreadPointer() of the pinning thread.
  // State, with kRunnable split in two: only a suspended body has frames to
  // unwind. One byte; Run() tests "runnable" with one compare.
  enum class Phase : std::uint8_t { kNew, kSuspended, kRunning, kFinished };
  std::atomic<Phase> phase_{Phase::kNew};
  generator_internal::ExceptionState exception_state_;
  generator_internal::ValueOrEmpty<Output>* current_ = nullptr;
};

// End of public interfaces. Implementation details follow.

namespace generator_internal {

// no_sanitize("null"): glibc's thread-exit unwind is a foreign exception
// with no object, so the catch of abi::__forced_unwind below binds a
// reference to null, which UBSan would report. UBSan's checks are inserted
// into each function as it is compiled, before inlining, so the body (and
// all it calls) keeps its checks when inlined here.
template <typename Input, typename Output, typename F>
[[noreturn, gnu::no_sanitize("null")]] void Entry(
    std::uintptr_t word, arch_internal::StackPointer resumer, void* context) {
  auto* control = static_cast<Control<F>*>(context);
  control->hooks.OnEnter();
  // The creator's FP control state. (The resumer's reached the entry
  // trampoline in a register, which the call here does not carry; a read
  // costs less than carrying it through every CPU's trampoline.)
  arch_internal::ReturnToFpControl(control->fp_control,
                                   arch_internal::ReadFpControl());
  std::uintptr_t result = kReturnedWord;
  {
    Yielder<Input, Output> yielder(resumer, control);
#if defined(__cpp_exceptions)
    try {
#endif
      if constexpr (std::is_void_v<Input>) {
        control->body(yielder);
      } else {
        control->body(yielder, std::move(*reinterpret_cast<Input*>(word)));
      }
#if defined(__cpp_exceptions)
    } catch (const ForcedUnwind&) {
      // The owner is unwinding us: done.
      EndForcedUnwind();
#if defined(__GLIBCXX__)
    } catch (abi::__forced_unwind&) {
      // pthread_exit() or cancellation in the body, whose frames are now
      // unwound. The unwind must not end here (glibc aborts with "exception
      // not rethrown"): the resumer carries it on from its own frames
      // (Generator::Run), as if the body had run on the thread's stack.
      control->hooks.BeforeSuspend(/*final=*/true);
      arch_internal::Switch(kThreadExitWord, yielder.LatestResumer(),
                            arch_internal::ReadFpControl());
      __builtin_unreachable();
#endif
    } catch (...) {
      control->exception = std::current_exception();
      result = kThrewWord;
    }
#endif
    resumer = yielder.LatestResumer();
  }
  control->hooks.BeforeSuspend(/*final=*/true);
  arch_internal::Switch(result, resumer, arch_internal::ReadFpControl());
  __builtin_unreachable();  // Nobody switches to a finished generator.
}

}  // namespace generator_internal

}  // namespace fringe

#endif  // __cplusplus < 202002L

#endif  // FRINGE_GENERATOR_GENERATOR_H_
