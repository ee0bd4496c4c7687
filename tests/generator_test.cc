// Tests of fringe::Generator and fringe::Yielder: every rule of the API.

#include "fringe/generator/generator.h"

#include <dlfcn.h>
#include <execinfo.h>
#include <ftw.h>
#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cfenv>
#include <cmath>
#include <csignal>
#include <cstddef>
#include <exception>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <ranges>
#include <span>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "fringe/stack/os_stack.h"
#include "fringe/stack/owned_stack.h"
#include "fringe/stack/slice_stack.h"
#include "fringe/stack/stack_pool.h"
#include "gtest/gtest.h"
#include "tests/emulation.h"
#include "tests/stack_helpers.h"

namespace fringe {
namespace {

using test_stacks::MustCreateOsStack;

TEST(GeneratorTest, BodyStartsOnFirstResumeWithItsInputAsArgument) {
  std::vector<int> seen;
  Generator<int, int> g(
      MustCreateOsStack(), [&](Yielder<int, int>& y, int first) {
        seen.push_back(first);
        for (;;) seen.push_back(y.Suspend(static_cast<int>(seen.size())));
      });
  EXPECT_TRUE(seen.empty());
  EXPECT_EQ(g.state(), State::kRunnable);
  EXPECT_EQ(g.Resume(10), 1);
  EXPECT_EQ(g.Resume(20), 2);
  EXPECT_EQ(g.Resume(30), 3);
  EXPECT_EQ(seen, (std::vector<int>{10, 20, 30}));
}

TEST(GeneratorTest, FinishedGeneratorReturnsNulloptForeverWithoutRunning) {
  int runs = 0;
  Generator<void, int> g(MustCreateOsStack(), [&](Yielder<void, int>& y) {
    ++runs;
    y.Suspend(7);
    ++runs;
  });
  EXPECT_EQ(g.Resume(), 7);
  EXPECT_FALSE(g.done());
  EXPECT_EQ(g.Resume(), std::nullopt);
  EXPECT_TRUE(g.done());
  EXPECT_EQ(g.state(), State::kFinished);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(g.Resume(), std::nullopt);
  EXPECT_EQ(runs, 2);
}

TEST(GeneratorTest, StateIsRunningInsideTheBody) {
  Generator<void, int>* self = nullptr;
  State inside = State::kFinished;
  Generator<void, int> g(MustCreateOsStack(), [&](Yielder<void, int>& y) {
    inside = self->state();
    y.Suspend(1);
  });
  self = &g;
  g.Resume();
  EXPECT_EQ(inside, State::kRunning);
  EXPECT_EQ(g.state(), State::kRunnable);
}

TEST(GeneratorTest, InputWithVoidOutputIsASink) {
  std::vector<std::string> got;
  Generator<std::string, void> sink(
      MustCreateOsStack(), [&](Yielder<std::string, void>& y, std::string s) {
        for (;;) {
          got.push_back(std::move(s));
          s = y.Suspend();
        }
      });
  EXPECT_TRUE(sink.Resume("a"));
  EXPECT_TRUE(sink.Resume("b"));
  EXPECT_EQ(got, (std::vector<std::string>{"a", "b"}));
}

TEST(GeneratorTest, MoveOnlyValuesTravelBothWays) {
  Generator<std::unique_ptr<int>, std::unique_ptr<int>> g(
      MustCreateOsStack(), [](auto& y, std::unique_ptr<int> in) {
        for (;;) {
          *in *= 2;
          in = y.Suspend(std::move(in));
        }
      });
  for (int i = 1; i < 5; ++i) {
    std::optional<std::unique_ptr<int>> out =
        g.Resume(std::make_unique<int>(i));
    ASSERT_TRUE(out.has_value());
    EXPECT_EQ(**out, 2 * i);
  }
}

// Counts what happens to values of this type.
struct Tally {
  int constructed = 0, copied = 0, moved = 0, assigned = 0, destroyed = 0;
};
class Counted {
 public:
  Counted(Tally* t, int v) : t_(t), v_(v) { ++t_->constructed; }
  Counted(const Counted& o) : t_(o.t_), v_(o.v_) { ++t_->copied; }
  Counted(Counted&& o) noexcept : t_(o.t_), v_(o.v_) {
    ++t_->moved;
    o.v_ = -1;
  }
  Counted& operator=(const Counted&) = delete;
  Counted& operator=(Counted&& o) noexcept {
    v_ = std::exchange(o.v_, -1);
    ++t_->assigned;
    return *this;
  }
  ~Counted() { ++t_->destroyed; }
  int value() const { return v_; }

