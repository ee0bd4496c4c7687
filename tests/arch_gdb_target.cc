// A program for gdb_backtrace_test.sh: switches onto a new stack and calls
// FringeGdbBreakHere there, where the test stops gdb and asks for `bt`.

#include <cstdint>
#include <cstdio>

#include "fringe/arch/switch.h"

namespace {

using fringe::arch_internal::InitStack;
using fringe::arch_internal::StackPointer;
using fringe::arch_internal::Switch;
using fringe::arch_internal::SwitchAndLink;

alignas(16) unsigned char stack_memory[64 * 1024];

}  // namespace

extern "C" __attribute__((noinline)) void FringeGdbBreakHere(int* hits) {
  ++*hits;
  asm volatile("" ::: "memory");
}

extern "C" [[noreturn]] void FringeGdbOnNewStack(std::uintptr_t,
                                                 StackPointer resumer,
                                                 void* context) {
  FringeGdbBreakHere(static_cast<int*>(context));
  Switch(0, resumer);
  __builtin_trap();
}

extern "C" __attribute__((noinline)) void FringeGdbSwitchIn(int* hits) {
  void* base = stack_memory + sizeof(stack_memory);
  StackPointer sp = InitStack(base, FringeGdbOnNewStack, hits);
  SwitchAndLink(0, sp, base);
  asm volatile("" ::: "memory");
}

int main() {
  int hits = 0;
  FringeGdbSwitchIn(&hits);
  std::printf("hits: %d\n", hits);
  return hits == 1 ? 0 : 1;
}
