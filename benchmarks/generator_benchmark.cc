// fringe::Generator against its peers, side by side in one binary so that
// ratios come from one run on one machine:
//   - resume round trip: Generator<long, long> echo vs fringe's raw arch
//     switch (alone, and with the generator's FP-control handling),
//     Boost.Context fiber, swapcontext;
//   - iteration: Generator<void, long> vs Boost.Coroutine2 pull_type and a
//     C++20 stackless coroutine generator (a reference, not a peer: it has
//     no stack of its own);
//   - create + first value + run to completion + destroy, with OsStack and
//     StackPool vs Boost fiber and pull_type with their stack allocators;
//     and corosensei's "coroutine call" on a stack the caller already has;
//   - round-robin resumes over 10,000 live pooled generators;
//   - destroying a suspended generator (forced unwind) vs Boost.Coroutine2
//     and one bare C++ throw + catch.
//
//   tools/bazel run -c opt //benchmarks:generator_benchmark

#include <ucontext.h>

#include <coroutine>
#include <cstdint>
#include <exception>
#include <memory>
#include <utility>
#include <vector>

#include "benchmark/benchmark.h"
#include "boost/context/fiber.hpp"
#include "boost/context/pooled_fixedsize_stack.hpp"
#include "boost/context/protected_fixedsize_stack.hpp"
#include "boost/coroutine2/coroutine.hpp"
#include "fringe/arch/cpu_state.h"
#include "fringe/arch/switch.h"
#include "fringe/generator/generator.h"
#include "fringe/stack/os_stack.h"
#include "fringe/stack/slice_stack.h"
#include "fringe/stack/stack_pool.h"