 private:
  Tally* t_;
  int v_;
};

TEST(GeneratorTest, ValuesAreMovedNeverCopiedAndDestroyedOnce) {
  Tally in, out;
  {
    Generator<Counted, Counted> g(MustCreateOsStack(), [&](auto& y, Counted c) {
      for (;;) c = y.Suspend(Counted(&out, c.value() + 1));
    });
    for (int i = 0; i < 10; ++i) {
      auto r = g.Resume(Counted(&in, i));
      ASSERT_TRUE(r.has_value());
      EXPECT_EQ(r->value(), i + 1);
    }
  }  // Destroying g unwinds the body: its live Counted objects die too.
  EXPECT_EQ(in.copied, 0);
  EXPECT_EQ(out.copied, 0);
  EXPECT_EQ(in.constructed + in.copied + in.moved, in.destroyed);
  EXPECT_EQ(out.constructed + out.copied + out.moved, out.destroyed);
}

TEST(GeneratorTest, ExceptionEscapingTheBodyIsRethrownAndFinishes) {
  Generator<void, int> g(MustCreateOsStack(), [](Yielder<void, int>& y) {
    y.Suspend(1);
    throw std::runtime_error("boom");
  });
  EXPECT_EQ(g.Resume(), 1);
  try {
    g.Resume();
    FAIL() << "no exception";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "boom");
  }
  EXPECT_TRUE(g.done());
  EXPECT_EQ(g.Resume(), std::nullopt);
}

TEST(GeneratorTest, SuspendingInsideACatchBlockKeepsEachSidesException) {
  Generator<void, int> g(MustCreateOsStack(), [](Yielder<void, int>& y) {
    try {
      throw std::runtime_error("body's");
    } catch (const std::runtime_error&) {
      y.Suspend(std::uncaught_exceptions());
      // The body's exception is still the one being handled here...
      y.Suspend(std::current_exception() != nullptr ? 1 : 0);
      throw;  // ...and rethrowing it works.
    }
  });
  EXPECT_EQ(g.Resume(), 0);
  // The body is suspended inside its catch block; none of it leaks here.
  EXPECT_EQ(std::current_exception(), nullptr);
  EXPECT_EQ(std::uncaught_exceptions(), 0);
  EXPECT_EQ(g.Resume(), 1);
  try {
    g.Resume();
    FAIL() << "no exception";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "body's");
  }
}

TEST(GeneratorTest, ResumingFromACatchBlockKeepsTheResumersException) {
  Generator<void, int> g(MustCreateOsStack(), [](Yielder<void, int>& y) {
    for (;;) {
      // The resumer's exception is not the body's business.
      y.Suspend(std::current_exception() == nullptr ? 1 : 0);
      try {
        throw 42;
      } catch (int) {
        y.Suspend(2);
      }
    }
  });
  try {
    throw std::logic_error("resumer's");
  } catch (const std::logic_error&) {
    EXPECT_EQ(g.Resume(), 1);
    EXPECT_EQ(g.Resume(), 2);  // Body suspended inside its own catch.
    try {
      throw;  // Still the resumer's exception.
    } catch (const std::logic_error& e) {
      EXPECT_STREQ(e.what(), "resumer's");
    }
  }
  EXPECT_EQ(std::current_exception(), nullptr);
}

TEST(GeneratorTest, UncaughtExceptionsIsRightOnBothSidesDuringUnwinding) {
  int in_body_during_unwind = -1;
  struct Probe {
    int* out;
    ~Probe() { *out = std::uncaught_exceptions(); }
  };
  {
    Generator<void, int> g(MustCreateOsStack(), [&](Yielder<void, int>& y) {
      Probe probe{&in_body_during_unwind};
      y.Suspend(1);
    });
    g.Resume();
  }  // ForcedUnwind is in flight inside the body only.
  EXPECT_EQ(in_body_during_unwind, 1);
  EXPECT_EQ(std::uncaught_exceptions(), 0);
}

// Destructors of everything live on a suspended generator's stack.
struct Guard {
  std::vector<std::string>* log;
  std::string name;
  ~Guard() { log->push_back(name); }
};

void NestedFrames(Yielder<void, int>& y, std::vector<std::string>* log,
                  int depth) {
  Guard g{log, "frame" + std::to_string(depth)};
  if (depth == 3) {
    y.Suspend(depth);
    ADD_FAILURE() << "resumed after being destroyed";
  } else {
    NestedFrames(y, log, depth + 1);
  }
}

TEST(GeneratorTest, ForcedUnwindRunsDestructorsOfNestedFramesOnce) {
  std::vector<std::string> log;
  {
    Generator<void, int> g(MustCreateOsStack(), [&](Yielder<void, int>& y) {
      Guard outer{&log, "body"};
      NestedFrames(y, &log, 0);
    });
    EXPECT_EQ(g.Resume(), 3);
    EXPECT_TRUE(log.empty());
  }
  EXPECT_EQ(log, (std::vector<std::string>{"frame3", "frame2", "frame1",
                                           "frame0", "body"}));
}

TEST(GeneratorTest, CatchAllThatRethrowsLetsTheUnwindThrough) {
  std::vector<std::string> log;
  {
    Generator<void, int> g(MustCreateOsStack(), [&](Yielder<void, int>& y) {
      Guard outer{&log, "outer"};
      try {
        y.Suspend(1);
      } catch (...) {
        log.push_back("cleanup");
        throw;
      }
    });
    g.Resume();
  }
  EXPECT_EQ(log, (std::vector<std::string>{"cleanup", "outer"}));
}

TEST(GeneratorTest, NeverStartedGeneratorDestroysItsCapturedBody) {
  auto owned = std::make_shared<int>(1);
  {
    Generator<void, int> g(MustCreateOsStack(), [owned](Yielder<void, int>& y) {
      y.Suspend(*owned);
    });
    EXPECT_EQ(owned.use_count(), 2);
  }
  EXPECT_EQ(owned.use_count(), 1);
}

TEST(GeneratorTest, FinishedGeneratorDestroysItsCapturedBody) {
  auto owned = std::make_shared<int>(1);
  {
    Generator<void, int> g(MustCreateOsStack(), [owned](Yielder<void, int>& y) {
      y.Suspend(*owned);
    });
    g.Resume();
    g.Resume();
    EXPECT_TRUE(g.done());
  }
  EXPECT_EQ(owned.use_count(), 1);
}

