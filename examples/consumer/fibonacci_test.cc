#include "fibonacci.h"

#include <optional>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

#include "gtest/gtest.h"

TEST(ConsumerTest, FibonacciGeneratorYieldsTheSequence) {
  auto fib = Fibonacci();
  std::vector<std::uint64_t> got;
  for (std::uint64_t f : fib) {
    if (got.size() == 10) break;
    got.push_back(f);
  }
  EXPECT_EQ(got, (std::vector<std::uint64_t>{0, 1, 1, 2, 3, 5, 8, 13, 21, 34}));
}

TEST(ConsumerTest, GeneratorWithInputKeepsARunningSum) {
  // Checked stack creation: a failure is a status, not an exception.
  absl::StatusOr<fringe::OsStack> stack =
      fringe::OsStack::Create(fringe::OsStack::DefaultSize());
  ASSERT_TRUE(stack.ok()) << stack.status();
  fringe::Generator<int, int> sum(
      *std::move(stack), [](fringe::Yielder<int, int>& y, int first) {
        int total = first;
        while (std::optional<int> next = y.SuspendOrCancel(total)) {
          total += *next;
        }
      });
  EXPECT_EQ(sum.Resume(1), 1);
  EXPECT_EQ(sum.Resume(2), 3);
  EXPECT_EQ(sum.Resume(39), 42);
}
