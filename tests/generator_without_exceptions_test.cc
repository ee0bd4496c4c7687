// The Generator behaviours that need no C++ exceptions. Runs in every build,
// and is the generator suite of --config=noexcept (-fno-exceptions), where
// generator_test.cc (exceptions, forced unwinding) cannot build. Every test
// here runs its generators to completion or abandons them, because without
// exceptions a suspended generator cannot be unwound.

#include <cstddef>
#include <memory>
#include <optional>
#include <ranges>
#include <span>
#include <utility>
#include <vector>

#include "fringe/generator/generator.h"
#include "fringe/stack/os_stack.h"
#include "fringe/stack/slice_stack.h"
#include "gtest/gtest.h"
#include "tests/stack_helpers.h"

namespace fringe {
namespace {

using test_stacks::MustCreateOsStack;

TEST(GeneratorWithoutExceptionsTest, EchoesInputsUntilTheBodyReturns) {
  Generator<int, int> echo(MustCreateOsStack(),
                           [](Yielder<int, int>& y, int v) {
                             while (v >= 0) v = y.Suspend(v * 10);
                           });
  EXPECT_EQ(echo.Resume(1), 10);
  EXPECT_EQ(echo.Resume(2), 20);
  EXPECT_EQ(echo.Resume(-1), std::nullopt);
  EXPECT_TRUE(echo.done());
  EXPECT_EQ(echo.Resume(3), std::nullopt);
}

TEST(GeneratorWithoutExceptionsTest,
     VoidOutputResumeReportsSuspendedOrFinished) {
  int steps = 0;
  Generator<void, void> g(MustCreateOsStack(), [&](Yielder<void, void>& y) {
    ++steps;
    y.Suspend();
    ++steps;
  });
  EXPECT_TRUE(g.Resume());
  EXPECT_EQ(steps, 1);
  EXPECT_FALSE(g.Resume());
  EXPECT_EQ(steps, 2);
  EXPECT_FALSE(g.Resume());
}

TEST(GeneratorWithoutExceptionsTest, MoveOnlyValuesAndRanges) {
  Generator<void, std::unique_ptr<int>> g(MustCreateOsStack(), [](auto& y) {
    for (int i = 1; i <= 4; ++i) y.Suspend(std::make_unique<int>(i));
  });
  int sum = 0;
  for (auto& p : g | std::views::filter([](auto& p) { return *p % 2 == 0; })) {
    sum += *p;
  }
  EXPECT_EQ(sum, 6);
  EXPECT_TRUE(g.done());
}

TEST(GeneratorWithoutExceptionsTest, NestedGeneratorsOnSliceStacks) {
  alignas(16) static std::byte outer_memory[64 * 1024];
  alignas(16) static std::byte inner_memory[64 * 1024];
  Generator<void, int, SliceStack> outer(
      kUnguarded, *SliceStack::Create(outer_memory), [](Yielder<void, int>& y) {
        Generator<void, int, SliceStack> inner(
            kUnguarded, *SliceStack::Create(inner_memory),
            [](Yielder<void, int>& yi) {
              for (int i = 0; i < 3; ++i) yi.Suspend(i);
            });
        for (int v : inner) y.Suspend(v * 100);
      });
  std::vector<int> got;
  for (int v : outer) got.push_back(v);
  EXPECT_EQ(got, (std::vector<int>{0, 100, 200}));
}

TEST(GeneratorWithoutExceptionsTest,
     AbandonHandsBackASuspendedGeneratorsStack) {
  Generator<void, int> g(MustCreateOsStack(), [](Yielder<void, int>& y) {
    for (;;) y.Suspend(1);
  });
  EXPECT_EQ(g.Resume(), 1);
  EXPECT_EQ(g.state(), State::kRunnable);
  OsStack stack = std::move(g).Abandon();
  EXPECT_TRUE(g.done());  // NOLINT(bugprone-use-after-move): documented.
  // The stack is reusable at once.
  Generator<void, int> again(std::move(stack),
                             [](Yielder<void, int>& y) { y.Suspend(2); });
  EXPECT_EQ(again.Resume(), 2);
  EXPECT_EQ(again.Resume(), std::nullopt);
}

#if !defined(__cpp_exceptions)
void DestroySuspended() {
  Generator<void, int> g(MustCreateOsStack(), [](Yielder<void, int>& y) {
    for (;;) y.Suspend(1);
  });
  g.Resume();
}

TEST(GeneratorWithoutExceptionsDeathTest,
     DestroyingASuspendedGeneratorWithoutExceptionsAborts) {
  EXPECT_DEATH(DestroySuspended(),
               "fringe: Generator destroyed while suspended, and without "
               "exceptions its stack cannot be unwound; suspend with "
               "SuspendOrCancel\\(\\) .*, or call "
               "std::move\\(generator\\).Abandon\\(\\) first");
}
#endif

// Cooperative cancellation: the way a suspended generator is destroyed
// without exceptions.
TEST(GeneratorWithoutExceptionsTest,
     SuspendOrCancelMakesASuspendedGeneratorDestroyable) {
  auto owned = std::make_shared<int>(7);
  std::vector<int> seen;
  bool returned = false;
  {
    Generator<int, int> g(
        MustCreateOsStack(), [&, owned](Yielder<int, int>& y, int v) {
          auto local = owned;  // Released when the body returns.
          while (std::optional<int> next = y.SuspendOrCancel(v)) {
            seen.push_back(*next);
            v = *next * 2;
          }
          returned = true;
        });
    EXPECT_EQ(g.Resume(1), 1);
    EXPECT_EQ(g.Resume(2), 4);
    EXPECT_EQ(owned.use_count(), 3);
  }  // Destroyed while suspended in SuspendOrCancel.
  EXPECT_TRUE(returned);
  EXPECT_EQ(seen, (std::vector<int>{2}));
  EXPECT_EQ(owned.use_count(), 1);
}

TEST(GeneratorWithoutExceptionsTest,
     SuspendOrCancelWithVoidInputReturnsFalseOnCancel) {
  int cancelled = 0;
  {
    Generator<void, int> g(MustCreateOsStack(), [&](Yielder<void, int>& y) {
      for (int i = 0;; ++i) {
        if (!y.SuspendOrCancel(i)) {
          ++cancelled;
          return;
        }
      }
    });
    EXPECT_EQ(g.Resume(), 0);
    EXPECT_EQ(g.Resume(), 1);
  }
  EXPECT_EQ(cancelled, 1);
}

void SuspendAgainAfterCancellation() {
  Generator<void, int> g(MustCreateOsStack(), [](Yielder<void, int>& y) {
    while (y.SuspendOrCancel(1)) {
    }
    y.SuspendOrCancel(2);  // Wrong: cancelled, must return.
  });
  g.Resume();
}

TEST(GeneratorWithoutExceptionsDeathTest,
     SuspendingAgainAfterCancellationAborts) {
  EXPECT_DEATH(SuspendAgainAfterCancellation(),
               "fringe: Generator: the body suspended again after "
               "SuspendOrCancel\\(\\) reported cancellation");
}

}  // namespace
}  // namespace fringe