TEST(GeneratorTest, UnwrapUnwindsAndReturnsTheStackForReuse) {
  std::vector<std::string> log;
  Generator<void, int> g(MustCreateOsStack(), [&](Yielder<void, int>& y) {
    Guard guard{&log, "first"};
    y.Suspend(1);
  });
  g.Resume();
  void* base = nullptr;
  OsStack stack = std::move(g).Unwrap();
  base = stack.base();
  EXPECT_EQ(log, std::vector<std::string>{"first"});
  Generator<void, int> again(std::move(stack),
                             [](Yielder<void, int>& y) { y.Suspend(2); });
  EXPECT_EQ(again.Resume(), 2);
  EXPECT_EQ(std::move(again).Unwrap().base(), base);
}

TEST(GeneratorTest, AbandonReturnsTheStackWithoutRunningDestructors) {
  std::vector<std::string> log;
  Generator<void, int> g(MustCreateOsStack(), [&](Yielder<void, int>& y) {
    Guard guard{&log, "never"};
    y.Suspend(1);
  });
  g.Resume();
  OsStack stack = std::move(g).Abandon();
  EXPECT_TRUE(log.empty());
  EXPECT_NE(stack.base(), nullptr);
}

TEST(GeneratorTest, MovedGeneratorKeepsRunningWhereItWas) {
  Generator<void, int> g(MustCreateOsStack(), [](Yielder<void, int>& y) {
    for (int i = 0;; ++i) y.Suspend(i);
  });
  EXPECT_EQ(g.Resume(), 0);
  Generator<void, int> moved(std::move(g));
  EXPECT_EQ(moved.Resume(), 1);
  EXPECT_TRUE(g.done());  // NOLINT(bugprone-use-after-move): it is documented.
  Generator<void, int> assigned(MustCreateOsStack(),
                                [](Yielder<void, int>&) {});
  assigned = std::move(moved);
  EXPECT_EQ(assigned.Resume(), 2);
}

TEST(GeneratorTest, RangeForVisitsEveryValue) {
  Generator<void, int> squares(MustCreateOsStack(), [](Yielder<void, int>& y) {
    for (int i = 0; i < 5; ++i) y.Suspend(i * i);
  });
  std::vector<int> got;
  for (int v : squares) got.push_back(v);
  EXPECT_EQ(got, (std::vector<int>{0, 1, 4, 9, 16}));
  EXPECT_TRUE(squares.done());
}

TEST(GeneratorTest, WorksWithRangesAdaptors) {
  using G = Generator<void, int>;
  static_assert(std::ranges::input_range<G>);
  static_assert(std::input_iterator<std::ranges::iterator_t<G>>);
  G naturals(MustCreateOsStack(), [](Yielder<void, int>& y) {
    for (int i = 0;; ++i) y.Suspend(i);
  });
  std::vector<int> got;
  for (int v : naturals | std::views::filter([](int v) { return v % 2; }) |
                   std::views::transform([](int v) { return v * 10; }) |
                   std::views::take(3)) {
    got.push_back(v);
  }
  EXPECT_EQ(got, (std::vector<int>{10, 30, 50}));
}

TEST(GeneratorTest, RangeOfMoveOnlyValues) {
  Generator<void, std::unique_ptr<int>> g(MustCreateOsStack(), [](auto& y) {
    for (int i = 0; i < 3; ++i) y.Suspend(std::make_unique<int>(i));
  });
  int sum = 0;
  for (std::unique_ptr<int>& p : g) sum += *std::move(p);
  EXPECT_EQ(sum, 3);
}

// One generator per subtree, each resuming its children's generators.
struct Tree {
  int value;
  std::unique_ptr<Tree> left, right;
};

std::unique_ptr<Tree> Build(int lo, int hi) {
  if (lo > hi) return nullptr;
  int mid = (lo + hi) / 2;
  return std::make_unique<Tree>(
      Tree{mid, Build(lo, mid - 1), Build(mid + 1, hi)});
}

void WalkInOrder(Yielder<void, int>& y, const Tree* t) {
  if (t == nullptr) return;
  auto walk_child = [&](const Tree* child) {
    Generator<void, int> sub(
        MustCreateOsStack(OsStack::ScaledForSanitizers(16 * 1024)),
        [child](Yielder<void, int>& ys) { WalkInOrder(ys, child); });
    for (int v : sub) y.Suspend(v);
  };
  walk_child(t->left.get());
  y.Suspend(t->value);
  walk_child(t->right.get());
}

TEST(GeneratorTest, NestedGeneratorsWalkATreeInOrder) {
  std::unique_ptr<Tree> tree = Build(1, 100);
  Generator<void, int> walk(MustCreateOsStack(), [&](Yielder<void, int>& y) {
    WalkInOrder(y, tree.get());
  });
  std::vector<int> got;
  for (int v : walk) got.push_back(v);
  std::vector<int> want(100);
  for (int i = 0; i < 100; ++i) want[i] = i + 1;
  EXPECT_EQ(got, want);
}

