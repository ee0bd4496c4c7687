// Stack allocation costs: fringe's allocators side by side with Boost.Context's
// stack allocators, plus the memory a live stack costs at scale.
//
//   tools/bazel run -c opt //benchmarks:stack_benchmark

#include <unistd.h>

#include <boost/context/fixedsize_stack.hpp>
#include <boost/context/pooled_fixedsize_stack.hpp>
#include <boost/context/protected_fixedsize_stack.hpp>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "absl/status/statusor.h"
#include "benchmark/benchmark.h"
#include "fringe/stack/os_stack.h"
#include "fringe/stack/owned_stack.h"
#include "fringe/stack/stack_pool.h"

namespace fringe {
namespace {

constexpr std::size_t kSmall = 16 << 10;
constexpr std::size_t kDefault = 64 << 10;

template <typename T>
T ValueOrDie(absl::StatusOr<T> value) {
  if (!value.ok()) {
    std::fprintf(stderr, "%s\n", value.status().ToString().c_str());
    std::abort();
  }
  return *std::move(value);
}

// Touches the top byte, as a generator's first frame would; without it the
// compiler might drop the whole stack, and Boost's allocators hand out memory
// that is never written.
void TouchTop(void* base) { static_cast<volatile char*>(base)[-1] = 1; }

void BM_OsStackCreateDestroy(benchmark::State& state) {
  const auto size = static_cast<std::size_t>(state.range(0));
  for (auto _ : state) {
    OsStack stack = ValueOrDie(OsStack::Create(size));
    TouchTop(stack.base());
    benchmark::DoNotOptimize(stack.base());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_OsStackCreateDestroy)->Arg(kDefault)->Arg(kSmall);

void BM_OwnedStackCreateDestroy(benchmark::State& state) {
  const auto size = static_cast<std::size_t>(state.range(0));
  for (auto _ : state) {
    OwnedStack stack = ValueOrDie(OwnedStack::Create(size));
    TouchTop(stack.base());
    benchmark::DoNotOptimize(stack.base());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_OwnedStackCreateDestroy)->Arg(kDefault)->Arg(kSmall);

void BM_StackPoolAcquireRelease(benchmark::State& state) {
  StackPool pool = ValueOrDie(
      StackPool::Create(static_cast<std::size_t>(state.range(0)), 64));
  for (auto _ : state) {
    PooledStack stack = ValueOrDie(pool.Acquire());
    TouchTop(stack.base());
    benchmark::DoNotOptimize(stack.base());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_StackPoolAcquireRelease)->Arg(kDefault)->Arg(kSmall);

// One pool shared by every benchmark thread. Each thread acquires and
// releases in turn, so its own cache serves it and the threads share no
// lock; before the caches, this measured the spin lock under contention.
void BM_StackPoolAcquireReleaseShared(benchmark::State& state) {
  static StackPool& pool =
      *new StackPool(ValueOrDie(StackPool::Create(kSmall, 64)));
  for (auto _ : state) {
    PooledStack stack = ValueOrDie(pool.Acquire());
    TouchTop(stack.base());
    benchmark::DoNotOptimize(stack.base());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_StackPoolAcquireReleaseShared)->Threads(1)->Threads(2);

// Holds `state.range(0)` stacks at once, then releases them all: more than a
// thread's cache holds, so every round takes the pool's lock to refill and
// drain the cache (and, beyond max_cached, gives memory back).
void BM_StackPoolAcquireReleaseBurst(benchmark::State& state) {
  const auto burst = static_cast<std::size_t>(state.range(0));
  StackPool pool = ValueOrDie(StackPool::Create(kSmall, 64));
  std::vector<PooledStack> stacks;
  stacks.reserve(burst);
  for (auto _ : state) {
    for (std::size_t i = 0; i < burst; ++i) {
      stacks.push_back(ValueOrDie(pool.Acquire()));
      TouchTop(stacks.back().base());
    }
    stacks.clear();
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_StackPoolAcquireReleaseBurst)->Arg(4)->Arg(32);

// Two pools used in turn from one thread: each has its own cache there.
void BM_StackPoolAcquireReleaseTwoPools(benchmark::State& state) {
  StackPool small = ValueOrDie(StackPool::Create(kSmall, 64));
  StackPool large = ValueOrDie(StackPool::Create(kDefault, 64));
  for (auto _ : state) {
    {
      PooledStack stack = ValueOrDie(small.Acquire());
      TouchTop(stack.base());
      benchmark::DoNotOptimize(stack.base());
    }
    PooledStack stack = ValueOrDie(large.Acquire());
    TouchTop(stack.base());
    benchmark::DoNotOptimize(stack.base());
  }
  state.SetItemsProcessed(state.iterations() * 2);
}
BENCHMARK(BM_StackPoolAcquireReleaseTwoPools);

template <typename Allocator>
void BM_BoostAllocateDeallocate(benchmark::State& state) {
  Allocator allocator(static_cast<std::size_t>(state.range(0)));
  for (auto _ : state) {
    boost::context::stack_context stack = allocator.allocate();
    TouchTop(stack.sp);
    benchmark::DoNotOptimize(stack.sp);
    allocator.deallocate(stack);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK_TEMPLATE(BM_BoostAllocateDeallocate,
                   boost::context::protected_fixedsize_stack)
    ->Arg(kDefault)
    ->Arg(kSmall);
BENCHMARK_TEMPLATE(BM_BoostAllocateDeallocate, boost::context::fixedsize_stack)
    ->Arg(kDefault)
    ->Arg(kSmall);
BENCHMARK_TEMPLATE(BM_BoostAllocateDeallocate,
                   boost::context::pooled_fixedsize_stack)
    ->Arg(kDefault)
    ->Arg(kSmall);

// Resident set size in bytes.
std::size_t Rss() {
  long pages = 0;
  if (std::FILE* statm = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(statm, "%*s %ld", &pages) != 1) pages = 0;
    std::fclose(statm);
  }
  return static_cast<std::size_t>(pages) *
         static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
}

std::size_t MappingCount() {
  std::size_t lines = 0;
  if (std::FILE* maps = std::fopen("/proc/self/maps", "r")) {
    for (int c; (c = std::fgetc(maps)) != EOF;) lines += c == '\n';
    std::fclose(maps);
  }
  return lines;
}

// Holds `state.range(0)` live 16 KiB stacks made by `make`, each with its top
// page touched, and reports what one costs in resident memory and in kernel
// mappings (vm.max_map_count is 65530 by default).
template <typename Make>
void HoldLiveStacks(benchmark::State& state, Make make) {
  const auto count = static_cast<std::size_t>(state.range(0));
  double rss_per_stack = 0;
  double mappings_per_stack = 0;
  for (auto _ : state) {
    const std::size_t rss_before = Rss();
    const std::size_t mappings_before = MappingCount();
    auto stacks = make(count);
    rss_per_stack = static_cast<double>(Rss() - rss_before) / count;
    mappings_per_stack =
        static_cast<double>(MappingCount() - mappings_before) / count;
    benchmark::DoNotOptimize(stacks.data());
  }
  state.counters["rss_per_stack_bytes"] = rss_per_stack;
  state.counters["mappings_per_stack"] = mappings_per_stack;
  state.SetItemsProcessed(state.iterations() * state.range(0));
}

void BM_LivePooledStacks(benchmark::State& state) {
  StackPool pool = ValueOrDie(StackPool::Create(kSmall, 64));
  HoldLiveStacks(state, [&pool](std::size_t count) {
    std::vector<PooledStack> stacks;
    stacks.reserve(count);
    for (std::size_t i = 0; i < count; ++i) {
      stacks.push_back(ValueOrDie(pool.Acquire()));
      TouchTop(stacks.back().base());
    }
    return stacks;
  });
  state.counters["guards_are_mapping_free"] =
      StackPool::GuardPagesAreMappingFree();
}
BENCHMARK(BM_LivePooledStacks)
    ->Arg(100'000)
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond);

void BM_LiveOsStacks(benchmark::State& state) {
  HoldLiveStacks(state, [](std::size_t count) {
    std::vector<OsStack> stacks;
    stacks.reserve(count);
    for (std::size_t i = 0; i < count; ++i) {
      stacks.push_back(ValueOrDie(OsStack::Create(kSmall)));
      TouchTop(stacks.back().base());
    }
    return stacks;
  });
}
// Up to two mappings per stack (mprotect guards): 20,000 stays well under
// vm.max_map_count.
BENCHMARK(BM_LiveOsStacks)
    ->Arg(20'000)
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace fringe
