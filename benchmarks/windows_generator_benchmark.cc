// fringe::Generator on Windows (fibers) against the floor there: a raw
// SwitchToFiber round trip between two fibers, which every fringe resume
// pays, measured side by side in one binary. Under Wine the figures are
// Wine's (its SwitchToFiber is user-space code too, but not Windows' code).
//
//   tools/bazel run -c opt --config=windows
//   //benchmarks:windows_generator_benchmark

#include <windows.h>

#include <utility>

#include "benchmark/benchmark.h"
#include "fringe/generator/generator.h"
#include "fringe/stack/os_stack.h"
#include "fringe/stack/stack_pool.h"

namespace {

constexpr std::size_t kStackSize = 64 << 10;

fringe::OsStack NewStack() { return *fringe::OsStack::Create(kStackSize); }

// ---- Resume round trip ------------------------------------------------------

struct Ping {
  void* caller;
  void* callee;
  long value;
};

void WINAPI Echo(void* parameter) {
  auto* ping = static_cast<Ping*>(parameter);
  for (;;) {
    ++ping->value;
    SwitchToFiber(ping->caller);
  }
}

// The floor: there and back with SwitchToFiber, one word handed over.
void BM_RawSwitchToFiberRoundTrip(benchmark::State& state) {
  Ping ping{};
  ping.caller =
      IsThreadAFiber() ? GetCurrentFiber() : ConvertThreadToFiber(nullptr);
  ping.callee = CreateFiberEx(0, kStackSize, 0, &Echo, &ping);
  for (auto _ : state) {
    SwitchToFiber(ping.callee);
    benchmark::DoNotOptimize(ping.value);
  }
  DeleteFiber(ping.callee);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RawSwitchToFiberRoundTrip);

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

// ---- Create + first value + run to completion + destroy --------------------

template <typename Stack>
void CreateRunDestroy(Stack stack, long i) {
  fringe::Generator<void, long, Stack> g(
      std::move(stack), [i](fringe::Yielder<void, long>& y) { y.Suspend(i); });
  benchmark::DoNotOptimize(g.Resume());
  benchmark::DoNotOptimize(g.Resume());
}

// A fiber per generator: CreateFiberEx and DeleteFiber every time.
void BM_FringeCreateOsStack(benchmark::State& state) {
  long i = 0;
  for (auto _ : state) CreateRunDestroy(NewStack(), i++);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_FringeCreateOsStack);

// The pool's fibers are reused: no system call in the steady state.
void BM_FringeCreateStackPool(benchmark::State& state) {
  fringe::StackPool pool = *fringe::StackPool::Create(kStackSize, 64);
  long i = 0;
  for (auto _ : state) CreateRunDestroy(*pool.Acquire(), i++);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_FringeCreateStackPool);

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

}  // namespace
