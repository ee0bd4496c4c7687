// A program for gdb_generators_test.sh, built at -O2: two generators are
// suspended (one on an OsStack, inside FringeGdbSuspendedHere called from
// FringeGdbSuspendedOuter; one on a StackPool stack, in its body), one was
// never resumed, and one has finished and released its pooled stack, when
// main calls FringeGdbAllSuspended, where the test stops gdb and runs
// tools/gdb/fringe.py. It prints the stacks' ranges first, so the test can
// check that the listing names exactly the live ones; after gdb continues, it
// resumes both generators again, so a register that `fringe bt` failed to
// restore shows.

#include <cstdint>
#include <cstdio>
#include <utility>

#include "fringe/generator/generator.h"
#include "fringe/stack/os_stack.h"
#include "fringe/stack/stack_pool.h"

using IntYielder = fringe::Yielder<int, int>;

extern "C" __attribute__((noinline)) int FringeGdbSuspendedHere(IntYielder& y,
                                                                int v) {
  int next = y.Suspend(v + 1);
  asm volatile("" ::: "memory");
  return next;
}

extern "C" __attribute__((noinline)) int FringeGdbSuspendedOuter(IntYielder& y,
                                                                 int v) {
  int next = FringeGdbSuspendedHere(y, v * 2);
  asm volatile("" ::: "memory");
  return next + 1;
}

extern "C" __attribute__((noinline)) void FringeGdbAllSuspended() {
  asm volatile("" ::: "memory");
}

void PrintRange(const char* name, const auto& stack) {
  std::printf("%s stack [%#jx, %#jx)\n", name,
              static_cast<std::uintmax_t>(
                  reinterpret_cast<std::uintptr_t>(stack.limit())),
              static_cast<std::uintmax_t>(
                  reinterpret_cast<std::uintptr_t>(stack.base())));
}

int main() {
  fringe::StackPool pool = *fringe::StackPool::Create(64 << 10, 4);
  fringe::PooledStack pooled_stack = *pool.Acquire();
  {
    // Finished and released: its stack goes back to the pool with a retired
    // record, and must not be listed.
    fringe::PooledStack done_stack = *pool.Acquire();
    PrintRange("released", done_stack);
    fringe::Generator<int, int, fringe::PooledStack> done(
        std::move(done_stack), [](IntYielder&, int) {});
    done.Resume(1);
  }
  // Never resumed: listed, but not suspended.
  fringe::OsStack fresh_stack = *fringe::OsStack::Create(64 << 10);
  PrintRange("fresh", fresh_stack);
  fringe::Generator<int, int> fresh(std::move(fresh_stack),
                                    [](IntYielder&, int) {});
  fringe::OsStack os_stack = *fringe::OsStack::Create(64 << 10);
  PrintRange("named", os_stack);
  fringe::Generator<int, int> named(std::move(os_stack),
                                    [](IntYielder& y, int v) {
                                      for (;;)
                                        v = FringeGdbSuspendedOuter(y, v);
                                    });
  PrintRange("pooled", pooled_stack);
  fringe::Generator<int, int, fringe::PooledStack> pooled(
      std::move(pooled_stack), [](IntYielder& y, int v) {
        for (;;) v = y.Suspend(v - 1);
      });
  int a = *named.Resume(1);    // 3
  int b = *pooled.Resume(10);  // 9
  std::fflush(stdout);
  FringeGdbAllSuspended();
  a = *named.Resume(a);   // (3 + 1) * 2 + 1 = 9
  b = *pooled.Resume(b);  // 8
  std::printf("%d %d\n", a, b);
  return a == 9 && b == 8 ? 0 : 1;
}
