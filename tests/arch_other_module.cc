// Context code in another module than tests/arch_test.cc: a shared library
// of its own in the tests' default (dynamic) link, so on ppc64le it has its
// own TOC, which the switch must restore on both sides. On arm32 it is built
// for ARM state (-marm) while arch_test.cc is Thumb-2, Debian's default: the
// switch inlines here with r11 as the frame pointer and an even (ARM) resume
// address, there with r7 and an odd (Thumb) one.

#include <execinfo.h>

#include <cstdint>

#include "fringe/arch/switch.h"

#if defined(__arm__) && defined(__thumb__)
#error "tests/arch_other_module.cc must be built for ARM state (-marm)"
#endif

namespace fringe::arch_internal {

// Switches seen by FringeTestOtherModuleEchoPlusTwo: a global of this module,
// which ppc64le code reaches through this module's TOC.
static std::uintptr_t echo_switches = 0;

extern "C" std::uintptr_t FringeTestOtherModuleEchoSwitches() {
  return echo_switches;
}

// Answers every word w with w + 2, forever (EchoPlusOne in arch_test.cc adds
// 1, so a result shows which side answered).
extern "C" [[noreturn]] void FringeTestOtherModuleEchoPlusTwo(
    std::uintptr_t arg, StackPointer resumer, void*) {
  for (;;) {
    Transfer t = Switch(arg + 2, resumer);
    ++echo_switches;
    arg = t.arg;
    resumer = t.from;
  }
}

// One SwitchAndLink from this module: hands `arg` to *sp and returns the
// answer.
extern "C" __attribute__((noinline)) std::uintptr_t
FringeTestOtherModuleRoundTrip(StackPointer* sp, void* base,
                               std::uintptr_t arg) {
  Transfer t = SwitchAndLink(arg, *sp, base);
  *sp = t.from;
  return t.arg;
}

// Takes a backtrace(3) into the array at `context` (64 entries, count
// first), then switches back.
extern "C" [[noreturn]] void FringeTestOtherModuleBacktrace(
    std::uintptr_t, StackPointer resumer, void* context) {
  auto* out = static_cast<void**>(context);
  out[0] = reinterpret_cast<void*>(backtrace(out + 1, 63));
  Switch(0, resumer);
  __builtin_trap();
}

}  // namespace fringe::arch_internal
