// aarch64 Guarded Control Stack (GCS, the arm64 shadow stack): fringe's
// switch does not switch shadow stacks, so a process running with GCS must
// stop at its first generator with a one-line message.
//
// What this can and cannot test: no CPU or kernel here can enable GCS
// (qemu-user 7.2 has no GCS, the host kernel runs x86_64). So the decision is
// tested through its seam, GcsProblem(), with the status words a GCS kernel
// would report, and the message and abort through SetGcsStatusForTesting(),
// which makes InitStack's check see such a word instead of asking the
// kernel. That prctl(PR_GET_SHADOW_STACK_STATUS) is the right question, and
// its constants (74, enable bit 1), come from linux/prctl.h, not from a run.

#include <cerrno>
#include <cstdint>
#include <memory>

#include "fringe/arch/switch.h"
#include "gtest/gtest.h"

namespace fringe::arch_internal {
namespace {

// Status bits of linux/prctl.h.
constexpr unsigned long kEnable = 1;  // PR_SHADOW_STACK_ENABLE
constexpr unsigned long kWrite = 2;   // PR_SHADOW_STACK_WRITE
constexpr unsigned long kPush = 4;    // PR_SHADOW_STACK_PUSH

TEST(ArchGcsTest, KernelWithoutShadowStacksLetsFringeRun) {
  EXPECT_EQ(GcsProblem(-1, EINVAL, 0), nullptr);
}

TEST(ArchGcsTest, ShadowStackOffLetsFringeRun) {
  EXPECT_EQ(GcsProblem(0, 0, 0), nullptr);
  // Write and push permissions mean nothing while GCS itself is off.
  EXPECT_EQ(GcsProblem(0, 0, kWrite | kPush), nullptr);
}

TEST(ArchGcsTest, ShadowStackOnIsRefused) {
  EXPECT_NE(GcsProblem(0, 0, kEnable), nullptr);
  EXPECT_NE(GcsProblem(0, 0, kEnable | kWrite | kPush), nullptr);
}

TEST(ArchGcsTest, ThisProcessRunsWithoutShadowStacks) {
  // The real check, against the real kernel (under qemu-user: the emulator's
  // answer). InitStack returns only if it passed.
  auto memory = std::make_unique<std::uintptr_t[]>(1024);
  EXPECT_NE(InitStack(memory.get() + 1024, nullptr, nullptr), nullptr);
}

TEST(ArchGcsDeathTest, FirstStackOfAShadowStackProcessAbortsWithOneLine) {
  EXPECT_DEATH(
      {
        SetGcsStatusForTesting(kEnable);
        auto memory = std::make_unique<std::uintptr_t[]>(1024);
        InitStack(memory.get() + 1024, nullptr, nullptr);
      },
      // One line: the cause and the fix. (qemu-user adds its own line about
      // the signal after it.)
      "^fringe: [^\n]*Guarded Control Stack "
      "\\(GCS[^\n]*GLIBC_TUNABLES[^\n]*\n");
}

}  // namespace
}  // namespace fringe::arch_internal
