#include "fibonacci.h"

#include <vector>

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
  fringe::Generator<int, int> sum(
      *fringe::OsStack::Create(fringe::OsStack::DefaultSize()),
      [](fringe::Yielder<int, int>& y, int first) {
        int total = first;
        for (;;) total += y.Suspend(total);
      });
  EXPECT_EQ(sum.Resume(1), 1);
  EXPECT_EQ(sum.Resume(2), 3);
  EXPECT_EQ(sum.Resume(39), 42);
}