TEST(GeneratorTest, TenThousandLiveGeneratorsResumedRoundRobin) {
  auto pool = StackPool::Create(OsStack::ScaledForSanitizers(16 * 1024), 16);
  ASSERT_TRUE(pool.ok()) << pool.status();
  std::vector<Generator<long, long, PooledStack>> gens;
#if defined(__SANITIZE_THREAD__)
  // Each generator is a TSan fiber, and TSan caps threads plus fibers at
  // 8128.
  constexpr int kCount = 4000;
#else
  constexpr int kCount = 10000;
#endif
  gens.reserve(kCount);
  for (int i = 0; i < kCount; ++i) {
    auto stack = pool->Acquire();
    ASSERT_TRUE(stack.ok()) << stack.status();
    gens.emplace_back(*std::move(stack),
                      [i](Yielder<long, long>& y, long step) {
                        long total = i;
                        for (;;) total += y.Suspend(total) * step;
                      });
  }
  std::vector<long> expect(kCount);
  for (int round = 0; round < 5; ++round) {
    for (int i = 0; i < kCount; ++i) {
      long in = round == 0 ? (i % 7) + 1 : round;
      std::optional<long> out = gens[i].Resume(in);
      ASSERT_TRUE(out.has_value());
      if (round == 0) {
        expect[i] = i;
      } else {
        expect[i] += round * ((i % 7) + 1);
      }
      ASSERT_EQ(*out, expect[i]) << "generator " << i << " round " << round;
    }
  }
}

TEST(GeneratorTest, FloatingPointValuesLiveAcrossSuspendsOnBothSides) {
  Generator<double, double> g(MustCreateOsStack(), [](auto& y, double x) {
    double a = x * 0.5, b = x * 0.25, c = std::sqrt(x), d = x / 3.0;
    for (int i = 0; i < 100; ++i) {
      double in = y.Suspend(a + b + c + d);
      a += in, b -= in, c *= 1.0, d += 2 * in;
    }
  });
  double p = 1.5, q = 2.5, r = 3.5;
  double first = *g.Resume(16.0);
  EXPECT_DOUBLE_EQ(first, 8.0 + 4.0 + 4.0 + 16.0 / 3.0);
  for (int i = 1; i <= 10; ++i) {
    double out = *g.Resume(1.0);
    p += 1, q += 1, r += 1;
    EXPECT_DOUBLE_EQ(out, first + 2.0 * i);
  }
  EXPECT_DOUBLE_EQ(p + q + r, 37.5);
}

int Recurse(int depth) {
  volatile char pad[64] = {};
  if (depth == 0) return pad[0];
  return Recurse(depth - 1) + 1 + pad[1];
}

// 20,000 frames of Recurse: about 100 bytes each on most CPUs, 240 on
// s390x, whose ABI gives every frame a 160-byte register save area.
constexpr std::size_t kDeepRecursionStack =
#if defined(__s390x__)
    std::size_t{8} << 20;
#else
    std::size_t{4} << 20;
#endif

TEST(GeneratorTest, DeepRecursionInsideTheBody) {
  Generator<int, int> g(
      MustCreateOsStack(OsStack::ScaledForSanitizers(kDeepRecursionStack)),
      [](Yielder<int, int>& y, int n) {
        for (;;) n = y.Suspend(Recurse(n));
      });
  EXPECT_EQ(g.Resume(20000), 20000);
  EXPECT_EQ(g.Resume(10), 10);
}

TEST(GeneratorTest, ResumedFromDifferentThreadsOneAtATime) {
  FRINGE_SKIP_WITHOUT_THREADS();
  // gettid, not std::this_thread::get_id(): glibc declares pthread_self()
  // `const`, so the compiler may reuse its value across a Suspend (see
  // README: thread identity and thread_local addresses in migrating bodies).
  std::vector<long> ids;
  Generator<int, int> g(
      kMigratable, MustCreateOsStack(), [&](Yielder<int, int>& y, int n) {
        for (;;) {
          ids.push_back(syscall(SYS_gettid));
          try {
            throw n;  // Exception machinery on whichever thread runs us.
          } catch (int caught) {
            n = y.Suspend(caught * 2);
          }
        }
      });
  for (int i = 0; i < 8; ++i) {
    std::thread t([&] { EXPECT_EQ(g.Resume(i), i * 2); });
    t.join();
  }
  std::sort(ids.begin(), ids.end());
  EXPECT_EQ(std::unique(ids.begin(), ids.end()) - ids.begin(), 8);
}

TEST(GeneratorTest, UnguardedStacksWorkWhenAskedFor) {
  auto owned = OwnedStack::Create(64 * 1024);
  ASSERT_TRUE(owned.ok());
  Generator<void, int, OwnedStack> g(
      kUnguarded, *std::move(owned),
      [](Yielder<void, int>& y) { y.Suspend(5); });
  EXPECT_EQ(g.Resume(), 5);

  alignas(16) static std::byte memory[32 * 1024];
  auto slice = SliceStack::Create(memory);
  ASSERT_TRUE(slice.ok());
  Generator<void, int, SliceStack> s(
      kUnguarded, *std::move(slice),
      [](Yielder<void, int>& y) { y.Suspend(6); });
  EXPECT_EQ(s.Resume(), 6);
}

extern "C" __attribute__((noinline)) int FringeTestResumeCaller(
    Generator<void, int>& g) {
  int v = *g.Resume();
  asm volatile("");
  return v;
}

TEST(GeneratorTest, BacktraceInsideTheBodyReachesTheCallerOfResume) {
  std::vector<std::string> names;
  Generator<void, int> g(MustCreateOsStack(), [&](Yielder<void, int>& y) {
    void* pcs[64];
    int n = backtrace(pcs, 64);
    for (int i = 0; i < n; ++i) {
      Dl_info info;
      if (dladdr(pcs[i], &info) && info.dli_sname)
        names.push_back(info.dli_sname);
    }
    y.Suspend(1);
  });
  EXPECT_EQ(FringeTestResumeCaller(g), 1);
  EXPECT_NE(std::find(names.begin(), names.end(), "FringeTestResumeCaller"),
            names.end())
      << ::testing::PrintToString(names);
  EXPECT_NE(std::find(names.begin(), names.end(), "main"), names.end())
      << ::testing::PrintToString(names);
}

