// Generators that migrate between threads (fringe::kMigratable), built at -O3
// so that the compiler hoists and reuses whatever it is allowed to: fringe's
// own per-thread state (the C++ exception globals it moves around a switch)
// must be found afresh after every switch, on whichever thread runs.

#include <exception>
#include <string>
#include <thread>
#include <vector>

#include "fringe/generator/generator.h"
#include "fringe/stack/os_stack.h"
#include "gtest/gtest.h"
#include "tests/emulation.h"
#include "tests/stack_helpers.h"

namespace fringe {
namespace {

using test_stacks::MustCreateOsStack;

template <typename T>
bool CurrentExceptionIs(const T& expected) {
  try {
    std::rethrow_exception(std::current_exception());
  } catch (const T& e) {
    return e == expected;
  } catch (...) {
  }
  return false;
}

// The outer body migrates at each of its Suspend()s, and around them resumes
// a nested (also migrating) generator, inside a catch block, while the
// nested body suspends inside catch blocks of its own and every resumer
// calls Resume() from a catch block too. Each side must find its own
// exception afterwards, on whatever thread it then runs.
TEST(GeneratorMigrationTest, NestedResumesAroundSuspendWithExceptionsInFlight) {
  FRINGE_SKIP_WITHOUT_THREADS();
  constexpr int kRounds = 200;
  std::vector<std::string> errors;
  Generator<void, int> nested(kMigratable, MustCreateOsStack(), [&](auto& y) {
    for (int k = 0;; ++k) {
      try {
        throw std::to_string(k);
      } catch (const std::string&) {
        y.Suspend(k);
        if (!CurrentExceptionIs(std::to_string(k))) {
          errors.push_back("nested lost its exception at " + std::to_string(k));
        }
      }
    }
  });
  Generator<void, int> outer(kMigratable, MustCreateOsStack(), [&](auto& y) {
    for (int round = 0;; ++round) {
      try {
        throw round;
      } catch (int) {
        int before = *nested.Resume();
        if (!CurrentExceptionIs(round)) errors.push_back("outer, before");
        y.Suspend(before);  // Resumed on another thread.
        int after = *nested.Resume();
        if (!CurrentExceptionIs(round)) errors.push_back("outer, after");
        if (after != before + 1) errors.push_back("nested skipped a value");
      }
    }
  });
  for (int i = 0; i < kRounds; ++i) {
    std::thread([&, i] {
      try {
        throw 'r';
      } catch (char) {
        int v = *outer.Resume();
        if (v != 2 * i) errors.push_back("outer yielded " + std::to_string(v));
        if (!CurrentExceptionIs('r')) errors.push_back("resumer lost its own");
      }
      if (std::current_exception() != nullptr) {
        errors.push_back("resumer left with an exception");
      }
    }).join();
  }
  EXPECT_TRUE(errors.empty()) << ::testing::PrintToString(errors);
}

}  // namespace
}  // namespace fringe
