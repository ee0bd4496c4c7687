// aarch64 branch protection: the control tests of the hardened configuration
// (--config=aarch64_bti), which runs the aarch64 suite built with
// -mbranch-protection=standard on a CPU that enforces BTI and signs return
// addresses with PAC. If either were off there, the suite passing would prove
// nothing; these tests make that configuration fail instead.
//
// The config sets FRINGE_TEST_BRANCH_PROTECTION=1. Elsewhere enforcement is
// not expected (no BTI/PAC CPU, or code built without them) and they skip.

#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "gtest/gtest.h"

namespace {

bool EnforcementExpected() {
  const char* expected = std::getenv("FRINGE_TEST_BRANCH_PROTECTION");
  return expected != nullptr && std::strcmp(expected, "1") == 0;
}

#define SKIP_UNLESS_ENFORCEMENT_EXPECTED()                                 \
  if (!EnforcementExpected())                                              \
  GTEST_SKIP() << "BTI and PAC are expected only in --config=aarch64_bti " \
                  "(FRINGE_TEST_BRANCH_PROTECTION=1)"

// An indirect branch (br through x9, which must land on `bti j` or `bti jc`)
// to a plain instruction. Returns 2 if it ran to the end.
__attribute__((noinline)) int BranchToATargetWithoutALandingPad() {
  int result;
  asm volatile(
      "adr x9, 1f\n\t"
      "br x9\n\t"
      "mov %w0, #1\n"
      "1:\n\t"
      "mov %w0, #2\n\t"
      : "=r"(result)
      :
      : "x9");
  return result;
}

// The same branch, landing on `bti j` (hint #36), as fringe's switch does.
__attribute__((noinline)) int BranchToALandingPad() {
  int result;
  asm volatile(
      "adr x9, 1f\n\t"
      "br x9\n\t"
      "mov %w0, #1\n"
      "1:\n\t"
      "hint #36\n\t"
      "mov %w0, #2\n\t"
      : "=r"(result)
      :
      : "x9");
  return result;
}

TEST(ArchBtiTest, IndirectBranchToALandingPadRuns) {
  EXPECT_EQ(BranchToALandingPad(), 2);
}

TEST(ArchBtiDeathTest, IndirectBranchToANonPadDiesWithSigillWhereEnforced) {
  SKIP_UNLESS_ENFORCEMENT_EXPECTED();
  EXPECT_EXIT(BranchToATargetWithoutALandingPad(),
              ::testing::KilledBySignal(SIGILL), "")
      << "this configuration promises BTI enforcement, yet a br to a "
         "non-pad target ran: the binary's text is not BTI-guarded";
}

// Signs `pointer` with the A key and `modifier` as pac-ret does (pacia1716,
// in the hint space: a NOP where PAC is absent or off).
__attribute__((noinline)) std::uintptr_t SignWithKeyA(std::uintptr_t pointer,
                                                      std::uintptr_t modifier) {
  register std::uintptr_t x17 asm("x17") = pointer;
  register std::uintptr_t x16 asm("x16") = modifier;
  asm volatile("hint #8" : "+r"(x17) : "r"(x16));  // pacia1716
  return x17;
}

TEST(ArchPacTest, ReturnAddressesAreReallySignedWhereEnabled) {
  SKIP_UNLESS_ENFORCEMENT_EXPECTED();
  const auto address = reinterpret_cast<std::uintptr_t>(&SignWithKeyA);
  EXPECT_NE(SignWithKeyA(address, 0x1234), address)
      << "this configuration promises PAC, yet signing left the pointer "
         "unchanged: exceptions and backtraces through signed frames would "
         "go untested";
}

}  // namespace
