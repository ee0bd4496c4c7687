// The raw context switch: one round trip (switch there and back) with
// fringe's arch layer, Boost.Context's fiber and its raw jump_fcontext, and
// ucontext's swapcontext, plus a system call as a yardstick. The peers are
// built on x86_64 only (FRINGE_SWITCH_BENCHMARK_PEERS, set by the BUILD
// file); elsewhere fringe's switch and the system call run alone.
//
//   tools/bazel run -c opt //benchmarks:switch_benchmark
//   tools/bazel run --config=aarch64 -c opt //benchmarks:switch_benchmark

#include <sys/syscall.h>
#include <unistd.h>

#include <cstdint>
#include <memory>
#include <utility>

#include "benchmark/benchmark.h"
#include "fringe/arch/switch.h"

// Boost.Context needs exceptions; a -fno-exceptions build keeps fringe's own.
#if defined(FRINGE_SWITCH_BENCHMARK_PEERS) && !defined(__cpp_exceptions)
#undef FRINGE_SWITCH_BENCHMARK_PEERS
#endif

#if defined(FRINGE_SWITCH_BENCHMARK_PEERS)
#include <ucontext.h>

#include "boost/context/detail/fcontext.hpp"
#include "boost/context/fiber.hpp"
#endif

namespace {

namespace arch = ::fringe::arch_internal;

constexpr std::size_t kStackSize = 64 * 1024;

struct BenchStack {
  std::unique_ptr<std::uintptr_t[]> memory{
      new std::uintptr_t[kStackSize / sizeof(std::uintptr_t)]};
  void* base() const { return memory.get() + kStackSize / sizeof(std::uintptr_t); }
};

[[noreturn]] void FringeEcho(std::uintptr_t arg, arch::StackPointer resumer,
                             void*) {
  for (;;) {
    arch::Transfer t = arch::Switch(arg, resumer);
    arg = t.arg;
    resumer = t.from;
  }
}

void BM_FringeSwitchAndLink(benchmark::State& state) {
  BenchStack stack;
  arch::StackPointer sp = arch::InitStack(stack.base(), FringeEcho, nullptr);
  std::uintptr_t i = 0;
  for (auto _ : state) {
    arch::Transfer t = arch::SwitchAndLink(i++, sp, stack.base());
    sp = t.from;
    benchmark::DoNotOptimize(t.arg);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_FringeSwitchAndLink);

void BM_FringeSwitch(benchmark::State& state) {
  BenchStack stack;
  arch::StackPointer sp = arch::InitStack(stack.base(), FringeEcho, nullptr);
  std::uintptr_t i = 0;
  for (auto _ : state) {
    arch::Transfer t = arch::Switch(i++, sp);
    sp = t.from;
    benchmark::DoNotOptimize(t.arg);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_FringeSwitch);

#if defined(FRINGE_SWITCH_BENCHMARK_PEERS)
namespace ctx = ::boost::context;

void BM_BoostFiber(benchmark::State& state) {
  ctx::fiber f{[](ctx::fiber&& caller) {
    for (;;) caller = std::move(caller).resume();
    return std::move(caller);
  }};
  for (auto _ : state) {
    f = std::move(f).resume();
    benchmark::DoNotOptimize(f);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_BoostFiber);

void BoostEcho(ctx::detail::transfer_t t) {
  for (;;) t = ctx::detail::jump_fcontext(t.fctx, t.data);
}

void BM_BoostJumpFcontext(benchmark::State& state) {
  BenchStack stack;
  ctx::detail::fcontext_t fc =
      ctx::detail::make_fcontext(stack.base(), kStackSize, BoostEcho);
  std::uintptr_t i = 0;
  for (auto _ : state) {
    ctx::detail::transfer_t t =
        ctx::detail::jump_fcontext(fc, reinterpret_cast<void*>(i++));
    fc = t.fctx;
    benchmark::DoNotOptimize(t.data);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_BoostJumpFcontext);

ucontext_t main_context, echo_context;

void UcontextEcho() {
  for (;;) swapcontext(&echo_context, &main_context);
}

void BM_Swapcontext(benchmark::State& state) {
  BenchStack stack;
  getcontext(&echo_context);
  echo_context.uc_stack.ss_sp = stack.memory.get();
  echo_context.uc_stack.ss_size = kStackSize;
  echo_context.uc_link = nullptr;
  makecontext(&echo_context, UcontextEcho, 0);
  for (auto _ : state) swapcontext(&main_context, &echo_context);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Swapcontext);
#endif  // FRINGE_SWITCH_BENCHMARK_PEERS

void BM_GetpidSyscall(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(syscall(SYS_getpid));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_GetpidSyscall);

}  // namespace
