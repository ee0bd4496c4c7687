// A program for arch_ibt_test.sh: runs one context through a SwitchAndLink
// and a Switch and prints where each indirect jump of the switch landed, as
// link-time addresses the test looks up in the disassembly:
//
//   entry  <hex>   what InitStack planted for the first switch
//   resume <hex>   resume addresses of the switches that suspended
//
// Both are read where the next switch pops them: one word above the saved
// frame pointer at the suspended context's stack pointer (x86_64.h, x86_32.h).

#include <link.h>

#include <cinttypes>
#include <cstdint>
#include <cstdio>

#include "fringe/arch/switch.h"

namespace {

using fringe::arch_internal::InitStack;
using fringe::arch_internal::StackPointer;
using fringe::arch_internal::Switch;
using fringe::arch_internal::SwitchAndLink;

alignas(16) unsigned char stack_memory[64 * 1024];

// How far the program was loaded from its link-time addresses (PIE).
std::uintptr_t LoadBias() {
  std::uintptr_t bias = 0;
  dl_iterate_phdr(
      [](dl_phdr_info* info, std::size_t, void* out) {
        *static_cast<std::uintptr_t*>(out) = info->dlpi_addr;
        return 1;  // The first object is the program itself.
      },
      &bias);
  return bias;
}

void PrintLanding(const char* kind, StackPointer sp) {
  std::uintptr_t landing = static_cast<std::uintptr_t*>(sp)[1];
  std::printf("%s %" PRIxPTR "\n", kind, landing - LoadBias());
}

[[noreturn]] void OnNewStack(std::uintptr_t arg, StackPointer resumer, void*) {
  PrintLanding("resume", resumer);  // main's SwitchAndLink.
  Switch(arg + 1, resumer);
  __builtin_trap();  // Never resumed again.
}

}  // namespace

int main() {
  void* base = stack_memory + sizeof(stack_memory);
  StackPointer sp = InitStack(base, OnNewStack, nullptr);
  PrintLanding("entry", sp);
  fringe::arch_internal::Transfer t = SwitchAndLink(41, sp, base);
  PrintLanding("resume", t.from);  // OnNewStack's Switch.
  return t.arg == 42 ? 0 : 1;
}