TEST(GeneratorTest, OneLinerGetsADefaultGuardedStack) {
  Generator<void, int> squares([](Yielder<void, int>& y) {
    for (int i = 0; i < 4; ++i) y.Suspend(i * i);
  });
  std::vector<int> seen;
  for (int v : squares) seen.push_back(v);
  EXPECT_EQ(seen, (std::vector<int>{0, 1, 4, 9}));
  Generator<int, int> migratable(kMigratable, [](Yielder<int, int>& y, int v) {
    for (;;) v = y.Suspend(v + 1);
  });
  EXPECT_EQ(migratable.Resume(1), 2);
}

// The outside review's defects, one property each (issue 11).

TEST(GeneratorTest, IteratorEqualsEndAfterTheBodyThrowsFromIncrement) {
  Generator<void, std::string> g(MustCreateOsStack(), [](auto& y) {
    y.Suspend(std::string(100, 'x'));  // Heap-allocated: ASan sees a reuse.
    throw std::runtime_error("boom");
  });
  auto it = g.begin();
  ASSERT_NE(it, g.end());
  EXPECT_EQ(*it, std::string(100, 'x'));
  EXPECT_THROW(++it, std::runtime_error);
  EXPECT_TRUE(g.done());
  EXPECT_TRUE(it == g.end());
}

TEST(GeneratorTest, BeginThrowsAndTheRangeIsThenEmpty) {
  Generator<void, int> g(MustCreateOsStack(), [](auto&) -> void {
    throw std::runtime_error("at once");
  });
  EXPECT_THROW(g.begin(), std::runtime_error);
  EXPECT_TRUE(g.begin() == g.end());
}

TEST(GeneratorTest, AbandonDestroysTheBodyOfAFinishedGenerator) {
  auto owned = std::make_shared<int>(1);
  Generator<void, int> g(MustCreateOsStack(),
                         [owned](auto& y) { y.Suspend(*owned); });
  EXPECT_EQ(g.Resume(), 1);
  EXPECT_EQ(g.Resume(), std::nullopt);
  EXPECT_EQ(owned.use_count(), 2);
  OsStack stack = std::move(g).Abandon();
  EXPECT_EQ(owned.use_count(), 1);
}

TEST(GeneratorTest, AbandonDestroysTheBodyOfANeverStartedGenerator) {
  auto owned = std::make_shared<int>(1);
  Generator<void, int> g(MustCreateOsStack(),
                         [owned](auto& y) { y.Suspend(*owned); });
  EXPECT_EQ(owned.use_count(), 2);
  OsStack stack = std::move(g).Abandon();
  EXPECT_EQ(owned.use_count(), 1);
}

// pthread_exit() and cancellation unwind the body, finish the generator and
// go on unwinding the resumer on the thread's own stack.
struct ThreadExitProbe {
  bool body_unwound = false;
  bool resumer_unwound = false;
  bool generator_done_while_unwinding = false;
  bool inside = false;
};

struct SetOnDestruction {
  bool* flag;
  ~SetOnDestruction() { *flag = true; }
};

// Declared after the generator, so destroyed before it: sees its state.
struct RecordDoneWhenUnwound {
  Generator<void, int>* g;
  ThreadExitProbe* probe;
  ~RecordDoneWhenUnwound() {
    probe->generator_done_while_unwinding = g->done();
  }
};

// TSan's pthread_exit interceptor checks that the thread is not on a fiber
// ("CHECK failed: ... thr == &cur_thread_placeholder"), and every generator
// is a TSan fiber: thread exit inside a body cannot be run under TSan.
#if defined(__SANITIZE_THREAD__)
#define SKIP_UNDER_TSAN_FIBERS() \
  GTEST_SKIP() << "TSan cannot exit a thread from a fiber"
#else
#define SKIP_UNDER_TSAN_FIBERS()
#endif

void* ExitInsideBody(void* arg) {
  auto* probe = static_cast<ThreadExitProbe*>(arg);
  SetOnDestruction resumer{&probe->resumer_unwound};
  Generator<void, int> g(MustCreateOsStack(), [probe](Yielder<void, int>& y) {
    SetOnDestruction body{&probe->body_unwound};
    y.Suspend(1);
    pthread_exit(reinterpret_cast<void*>(42));
  });
  RecordDoneWhenUnwound check{&g, probe};
  g.Resume();
  g.Resume();  // Exits the thread.
  ADD_FAILURE() << "Resume() returned after pthread_exit in the body";
  return nullptr;
}

TEST(GeneratorTest, PthreadExitInsideTheBodyExitsTheThreadAfterUnwinding) {
  FRINGE_SKIP_WITHOUT_THREADS();
  SKIP_UNDER_TSAN_FIBERS();
  ThreadExitProbe probe;
  pthread_t thread;
  ASSERT_EQ(pthread_create(&thread, nullptr, ExitInsideBody, &probe), 0);
  void* result = nullptr;
  ASSERT_EQ(pthread_join(thread, &result), 0);
  EXPECT_EQ(result, reinterpret_cast<void*>(42));
  EXPECT_TRUE(probe.body_unwound);
  EXPECT_TRUE(probe.resumer_unwound);
  EXPECT_TRUE(probe.generator_done_while_unwinding);
}

