// Floating-point control state on aarch64 (FPCR) and riscv64 (frm in fcsr)
// belongs to the thread, as AAPCS64 and the RISC-V psABI say (quoted in
// fringe/arch/aarch64.h and riscv64.h): fringe's switch neither saves nor
// restores it, so a rounding mode set on one side of a switch is the mode the
// other side runs with afterwards. These tests pin that rule on each CPU.
// (x86 keeps FP control per generator, in the generator layer.)

#include <cfenv>
#include <cstdint>
#include <memory>

#include "fringe/arch/switch.h"
#include "gtest/gtest.h"
#include "tests/emulation.h"

namespace fringe::arch_internal {
namespace {

class TestStack {
 public:
  static constexpr std::size_t kWords = 32 * 1024;
  void* base() const { return memory_.get() + kWords; }

 private:
  std::unique_ptr<std::uintptr_t[]> memory_ =
      std::make_unique<std::uintptr_t[]>(kWords);
};

// 1/3, computed at run time in the current rounding mode (volatile operands:
// no constant folding in the compiler's default mode). Round-to-nearest
// rounds it down, so only FE_UPWARD tells the modes apart by this value.
__attribute__((noinline)) double OneThird() {
  volatile double one = 1.0;
  volatile double three = 3.0;
  return one / three;
}

// Restores round-to-nearest whatever a test leaves behind.
class ArchFpControlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    FRINGE_SKIP_UNDER("qemu-mips64el",
                      "it ignores writes to FCSR's rounding mode: after a "
                      "successful fesetround(FE_UPWARD), fegetround() is "
                      "still FE_TONEAREST, with or without fringe");
    ASSERT_EQ(std::fesetround(FE_TONEAREST), 0);
  }
  void TearDown() override { std::fesetround(FE_TONEAREST); }
};

struct Observed {
  int mode = -1;
  double third = 0;
};

TEST_F(ArchFpControlTest, RoundingModeABodySetsIsTheResumersAfterTheSwitch) {
  const double nearest = OneThird();
  TestStack stack;
  StackPointer sp = InitStack(
      stack.base(),
      [](std::uintptr_t, StackPointer resumer, void*) {
        std::fesetround(FE_UPWARD);
        Switch(0, resumer);
        __builtin_trap();  // Never resumed again.
      },
      nullptr);
  SwitchAndLink(0, sp, stack.base());
  EXPECT_EQ(std::fegetround(), FE_UPWARD);
  EXPECT_GT(OneThird(), nearest) << "1/3 did not round up after the switch";
}

TEST_F(ArchFpControlTest, RoundingModeTheResumerSetsIsTheBodysAfterTheSwitch) {
  const double nearest = OneThird();
  Observed seen;
  TestStack stack;
  StackPointer sp = InitStack(
      stack.base(),
      [](std::uintptr_t, StackPointer resumer, void* context) {
        auto* seen = static_cast<Observed*>(context);
        // Runs in the mode the resumer set just before this first switch.
        seen->mode = std::fegetround();
        seen->third = OneThird();
        Switch(0, resumer);
        __builtin_trap();
      },
      &seen);
  ASSERT_EQ(std::fesetround(FE_UPWARD), 0);
  SwitchAndLink(0, sp, stack.base());
  EXPECT_EQ(seen.mode, FE_UPWARD);
  EXPECT_GT(seen.third, nearest) << "1/3 did not round up in the body";
}

TEST_F(ArchFpControlTest, RoundingModeFollowsTheThreadAcrossManySwitches) {
  // A body that sets a new mode at each resume: the resumer always sees the
  // latest one, i.e. there is one mode for the thread, not one per context.
  TestStack stack;
  StackPointer sp = InitStack(
      stack.base(),
      [](std::uintptr_t arg, StackPointer resumer, void*) {
        for (;;) {
          std::fesetround(static_cast<int>(arg));
          Transfer t = Switch(0, resumer);
          arg = t.arg;
          resumer = t.from;
        }
      },
      nullptr);
  for (int mode : {FE_UPWARD, FE_TOWARDZERO, FE_DOWNWARD, FE_TONEAREST}) {
    sp =
        SwitchAndLink(static_cast<std::uintptr_t>(mode), sp, stack.base()).from;
    EXPECT_EQ(std::fegetround(), mode);
  }
}

}  // namespace
}  // namespace fringe::arch_internal
