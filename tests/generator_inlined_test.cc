// Generators built the way users build them, at -O2 (the BUILD file sets it
// whatever the compilation mode): the switch inlines into each Resume(), so
// each resume suspends the resumer at a stack pointer of its own call
// site's. A body's last switch (when it returns, throws or is unwound) must
// go to the resumer of the latest switch in, never to an earlier one.

#include <optional>
#include <stdexcept>

#include "fringe/generator/generator.h"
#include "fringe/stack/os_stack.h"
#include "gtest/gtest.h"
#include "tests/stack_helpers.h"

namespace fringe {
namespace {

using test_stacks::MustCreateOsStack;
using Counter = Generator<void, long>;

Counter NewCounter(long limit) {
  return Counter(MustCreateOsStack(), [limit](Yielder<void, long>& y) {
    for (long i = 0; i < limit; ++i) y.Suspend(i);
    if (limit < 0) throw std::runtime_error("negative");
  });
}

// Runs `f` below `depth` frames of 512 bytes each, so that a Resume() or a
// destruction inlined there suspends the caller far below where the
// generator was first resumed.
template <typename F>
[[gnu::noinline]] void Deeper(int depth, F&& f) {
  volatile char frame[512];
  frame[0] = static_cast<char>(depth);
  if (depth > 0) {
    Deeper(depth - 1, f);
  } else {
    f();
  }
  frame[1] = frame[0];
}

TEST(GeneratorInlinedTest, ForcedUnwindEndsInTheLastResumer) {
  std::optional<Counter> counter(NewCounter(1000));
  for (long i = 0; i < 3; ++i) EXPECT_EQ(counter->Resume(), i);
  Deeper(4, [&] { counter.reset(); });
  EXPECT_FALSE(counter.has_value());
}

// A body that never returns leaves only through the forced unwind. gcc
// infers that it never returns and (GCC 12's modref) that, then, its stores
// through the Yielder are invisible to the entry, which kept the resumer of
// the *first* switch in a register for the last one: the unwound body
// switched to a stale stack pointer and crashed (seen in
// generator_benchmark, where the destruction ran at another depth).
[[gnu::noinline]] void CountForever(Yielder<void, long>& y) {
  for (long i = 0;; ++i) y.Suspend(i);
}

TEST(GeneratorInlinedTest, ForcedUnwindOfANeverReturningBody) {
  std::optional<Counter> counter(
      std::in_place, MustCreateOsStack(),
      [](Yielder<void, long>& y) { CountForever(y); });
  for (long i = 0; i < 3; ++i) EXPECT_EQ(counter->Resume(), i);
  Deeper(4, [&] { counter.reset(); });
  EXPECT_FALSE(counter.has_value());
}

TEST(GeneratorInlinedTest, ReturnEndsInTheLastResumer) {
  Counter counter = NewCounter(2);
  EXPECT_EQ(counter.Resume(), 0);
  EXPECT_EQ(counter.Resume(), 1);
  Deeper(4, [&] { EXPECT_EQ(counter.Resume(), std::nullopt); });
  EXPECT_TRUE(counter.done());
}

TEST(GeneratorInlinedTest, ThrowEndsInTheLastResumer) {
  Counter counter = NewCounter(-1);
  Deeper(4, [&] { EXPECT_THROW(counter.Resume(), std::runtime_error); });
  EXPECT_TRUE(counter.done());
}

TEST(GeneratorInlinedTest, RangeForEndsInTheLastResumer) {
  Counter counter = NewCounter(5);
  long sum = 0;
  auto it = counter.begin();
  Deeper(4, [&] {
    for (; it != counter.end(); ++it) sum += *it;
  });
  EXPECT_EQ(sum, 0 + 1 + 2 + 3 + 4);
}

}  // namespace
}  // namespace fringe