void* CancelledInsideBody(void* arg) {
  auto* probe = static_cast<ThreadExitProbe*>(arg);
  SetOnDestruction resumer{&probe->resumer_unwound};
  Generator<void, int> g(MustCreateOsStack(), [probe](Yielder<void, int>&) {
    SetOnDestruction body{&probe->body_unwound};
    __atomic_store_n(&probe->inside, true, __ATOMIC_RELEASE);
    for (;;) {
      pthread_testcancel();
      usleep(1000);
    }
  });
  RecordDoneWhenUnwound check{&g, probe};
  g.Resume();
  ADD_FAILURE() << "Resume() returned after cancellation in the body";
  return nullptr;
}

TEST(GeneratorTest, ThreadCancellationInsideTheBodyUnwindsBothStacks) {
  FRINGE_SKIP_WITHOUT_THREADS();
  SKIP_UNDER_TSAN_FIBERS();
  FRINGE_SKIP_UNDER("qemu-ppc64le",
                    "libgcc cannot unwind out of the signal frames it writes, "
                    "so a cancellation acted on in the SIGCANCEL handler runs "
                    "no destructor (a plain thread's neither)");
  ThreadExitProbe probe;
  pthread_t thread;
  ASSERT_EQ(pthread_create(&thread, nullptr, CancelledInsideBody, &probe), 0);
  while (!__atomic_load_n(&probe.inside, __ATOMIC_ACQUIRE)) usleep(100);
  ASSERT_EQ(pthread_cancel(thread), 0);
  void* result = nullptr;
  ASSERT_EQ(pthread_join(thread, &result), 0);
  EXPECT_EQ(result, PTHREAD_CANCELED);
  EXPECT_TRUE(probe.body_unwound);
  EXPECT_TRUE(probe.resumer_unwound);
  EXPECT_TRUE(probe.generator_done_while_unwinding);
}

// A signal handler runs on whatever stack is current, so the smallest stack
// a generator accepts must hold a signal frame (about 3 KiB with AVX-512
// state) besides the body's frames.
volatile std::sig_atomic_t signal_seen = 0;

TEST(GeneratorTest, SmallestAcceptedStackHoldsASignalFrame) {
#if defined(__SANITIZE_THREAD__)
  GTEST_SKIP() << "TSan delivers signals from its own runtime frames, which "
                  "need far more stack than a plain handler";
#endif
  FRINGE_SKIP_UNDER_EMULATOR(
      "qemu-user writes signal frames of its own layout and size, which "
      "AT_MINSIGSTKSZ does not describe");
  struct sigaction action = {}, old = {};
  action.sa_handler = [](int) { signal_seen = 1; };
  ASSERT_EQ(sigaction(SIGUSR1, &action, &old), 0);
  // [canary | stack]: the stack is the smallest a generator accepts.
  constexpr std::size_t kCanary = 16 * 1024;
  alignas(64) static std::byte memory[kCanary + 64 * 1024];
  std::fill(memory, memory + kCanary, std::byte{0x5a});
  auto body = [](Yielder<void, int>& y) {
    raise(SIGUSR1);
    y.Suspend(1);
  };
  std::size_t size = generator_internal::MinimumStackSize<decltype(body)>();
  auto slice = SliceStack::Create(std::span(memory + kCanary, size));
  ASSERT_TRUE(slice.ok()) << slice.status();
  {
    Generator<void, int, SliceStack> g(kUnguarded, *std::move(slice), body);
    EXPECT_EQ(g.Resume(), 1);
  }
  EXPECT_EQ(signal_seen, 1);
  EXPECT_EQ(std::count(memory, memory + kCanary, std::byte{0x5a}), kCanary)
      << "the signal frame ran below the stack's limit";
  sigaction(SIGUSR1, &old, nullptr);
}

#if defined(__x86_64__) || defined(__i386__)
// The psABI makes MXCSR's control bits and the x87 control word callee-saved:
// each generator keeps its own, like a function call's caller does.
double Third() {
  volatile double one = 1.0, three = 3.0;
  return one / three;
}
int X87Rounding() {
  unsigned short cw;
  asm volatile("fnstcw %0" : "=m"(cw));
  return cw & 0xc00;
}

TEST(GeneratorTest, FloatingPointControlIsPerGenerator) {
  ASSERT_EQ(fegetround(), FE_TONEAREST);
  const double nearest = Third();
  fesetround(FE_UPWARD);
  const double upward = Third();
  fesetround(FE_DOWNWARD);
  const double downward = Third();
  fesetround(FE_TONEAREST);
  ASSERT_NE(nearest, upward);
  ASSERT_NE(upward, downward);

  std::vector<double> seen;
  std::vector<int> modes;
  Generator<void, int> g(MustCreateOsStack(), [&](Yielder<void, int>& y) {
    modes.push_back(fegetround());  // The creator's.
    fesetround(FE_UPWARD);
    seen.push_back(Third());
    y.Suspend(1);
    modes.push_back(fegetround());  // Still ours, whatever the resumer did.
    seen.push_back(Third());
    modes.push_back(X87Rounding());
  });
  fesetround(FE_DOWNWARD);  // Resumed under another mode than created.
  EXPECT_EQ(g.Resume(), 1);
  EXPECT_EQ(fegetround(), FE_DOWNWARD) << "the body's mode leaked out";
  EXPECT_EQ(Third(), downward);
  fesetround(FE_TOWARDZERO);
  EXPECT_EQ(g.Resume(), std::nullopt);
  EXPECT_EQ(fegetround(), FE_TOWARDZERO) << "the body's mode leaked out";
  EXPECT_EQ(X87Rounding(), 0xc00) << "the body's x87 control word leaked out";
  fesetround(FE_TONEAREST);
  ASSERT_EQ(modes.size(), 3u);
  EXPECT_EQ(modes[0], FE_TONEAREST) << "did not start with the creator's";
  EXPECT_EQ(modes[1], FE_UPWARD) << "the resumer's mode leaked in";
  EXPECT_EQ(modes[2], 0x800) << "the resumer's x87 control word leaked in";
  EXPECT_EQ(seen, (std::vector<double>{upward, upward}));
}

