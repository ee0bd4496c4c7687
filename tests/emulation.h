// tests/emulation.h
//
// What a test cannot check under the CPU emulator that CI runs it in. The
// per-CPU configs in .bazelrc set FRINGE_TEST_EMULATOR (qemu-user runs the
// tests), and FRINGE_TEST_NO_THREADS where the emulator cannot run threads
// (qemu-i386 7.2 hangs in pthread_create). Natively both are unset and every
// test runs.

#ifndef FRINGE_TESTS_EMULATION_H_
#define FRINGE_TESTS_EMULATION_H_

#include <cstdlib>
#include <string_view>

#include "gtest/gtest.h"

namespace fringe::test_emulation {

inline const char* Emulator() {
  const char* name = std::getenv("FRINGE_TEST_EMULATOR");
  return name != nullptr && *name != '\0' ? name : nullptr;
}

inline bool EmulatorLacksThreads() {
  const char* no = std::getenv("FRINGE_TEST_NO_THREADS");
  return no != nullptr && *no == '1';
}

}  // namespace fringe::test_emulation

// Skips the current test under an emulator, saying why.
#define FRINGE_SKIP_UNDER_EMULATOR(why)                            \
  if (const char* emulator = ::fringe::test_emulation::Emulator()) \
  GTEST_SKIP() << "not checkable under " << emulator << ": " << why

// Skips the current test under the one emulator named (a FRINGE_TEST_EMULATOR
// value, e.g. "qemu-ppc64le"), saying why.
#define FRINGE_SKIP_UNDER(name, why)                               \
  if (const char* emulator = ::fringe::test_emulation::Emulator(); \
      emulator != nullptr && std::string_view(emulator) == (name)) \
  GTEST_SKIP() << "not checkable under " << emulator << ": " << why

// Skips the current test where the emulator cannot run threads.
#define FRINGE_SKIP_WITHOUT_THREADS()                   \
  if (::fringe::test_emulation::EmulatorLacksThreads()) \
  GTEST_SKIP() << "this emulator cannot run threads"

#endif  // FRINGE_TESTS_EMULATION_H_
