// x86_64 shadow stacks (CET SHSTK): fringe does not switch them yet, so a
// process that runs with them must stop at its first generator with one line
// naming the cause. No CPU here has CET, so the kernel always answers "off";
// these tests feed InitStack the status word through its test hook instead.
// What they cannot show: that a real shadow-stack process reaches this check
// (rather than faulting earlier) or that the kernel's answer is read right on
// a CET machine.

#include <cstdint>
#include <string>

#include "fringe/arch/switch.h"
#include "fringe/generator/generator.h"
#include "fringe/stack/os_stack.h"
#include "gtest/gtest.h"

namespace fringe::arch_internal {
namespace {

// ARCH_SHSTK_STATUS's bits (<asm/prctl.h>): 1 = shadow stack on, 2 = WRSS on.
constexpr std::uint64_t kShstk = 1;
constexpr std::uint64_t kWrss = 2;

constexpr char kMessage[] =
    "^fringe: this process runs with x86 shadow stacks \\(CET SHSTK\\) "
    "enabled, .* GLIBC_TUNABLES=glibc.cpu.x86_shstk=off\\)\n$";

TEST(ArchShadowStackTest, OnlyTheShadowStackBitIsAProblem) {
  EXPECT_EQ(ShadowStackProblem(0), nullptr);
  EXPECT_EQ(ShadowStackProblem(kWrss), nullptr);
  EXPECT_NE(ShadowStackProblem(kShstk), nullptr);
  EXPECT_NE(ShadowStackProblem(kShstk | kWrss), nullptr);
}

TEST(ArchShadowStackTest, TheMessageIsOneLineNamingTheCauseAndTheWayOut) {
  std::string message = ShadowStackProblem(kShstk);
  EXPECT_EQ(message.find('\n'), std::string::npos);
  EXPECT_NE(message.find("shadow stacks (CET SHSTK)"), std::string::npos);
  EXPECT_NE(message.find("glibc.cpu.x86_shstk=off"), std::string::npos);
}

alignas(16) unsigned char stack_memory[16 * 1024];

[[noreturn]] void Unreachable(std::uintptr_t, StackPointer, void*) {
  __builtin_trap();
}

TEST(ArchShadowStackDeathTest, InitStackStopsAShadowStackProcess) {
  EXPECT_DEATH(
      {
        SetShadowStackStatusForTesting(kShstk);
        InitStack(stack_memory + sizeof(stack_memory), Unreachable, nullptr);
      },
      kMessage);
}

void CreateAGenerator() {
  Generator<void, int> g(*OsStack::Create(OsStack::DefaultSize()),
                         [](Yielder<void, int>& y) { y.Suspend(1); });
}

TEST(ArchShadowStackDeathTest, TheFirstGeneratorStopsAShadowStackProcess) {
  EXPECT_DEATH(
      {
        SetShadowStackStatusForTesting(kShstk);
        CreateAGenerator();
      },
      kMessage);
}

[[noreturn]] void ReturnsTheWord(std::uintptr_t arg, StackPointer resumer,
                                 void*) {
  for (;;) {
    Transfer t = Switch(arg, resumer);
    arg = t.arg;
    resumer = t.from;
  }
}

TEST(ArchShadowStackTest, ShadowStacksOffLetsContextsRun) {
  SetShadowStackStatusForTesting(kWrss);
  void* base = stack_memory + sizeof(stack_memory);
  StackPointer sp = InitStack(base, ReturnsTheWord, nullptr);
  EXPECT_EQ(SwitchAndLink(7, sp, base).arg, 7u);
}

}  // namespace
}  // namespace fringe::arch_internal
