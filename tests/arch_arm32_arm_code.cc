// The ARM-state half of tests/arch_test.cc's interworking tests on arm32:
// built with -marm (tests/BUILD), while arch_test.cc is Thumb-2, Debian's
// default. The switch inlines here with r11 as the frame pointer and an
// even (ARM) resume address, there with r7 and an odd (Thumb) one.

#include <execinfo.h>

#include <cstdint>

#include "fringe/arch/switch.h"

#if !defined(__arm__) || defined(__thumb__)
#error "tests/arch_arm32_arm_code.cc must be built for ARM state (-marm)"
#endif

namespace fringe::arch_internal {

// Answers every word w with w + 2, forever (EchoPlusOne in arch_test.cc adds
// 1, so a result shows which side answered).
extern "C" [[noreturn]] void FringeTestArmEchoPlusTwo(std::uintptr_t arg,
                                                      StackPointer resumer,
                                                      void*) {
  for (;;) {
    Transfer t = Switch(arg + 2, resumer);
    arg = t.arg;
    resumer = t.from;
  }
}

// One SwitchAndLink from ARM code: hands `arg` to *sp and returns the answer.
extern "C" __attribute__((noinline)) std::uintptr_t FringeTestArmRoundTrip(
    StackPointer* sp, void* base, std::uintptr_t arg) {
  Transfer t = SwitchAndLink(arg, *sp, base);
  *sp = t.from;
  return t.arg;
}

// Entry in ARM state: takes a backtrace(3) into the array at `context` (64
// entries, count first), then switches back.
extern "C" [[noreturn]] void FringeTestArmBacktrace(std::uintptr_t,
                                                    StackPointer resumer,
                                                    void* context) {
  auto* out = static_cast<void**>(context);
  out[0] = reinterpret_cast<void*>(backtrace(out + 1, 63));
  Switch(0, resumer);
  __builtin_trap();
}

}  // namespace fringe::arch_internal