namespace {

namespace arch = ::fringe::arch_internal;
namespace ctx = ::boost::context;
using Coro = ::boost::coroutines2::coroutine<long>;

constexpr std::size_t kStackSize = 64 * 1024;

fringe::OsStack NewStack() { return *fringe::OsStack::Create(kStackSize); }

// ---- Resume round trip ------------------------------------------------------

void BM_FringeRawSwitch(benchmark::State& state) {
  fringe::OsStack stack = NewStack();
  arch::StackPointer sp = arch::InitStack(
      stack.base(),
      [](std::uintptr_t arg, arch::StackPointer resumer, void*) {
        for (;;) {
          arch::Transfer t = arch::Switch(arg, resumer);
          arg = t.arg;
          resumer = t.from;
        }
      },
      nullptr);
  std::uintptr_t i = 0;
  for (auto _ : state) {
    arch::Transfer t = arch::SwitchAndLink(i++, sp, stack.base());
    sp = t.from;
    benchmark::DoNotOptimize(t.arg);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_FringeRawSwitch);

// The raw switch plus what Generator adds for the per-context floating-point
// control state (fringe/arch/cpu_state.h): the departing side reads MXCSR and
// the x87 control word and the switch hands them over in a register, the
// arriving side compares. The difference to BM_FringeRawSwitch is its cost
// per round trip.
void BM_FringeRawSwitchWithFpControl(benchmark::State& state) {
  fringe::OsStack stack = NewStack();
  arch::StackPointer sp = arch::InitStack(
      stack.base(),
      [](std::uintptr_t arg, arch::StackPointer resumer, void*) {
        for (;;) {
          arch::FpControl fp = arch::ReadFpControl();
          arch::Transfer t = arch::Switch(arg, resumer, fp);
          arch::ReturnToFpControl(fp, t.fp);
          arg = t.arg;
          resumer = t.from;
        }
      },
      nullptr);
  std::uintptr_t i = 0;
  for (auto _ : state) {
    arch::FpControl fp = arch::ReadFpControl();
    arch::Transfer t = arch::SwitchAndLink(i++, sp, stack.base(), fp);
    arch::ReturnToFpControl(fp, t.fp);
    sp = t.from;
    benchmark::DoNotOptimize(t.arg);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_FringeRawSwitchWithFpControl);

// The floor of a call on a given stack: lay out a fresh initial frame, switch
// in, and switch back from the entry for good. What BM_FringeCallOnGivenStack
// does with nothing but the switches (no state, no exceptions, no tools);
// the ratio to it is what a Generator's life costs. kWithFp adds the FP
// control state's reads and compares, as Generator does them: the creator's,
// the entry's (the first switch lands in the entry trampoline, which does not
// pass the register on), and one at each switch.
template <bool kWithFp>
void RawCallOnGivenStack(benchmark::State& state) {
  fringe::OsStack stack = NewStack();
  std::uintptr_t i = 0;
  for (auto _ : state) {
    arch::FpControl creator;
    if constexpr (kWithFp) creator = arch::ReadFpControl();
    arch::StackPointer sp = arch::InitStack(
        stack.base(),
        [](std::uintptr_t arg, arch::StackPointer resumer, void* context) {
          arch::FpControl fp;
          if constexpr (kWithFp) {
            arch::ReturnToFpControl(*static_cast<arch::FpControl*>(context),
                                    arch::ReadFpControl());
            fp = arch::ReadFpControl();
          }
          arch::Switch(arg + 1, resumer, fp);
          __builtin_unreachable();
        },
        &creator);
    arch::FpControl fp;
    if constexpr (kWithFp) fp = arch::ReadFpControl();
    arch::Transfer t = arch::SwitchAndLink(i++, sp, stack.base(), fp);
    if constexpr (kWithFp) arch::ReturnToFpControl(fp, t.fp);
    benchmark::DoNotOptimize(t.arg);
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_FringeRawCallOnGivenStack(benchmark::State& state) {
  RawCallOnGivenStack</*kWithFp=*/false>(state);
}
BENCHMARK(BM_FringeRawCallOnGivenStack);

void BM_FringeRawCallOnGivenStackWithFpControl(benchmark::State& state) {
  RawCallOnGivenStack</*kWithFp=*/true>(state);
}
BENCHMARK(BM_FringeRawCallOnGivenStackWithFpControl);

void BM_FringeResume(benchmark::State& state) {
  fringe::Generator<long, long> echo(
      NewStack(), [](fringe::Yielder<long, long>& y, long v) {
        for (;;) v = y.Suspend(v);
      });
  long i = 0;
  for (auto _ : state) benchmark::DoNotOptimize(echo.Resume(i++));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_FringeResume);

void BM_BoostFiberResume(benchmark::State& state) {
  long value = 0;
  ctx::fiber f{[&value](ctx::fiber&& caller) {
    for (;;) caller = std::move(caller).resume();
    return std::move(caller);
  }};
  long i = 0;
  for (auto _ : state) {
    value = i++;
    f = std::move(f).resume();
    benchmark::DoNotOptimize(value);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_BoostFiberResume);

ucontext_t main_context, echo_context;
long ucontext_value;

void UcontextEcho() {
  for (;;) swapcontext(&echo_context, &main_context);
}

void BM_SwapcontextResume(benchmark::State& state) {
  fringe::OsStack stack = NewStack();
  getcontext(&echo_context);
  echo_context.uc_stack.ss_sp = stack.limit();
  echo_context.uc_stack.ss_size = stack.size();
  echo_context.uc_link = nullptr;
  makecontext(&echo_context, UcontextEcho, 0);
  long i = 0;
  for (auto _ : state) {
    ucontext_value = i++;
    swapcontext(&main_context, &echo_context);
    benchmark::DoNotOptimize(ucontext_value);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_SwapcontextResume);

// ---- Iteration --------------------------------------------------------------

void BM_FringeIterate(benchmark::State& state) {
  fringe::Generator<void, long> counter(NewStack(),
                                        [](fringe::Yielder<void, long>& y) {
                                          for (long i = 0;; ++i) y.Suspend(i);
                                        });
  auto it = counter.begin();
  for (auto _ : state) {
    ++it;
    benchmark::DoNotOptimize(*it);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_FringeIterate);

// The same values through Resume() (a std::optional<long> each) instead of
// the iterator, which hands out a reference to the value where the body
// suspended it.
void BM_FringeIterateWithResume(benchmark::State& state) {
  fringe::Generator<void, long> counter(NewStack(),
                                        [](fringe::Yielder<void, long>& y) {
                                          for (long i = 0;; ++i) y.Suspend(i);
                                        });
  for (auto _ : state) benchmark::DoNotOptimize(counter.Resume());
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_FringeIterateWithResume);

void BM_Coroutine2PullIterate(benchmark::State& state) {
  Coro::pull_type source([](Coro::push_type& sink) {
    for (long i = 0;; ++i) sink(i);
  });
  for (auto _ : state) {
    source();
    benchmark::DoNotOptimize(source.get());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Coroutine2PullIterate);

// A minimal C++20 (stackless) generator, as a reference point.
struct CoGenerator {
  struct promise_type {
    long value = 0;
    CoGenerator get_return_object() {
      return CoGenerator{
          std::coroutine_handle<promise_type>::from_promise(*this)};
    }
    std::suspend_always initial_suspend() noexcept { return {}; }
    std::suspend_always final_suspend() noexcept { return {}; }
    std::suspend_always yield_value(long v) noexcept {
      value = v;
      return {};
    }
    void return_void() {}
    void unhandled_exception() { std::terminate(); }
  };
  explicit CoGenerator(std::coroutine_handle<promise_type> h) : handle(h) {}
  CoGenerator(CoGenerator&& o) noexcept : handle(std::exchange(o.handle, {})) {}
  ~CoGenerator() {
    if (handle) handle.destroy();
  }
  long Next() {
    handle.resume();
    return handle.promise().value;
  }
  std::coroutine_handle<promise_type> handle;
};

CoGenerator CoCounter() {
  for (long i = 0;; ++i) co_yield i;
}

void BM_Cpp20CoroutineIterate(benchmark::State& state) {
  CoGenerator g = CoCounter();
  for (auto _ : state) benchmark::DoNotOptimize(g.Next());
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Cpp20CoroutineIterate);

// ---- Create + first value + run to completion + destroy --------------------

template <typename Stack>
void CreateRunDestroy(Stack stack, long i) {
  fringe::Generator<void, long, Stack> g(
      std::move(stack), [i](fringe::Yielder<void, long>& y) { y.Suspend(i); });
  benchmark::DoNotOptimize(g.Resume());
  benchmark::DoNotOptimize(g.Resume());
}

void BM_FringeCreateOsStack(benchmark::State& state) {
  long i = 0;
  for (auto _ : state) CreateRunDestroy(NewStack(), i++);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_FringeCreateOsStack);

void BM_FringeCreateStackPool(benchmark::State& state) {
  fringe::StackPool pool = *fringe::StackPool::Create(kStackSize, 64);
  long i = 0;
  for (auto _ : state) CreateRunDestroy(*pool.Acquire(), i++);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_FringeCreateStackPool);

// corosensei's "coroutine call": create a generator on a stack the caller
// already has, run it to completion, destroy it and take the stack back.
void BM_FringeCallOnGivenStack(benchmark::State& state) {
  fringe::OsStack stack = NewStack();
  long i = 0;
  for (auto _ : state) {
    long out = 0;
    fringe::Generator<void, long> g(
        std::move(stack), [&out, i](fringe::Yielder<void, long>&) { out = i; });
    benchmark::DoNotOptimize(g.Resume());
    stack = std::move(g).Unwrap();
    benchmark::DoNotOptimize(out);
    ++i;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_FringeCallOnGivenStack);

// The body of the round-robin generators (a lambda, as users write them,
// so that it inlines into the generator's entry), and the loop that resumes
// them in turn.
constexpr auto kPlusOne = [](fringe::Yielder<long, long>& y, long v) {
  for (;;) v = y.Suspend(v + 1);
};

template <typename S>
void ResumeRoundRobin(benchmark::State& state,
                      std::vector<fringe::Generator<long, long, S>>& gens) {
  for (auto& g : gens) g.Resume(0);
  std::size_t next = 0;
  long v = 0;
  for (auto _ : state) {
    v = *gens[next].Resume(v);
    if (++next == gens.size()) next = 0;
  }
  benchmark::DoNotOptimize(v);
  state.SetItemsProcessed(state.iterations());
}

// Many live generators: resume N suspended pooled generators in turn, so
// each resume finds its stack's hot lines cold. N = 10,000 is the issue's
// case; 100 and 1,000 show where it turns. Every stack top is a page of its
// own; and a fringe resume touches more lines per generator than a Boost
// fiber's (the generator object, the control block, the link slot, the
// body's frame and suspended context, against a fiber's context record), so
// that at 10,000 they outgrow the 2 MiB L2 here. And the value a body hands
// out lives in its frame, so the resumer's next step waits for that line
// (the Boost peer below hands no value over). Noisy: the 10,000 case moved
// by up to 40% between builds that differed only in code layout.
void BM_FringeResumeRoundRobin(benchmark::State& state) {
  const auto count = static_cast<std::size_t>(state.range(0));
  const auto guard = static_cast<std::size_t>(state.range(1));
  fringe::StackPool pool = *fringe::StackPool::Create(16 * 1024, count, guard);
  std::vector<fringe::Generator<long, long, fringe::PooledStack>> gens;
  gens.reserve(count);
  for (std::size_t i = 0; i < count; ++i) {
    gens.emplace_back(*pool.Acquire(), kPlusOne);
  }
  ResumeRoundRobin(state, gens);
}
// Args: generators, guard size (the default, and 4 KiB: with 16 KiB stacks
// 5x denser page tables, so a TLB miss's walk more often hits cache).
BENCHMARK(BM_FringeResumeRoundRobin)
    ->Args({100, fringe::kDefaultGuardSize})
    ->Args({1000, fringe::kDefaultGuardSize})
    ->Args({10000, fringe::kDefaultGuardSize})
    ->Args({10000, 4096});

// The same on unguarded 16 KiB stacks back to back in one allocation, as
// Boost's pooled stacks are: what the guards' spacing (each stack top a page
// and a page-table line of its own) costs against fringe's own footprint.
void BM_FringeResumeRoundRobinUnguarded(benchmark::State& state) {
  const auto count = static_cast<std::size_t>(state.range(0));
  constexpr std::size_t kSize = 16 * 1024;
  auto memory = std::make_unique<std::byte[]>(count * kSize);
  std::vector<fringe::Generator<long, long, fringe::SliceStack>> gens;
  gens.reserve(count);
  for (std::size_t i = 0; i < count; ++i) {
    gens.emplace_back(
        fringe::kUnguarded,
        *fringe::SliceStack::Create({memory.get() + i * kSize, kSize}),
        kPlusOne);
  }
  ResumeRoundRobin(state, gens);
}
BENCHMARK(BM_FringeResumeRoundRobinUnguarded)->Arg(100)->Arg(1000)->Arg(10000);

// The same with Boost fibers on 16 KiB pooled stacks (no guards), the peer.
void BM_BoostFiberResumeRoundRobin(benchmark::State& state) {
  const auto count = static_cast<std::size_t>(state.range(0));
  ctx::pooled_fixedsize_stack allocator(16 * 1024, count);
  std::vector<ctx::fiber> fibers;
  fibers.reserve(count);
  for (std::size_t i = 0; i < count; ++i) {
    fibers.emplace_back(std::allocator_arg, allocator, [](ctx::fiber&& caller) {
      for (;;) caller = std::move(caller).resume();
      return std::move(caller);
    });
    fibers.back() = std::move(fibers.back()).resume();
  }
  std::size_t next = 0;
  for (auto _ : state) {
    fibers[next] = std::move(fibers[next]).resume();
    if (++next == fibers.size()) next = 0;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_BoostFiberResumeRoundRobin)->Arg(100)->Arg(1000)->Arg(10000);

template <typename Allocator>
void FiberCreateRunDestroy(benchmark::State& state, Allocator allocator) {
  long i = 0;
  for (auto _ : state) {
    long value = 0;
    ctx::fiber f{std::allocator_arg, allocator,
                 [&value, i](ctx::fiber&& caller) {
                   value = i;
                   caller = std::move(caller).resume();
                   return std::move(caller);
                 }};
    f = std::move(f).resume();
    benchmark::DoNotOptimize(value);
    f = std::move(f).resume();
    ++i;
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_BoostFiberCreatePooledStack(benchmark::State& state) {
  FiberCreateRunDestroy(state, ctx::pooled_fixedsize_stack(kStackSize));
}
BENCHMARK(BM_BoostFiberCreatePooledStack);

void BM_BoostFiberCreateProtectedStack(benchmark::State& state) {
  FiberCreateRunDestroy(state, ctx::protected_fixedsize_stack(kStackSize));
}
BENCHMARK(BM_BoostFiberCreateProtectedStack);

template <typename Allocator>
void PullCreateRunDestroy(benchmark::State& state, Allocator allocator) {
  long i = 0;
  for (auto _ : state) {
    // pull_type runs its body up to the first value on construction.
    Coro::pull_type source(allocator, [i](Coro::push_type& sink) { sink(i); });
    benchmark::DoNotOptimize(source.get());
    source();
    ++i;
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_Coroutine2CreatePooledStack(benchmark::State& state) {
  PullCreateRunDestroy(state, ctx::pooled_fixedsize_stack(kStackSize));
}
BENCHMARK(BM_Coroutine2CreatePooledStack);

void BM_Coroutine2CreateProtectedStack(benchmark::State& state) {
  PullCreateRunDestroy(state, ctx::protected_fixedsize_stack(kStackSize));
}
BENCHMARK(BM_Coroutine2CreateProtectedStack);

// ---- Destroying a suspended generator (forced unwind) -----------------------

void BM_FringeDestroySuspended(benchmark::State& state) {
  fringe::StackPool pool = *fringe::StackPool::Create(kStackSize, 64);
  long i = 0;
  for (auto _ : state) {
    fringe::Generator<void, long, fringe::PooledStack> g(
        *pool.Acquire(), [i](fringe::Yielder<void, long>& y) {
          for (;;) y.Suspend(i);
        });
    benchmark::DoNotOptimize(g.Resume());
    ++i;
  }  // Destroyed suspended: unwound.
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_FringeDestroySuspended);

void BM_Coroutine2DestroySuspended(benchmark::State& state) {
  ctx::pooled_fixedsize_stack allocator(kStackSize);
  long i = 0;
  for (auto _ : state) {
    Coro::pull_type source(allocator, [i](Coro::push_type& sink) {
      for (;;) sink(i);
    });
    benchmark::DoNotOptimize(source.get());
    ++i;
  }  // Destroyed suspended: unwound.
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Coroutine2DestroySuspended);

__attribute__((noinline)) void Thrower(long i) { throw i; }

void BM_BareThrowCatch(benchmark::State& state) {
  long i = 0;
  for (auto _ : state) {
    try {
      Thrower(i++);
    } catch (long v) {
      benchmark::DoNotOptimize(v);
    }
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_BareThrowCatch);

}  // namespace