TEST(GeneratorTest, NewGeneratorStartsWithItsCreatorsFloatingPointControl) {
  fesetround(FE_TOWARDZERO);
  int mode = -1;
  Generator<void, int> g(MustCreateOsStack(),
                         [&](Yielder<void, int>&) { mode = fegetround(); });
  fesetround(FE_TONEAREST);
  g.Resume();
  EXPECT_EQ(mode, FE_TOWARDZERO);
  EXPECT_EQ(fegetround(), FE_TONEAREST);
}

TEST(GeneratorTest, FloatingPointStatusFlagsAreTheThreads) {
  std::feclearexcept(FE_ALL_EXCEPT);
  Generator<void, int> g(MustCreateOsStack(), [](Yielder<void, int>& y) {
    // Inexact. (The result is kept: an unused quotient is dead code at -O2,
    // and no flag is raised at all.)
    volatile double third = Third();
    (void)third;
    y.Suspend(1);
  });
  g.Resume();
  EXPECT_TRUE(std::fetestexcept(FE_INEXACT)) << "the body's flag was lost";
  std::feclearexcept(FE_ALL_EXCEPT);
}
#endif

// A C library's callback suspends with SuspendOrCancel: breaking out of the
// range cancels the walk the way the library expects (FTW_STOP), so nftw
// closes its directories and frees its memory. (Unwinding its C frames with
// ForcedUnwind instead leaked 9 descriptors and 239 KB in the review.)
int OpenDescriptors() {
  int n = 0;
  for ([[maybe_unused]] const auto& entry :
       std::filesystem::directory_iterator("/proc/self/fd")) {
    ++n;
  }
  return n;
}

Yielder<void, std::string>* nftw_yielder = nullptr;

extern "C" int VisitPath(const char* path, const struct ::stat*, int,
                         struct ::FTW*) {
  return nftw_yielder->SuspendOrCancel(path) ? FTW_CONTINUE : FTW_STOP;
}

TEST(GeneratorTest, SuspendOrCancelStopsAWalkInsideACCallbackCleanly) {
  std::filesystem::path root =
      std::filesystem::path(::testing::TempDir()) / "fringe_nftw";
  std::filesystem::remove_all(root);
  std::filesystem::path deep = root;
  for (int level = 0; level < 8; ++level) {
    deep /= "d" + std::to_string(level);
    std::filesystem::create_directories(deep);
    for (int f = 0; f < 4; ++f) std::ofstream(deep / std::to_string(f));
  }
  const int before = OpenDescriptors();
  int walks_stopped = 0;
  for (int round = 0; round < 50; ++round) {
    Generator<void, std::string> paths(
        MustCreateOsStack(), [&](Yielder<void, std::string>& y) {
          nftw_yielder = &y;
          int result =
              nftw(root.c_str(), VisitPath, 16, FTW_ACTIONRETVAL | FTW_DEPTH);
          if (result == FTW_STOP) ++walks_stopped;
        });
    int taken = 0;
    for (const std::string& path : paths) {
      EXPECT_FALSE(path.empty());
      if (++taken == 20) break;  // Deep inside: 8 directories open.
    }
    EXPECT_EQ(taken, 20);
  }
  EXPECT_EQ(walks_stopped, 50);
  EXPECT_EQ(OpenDescriptors(), before) << "nftw's directories leaked";
  std::filesystem::remove_all(root);
}

// Misuse dies with one line naming the mistake.
void ResumeFromOwnBody() {
  Generator<void, int>* self = nullptr;
  Generator<void, int> g(MustCreateOsStack(),
                         [&](Yielder<void, int>&) { self->Resume(); });
  self = &g;
  g.Resume();
}

TEST(GeneratorDeathTest, ResumingFromInsideItsOwnBodyAborts) {
  EXPECT_DEATH(ResumeFromOwnBody(),
               "fringe: Generator::Resume\\(\\) called on a running generator");
}

void ResumeFromSecondThread() {
  std::atomic<bool> inside{false}, release{false};
  Generator<void, int> g(MustCreateOsStack(), [&](Yielder<void, int>& y) {
    inside = true;
    while (!release) std::this_thread::yield();
    y.Suspend(1);
  });
  std::thread runner([&] { g.Resume(); });
  while (!inside) std::this_thread::yield();
  g.Resume();  // While `runner` is inside the body.
  release = true;
  runner.join();
}

TEST(GeneratorDeathTest, ResumingFromASecondThreadWhileRunningAborts) {
  FRINGE_SKIP_WITHOUT_THREADS();
  EXPECT_DEATH(ResumeFromSecondThread(),
               "fringe: Generator::Resume\\(\\) called on a running generator");
}

void SwallowForcedUnwind() {
  Generator<void, int> g(MustCreateOsStack(), [](Yielder<void, int>& y) {
    for (;;) {
      try {
        y.Suspend(1);
      } catch (...) {
        // Swallowed: wrong.
      }
    }
  });
  g.Resume();
}

