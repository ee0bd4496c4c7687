// A program for gdb_backtrace_test.sh, built at -O2: a generator whose body
// calls FringeGdbInBody, where the test stops gdb and asks for `bt`.

#include <cstdio>

#include "fringe/generator/generator.h"
#include "fringe/stack/os_stack.h"

extern "C" __attribute__((noinline)) int FringeGdbInBody(int v) {
  asm volatile("" ::: "memory");
  return v * 2;
}

extern "C" __attribute__((noinline)) int FringeGdbResumer(
    fringe::Generator<int, int>& g) {
  int v = *g.Resume(21);
  asm volatile("" ::: "memory");
  return v;
}

int main() {
  fringe::Generator<int, int> g(
      *fringe::OsStack::Create(fringe::OsStack::DefaultSize()),
      [](fringe::Yielder<int, int>& y, int v) {
        for (;;) v = y.Suspend(FringeGdbInBody(v));
      });
  int v = FringeGdbResumer(g);
  std::printf("%d\n", v);
  return v == 42 ? 0 : 1;
}