TEST(GeneratorDeathTest, SwallowingForcedUnwindAborts) {
  EXPECT_DEATH(
      SwallowForcedUnwind(),
      "fringe: Generator: the body kept running after fringe::ForcedUnwind");
}

template <std::size_t kBytes>
void CreateOnStackOf() {
  alignas(16) static std::byte memory[kBytes];
  Generator<void, int, SliceStack> g(
      kUnguarded, *SliceStack::Create(memory),
      [](Yielder<void, int>& y) { y.Suspend(1); });
}

TEST(GeneratorDeathTest, StackTooSmallAborts) {
  EXPECT_DEATH(CreateOnStackOf<128>(),
               "fringe: Generator: the stack is too small");
}

// Resumed from another thread than the first resume's: errno, thread_local
// and pthread_self() in the body may refer to the first thread.
void ResumeFromAnotherThread() {
  Generator<void, int> g(MustCreateOsStack(), [](Yielder<void, int>& y) {
    for (;;) y.Suspend(errno);
  });
  g.Resume();
  std::thread([&] { g.Resume(); }).join();
}

TEST(GeneratorDeathTest, ResumingAPinnedGeneratorFromAnotherThreadAborts) {
  FRINGE_SKIP_WITHOUT_THREADS();
  EXPECT_DEATH(ResumeFromAnotherThread(),
               "fringe: .*another thread.*fringe::kMigratable");
}

// Suspended inside a destructor: the unwind would throw out of it.
void DestroySuspendedInsideADestructor() {
  auto* g =
      new Generator<void, int>(MustCreateOsStack(), [](Yielder<void, int>& y) {
        struct SuspendsWhenDestroyed {
          Yielder<void, int>* y;
          ~SuspendsWhenDestroyed() { y->Suspend(2); }
        };
        SuspendsWhenDestroyed s{&y};
        y.Suspend(1);
      });
  g->Resume();  // 1
  g->Resume();  // 2, from the destructor.
  delete g;
}

TEST(GeneratorDeathTest,
     DestroyingAGeneratorSuspendedInADestructorNamesAbandon) {
  EXPECT_DEATH(DestroySuspendedInsideADestructor(),
               "fringe: .*cannot be unwound.*Abandon\\(\\)");
}

// Suspended below a noexcept function: the unwind would leave it.
void SuspendBelowNoexcept(Yielder<void, int>& y) noexcept { y.Suspend(1); }

void DestroySuspendedBelowNoexcept() {
  Generator<void, int> g(MustCreateOsStack(), [](Yielder<void, int>& y) {
    SuspendBelowNoexcept(y);
  });
  g.Resume();
}

TEST(GeneratorDeathTest,
     DestroyingAGeneratorSuspendedBelowNoexceptNamesAbandon) {
  EXPECT_DEATH(DestroySuspendedBelowNoexcept(),
               "fringe: .*cannot be unwound.*Abandon\\(\\)");
}

TEST(GeneratorDeathTest, StackTooSmallForASignalFrameAbortsSayingTheSizes) {
  EXPECT_DEATH(CreateOnStackOf<1024>(),
               "fringe: Generator: the stack is too small: 1024 bytes, "
               "[0-9]+ needed");
}

#if defined(__SANITIZE_THREAD__)
// Generators are TSan fibers: switches are not synchronisation, so a real
// race on data a body touches is still reported.
void RaceOnBodyData() {
  int shared = 0;
  Generator<void, int> g(MustCreateOsStack(), [&](Yielder<void, int>& y) {
    for (;;) y.Suspend(++shared);
  });
  std::thread runner([&] { g.Resume(); });
  shared = 5;  // Unsynchronised with the body's write on `runner`.
  runner.join();
}

TEST(GeneratorDeathTest, ThreadSanitizerStillReportsRealRacesInBodies) {
  EXPECT_DEATH(RaceOnBodyData(), "ThreadSanitizer: data race");
}
#endif

// Stack colouring (generator/internal/control.h): generators on a pool's
// stacks, whose tops all sit at the same offset in a page, start their
// frames at different offsets, so that the hot lines of many live generators
// spread over the L1 cache's sets instead of sharing a few.
TEST(GeneratorTest, FramesOfPooledGeneratorsStartAtDifferentCacheLines) {
  constexpr int kCount = 64;
  StackPool pool = test_stacks::MustCreatePool(16 * 1024, kCount);
  std::vector<Generator<void, std::size_t, PooledStack>> gens;
  std::vector<std::size_t> lines;
  for (int i = 0; i < kCount; ++i) {
    gens.emplace_back(test_stacks::MustAcquire(pool),
                      [](Yielder<void, std::size_t>& y) {
                        // limit() is page-aligned: this is the frame's
                        // offset in its page, in cache lines.
                        y.Suspend(y.RemainingStack() % 4096 / 64);
                      });
    lines.push_back(*gens.back().Resume());
  }
  std::sort(lines.begin(), lines.end());
  const auto distinct = std::unique(lines.begin(), lines.end()) - lines.begin();
  EXPECT_GE(distinct, 12) << "frames of " << kCount
                          << " pooled generators start in only " << distinct
                          << " different cache lines of their pages";
}

}  // namespace
}  // namespace fringe

#if defined(__SANITIZE_THREAD__)
// Any report fails the test binary, not just this file's deliberate race.
extern "C" const char* __tsan_default_options() { return "halt_on_error=1"; }
#endif
