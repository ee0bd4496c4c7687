// fringe's generator contract on Windows, where generators run on fibers
// (fringe/arch/windows_fiber.h, fringe/stack/internal/fiber_stack.h).
// Runs under Wine in this repository's CI (--config=windows).

#include <windows.h>

#include <cstdint>
#include <cstring>
#include <exception>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "fringe/generator/generator.h"
#include "fringe/stack/os_stack.h"
#include "fringe/stack/stack_pool.h"
#include "gtest/gtest.h"

namespace fringe {
namespace {

OsStack NewStack(std::size_t size = OsStack::DefaultSize()) {
  absl::StatusOr<OsStack> stack = OsStack::Create(size);
  EXPECT_TRUE(stack.ok()) << stack.status();
  return *std::move(stack);
}

TEST(WindowsGeneratorTest, IteratesOnAFiber) {
  void* caller_fiber = nullptr;
  void* body_fiber = nullptr;
  Generator<void, int> squares(NewStack(), [&](Yielder<void, int>& y) {
    body_fiber = GetCurrentFiber();
    for (int i = 0; i < 5; ++i) y.Suspend(i * i);
  });
  std::vector<int> seen;
  for (int v : squares) seen.push_back(v);
  caller_fiber = GetCurrentFiber();
  EXPECT_EQ(seen, (std::vector<int>{0, 1, 4, 9, 16}));
  EXPECT_TRUE(squares.done());
  EXPECT_TRUE(IsThreadAFiber()) << "fringe converts the resuming thread";
  // And leaves it converted (README, "Windows"): its owner cannot convert it
  // again.
  EXPECT_EQ(ConvertThreadToFiber(nullptr), nullptr);
  EXPECT_EQ(GetLastError(), DWORD{ERROR_ALREADY_FIBER});
  EXPECT_NE(body_fiber, nullptr);
  EXPECT_NE(body_fiber, caller_fiber);
}

TEST(WindowsGeneratorTest, RunsOnTheStacksMemoryAndTheTibSaysSo) {
  OsStack stack = NewStack();
  const auto limit = reinterpret_cast<std::uintptr_t>(stack.limit());
  const auto base = reinterpret_cast<std::uintptr_t>(stack.base());
  Generator<void, bool> g(std::move(stack), [&](auto& y) {
    int local = 0;
    auto here = reinterpret_cast<std::uintptr_t>(&local);
    auto* tib = reinterpret_cast<NT_TIB*>(NtCurrentTeb());
    y.Suspend(limit <= here && here < base &&
              reinterpret_cast<std::uintptr_t>(tib->StackLimit) <= here &&
              here < reinterpret_cast<std::uintptr_t>(tib->StackBase));
  });
  EXPECT_EQ(g.Resume(), std::optional<bool>(true));
}

TEST(WindowsGeneratorTest, ValuesBothWaysAndMoveOnly) {
  Generator<std::unique_ptr<int>, std::unique_ptr<int>> doubler(
      NewStack(), [](auto& y, std::unique_ptr<int> first) {
        std::unique_ptr<int> in = std::move(first);
        for (;;) in = y.Suspend(std::make_unique<int>(*in * 2));
      });
  for (int i = 1; i < 50; ++i) {
    std::optional<std::unique_ptr<int>> out =
        doubler.Resume(std::make_unique<int>(i));
    ASSERT_TRUE(out.has_value());
    EXPECT_EQ(**out, 2 * i);
  }
}

TEST(WindowsGeneratorTest, ExceptionEscapesIntoResume) {
  Generator<void, int> g(NewStack(), [](auto& y) {
    y.Suspend(1);
    throw std::runtime_error("from the body");
  });
  EXPECT_EQ(g.Resume(), std::optional<int>(1));
  try {
    g.Resume();
    ADD_FAILURE() << "no exception";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "from the body");
  }
  EXPECT_TRUE(g.done());
  EXPECT_EQ(g.Resume(), std::nullopt);
}

// MinGW's libstdc++ keeps __cxa_eh_globals per thread, not per fiber, so
// without fringe's ExceptionState a body suspended in a catch block would
// hand its caught exception to the resumer.
TEST(WindowsGeneratorTest, SuspendingInsideCatchKeepsEachSidesException) {
  Generator<void, int> g(NewStack(), [](auto& y) {
    try {
      throw 7;
    } catch (int) {
      y.Suspend(std::uncaught_exceptions());
      EXPECT_NE(std::current_exception(), nullptr);
      try {
        throw;
      } catch (int seven) {
        y.Suspend(seven);
      }
    }
  });
  EXPECT_EQ(std::current_exception(), nullptr);
  EXPECT_EQ(g.Resume(), std::optional<int>(0));
  EXPECT_EQ(std::current_exception(), nullptr)
      << "the body's caught exception leaked into the resumer";
  try {
    throw std::string("resumer's");
  } catch (const std::string&) {
    EXPECT_EQ(g.Resume(), std::optional<int>(7));
    try {
      throw;
    } catch (const std::string& mine) {
      EXPECT_EQ(mine, "resumer's");
    }
  }
  EXPECT_FALSE(g.Resume().has_value());
}

struct Counted {
  explicit Counted(int* count) : count(count) {}
  ~Counted() { ++*count; }
  int* count;
};

TEST(WindowsGeneratorTest, DestroyingASuspendedGeneratorUnwindsItOnce) {
  int destroyed = 0;
  {
    Generator<void, int> g(NewStack(), [&](auto& y) {
      Counted a(&destroyed);
      for (int i = 0;; ++i) {
        Counted b(&destroyed);
        y.Suspend(i);
      }
    });
    EXPECT_EQ(g.Resume(), std::optional<int>(0));
    EXPECT_EQ(g.Resume(), std::optional<int>(1));
    EXPECT_EQ(destroyed, 1);  // The first b.
  }
  EXPECT_EQ(destroyed, 3);  // The second b, then a.
}

TEST(WindowsGeneratorTest, UnwrapUnwindsAndTheStackRunsTheNextGenerator) {
  int destroyed = 0;
  Generator<void, int> first(NewStack(), [&](auto& y) {
    Counted c(&destroyed);
    for (;;) y.Suspend(1);
  });
  EXPECT_EQ(first.Resume(), std::optional<int>(1));
  OsStack stack = std::move(first).Unwrap();
  EXPECT_EQ(destroyed, 1);
  for (int round = 0; round < 3; ++round) {
    // A bigger body object each time: the control block grows into memory
    // below the one before.
    std::vector<char> big(200 * (round + 1), 'x');
    struct Big {
      char bytes[2048];
    } capture{};
    capture.bytes[0] = static_cast<char>(round);
    Generator<void, int> next(std::move(stack), [&big, capture](auto& y) {
      y.Suspend(capture.bytes[0] + static_cast<int>(big.size()));
    });
    EXPECT_EQ(next.Resume(), std::optional<int>(round + 200 * (round + 1)));
    stack = std::move(next).Unwrap();
  }
}

TEST(WindowsGeneratorTest, DestroyingCancelsSuspendOrCancel) {
  bool cancelled = false;
  {
    Generator<void, int> g(NewStack(), [&](auto& y) {
      while (y.SuspendOrCancel(1)) {
      }
      cancelled = true;
    });
    EXPECT_EQ(g.Resume(), std::optional<int>(1));
  }
  EXPECT_TRUE(cancelled);
}

void ReuseAbandonedStack() {
  Generator<void, int> g(NewStack(), [](auto& y) {
    for (;;) y.Suspend(1);
  });
  g.Resume();
  OsStack stack = std::move(g).Abandon();
  Generator<void, int> again(std::move(stack), [](auto& y) { y.Suspend(2); });
}

TEST(WindowsGeneratorTest, AbandonedStackRefusesAnotherGenerator) {
  EXPECT_DEATH(ReuseAbandonedStack(),
               "fringe: Generator: this stack's fiber is still inside the "
               "generator");
}

void ResumeFromOwnBody() {
  Generator<void, int>* self = nullptr;
  Generator<void, int> g(NewStack(), [&](auto&) { self->Resume(); });
  self = &g;
  g.Resume();
}

TEST(WindowsGeneratorTest, ResumingFromItsOwnBodyAborts) {
  EXPECT_DEATH(ResumeFromOwnBody(),
               "fringe: Generator::Resume\\(\\) called on a running "
               "generator");
}

void ResumeOnSecondThread() {
  Generator<void, int> g(NewStack(), [](auto& y) {
    for (;;) y.Suspend(1);
  });
  g.Resume();
  std::thread([&] { g.Resume(); }).join();
}

TEST(WindowsGeneratorTest, PinnedToTheFirstThread) {
  EXPECT_DEATH(ResumeOnSecondThread(),
               "fringe: Generator resumed .* on another thread");
}

TEST(WindowsGeneratorTest, MigratableRunsOnEachThreadInTurn) {
  Generator<void, DWORD> g(kMigratable, NewStack(), [](auto& y) {
    for (;;) {
      try {
        throw GetCurrentThreadId();
      } catch (DWORD id) {
        y.Suspend(id);
      }
    }
  });
  for (int i = 0; i < 8; ++i) {
    DWORD seen = 0;
    DWORD mine = 0;
    std::thread([&] {
      mine = GetCurrentThreadId();
      seen = *g.Resume();
      EXPECT_EQ(std::current_exception(), nullptr);
    }).join();
    EXPECT_EQ(seen, mine);
  }
}

TEST(WindowsGeneratorTest, NestedGenerators) {
  Generator<void, int> outer(NewStack(), [](auto& y) {
    Generator<void, int> inner(NewStack(), [](auto& yi) {
      for (int i = 0; i < 3; ++i) yi.Suspend(i);
    });
    for (int v : inner) y.Suspend(10 + v);
  });
  std::vector<int> seen;
  for (int v : outer) seen.push_back(v);
  EXPECT_EQ(seen, (std::vector<int>{10, 11, 12}));
}

TEST(WindowsGeneratorTest, StackPoolReusesFibers) {
  absl::StatusOr<StackPool> pool = StackPool::Create(64 << 10, 4);
  ASSERT_TRUE(pool.ok()) << pool.status();
  std::vector<void*> fibers;
  for (int i = 0; i < 20; ++i) {
    absl::StatusOr<PooledStack> stack = pool->Acquire();
    ASSERT_TRUE(stack.ok()) << stack.status();
    EXPECT_EQ(stack->size(), std::size_t{64} << 10);
    Generator<void, void*, PooledStack> g(
        *std::move(stack), [](auto& y) { y.Suspend(GetCurrentFiber()); });
    fibers.push_back(*g.Resume());
  }
  for (void* fiber : fibers) EXPECT_EQ(fiber, fibers[0]);
  EXPECT_EQ(pool->NumCached(), 1u);
}

TEST(WindowsGeneratorTest, InvalidSizesAreErrors) {
  absl::StatusOr<OsStack> zero = OsStack::Create(0);
  EXPECT_EQ(zero.status().code(), absl::StatusCode::kInvalidArgument);
  absl::StatusOr<OsStack> no_guard = OsStack::Create(4096, 0);
  EXPECT_EQ(no_guard.status().code(), absl::StatusCode::kInvalidArgument);
  absl::StatusOr<OsStack> huge = OsStack::Create(SIZE_MAX);
  EXPECT_EQ(huge.status().code(), absl::StatusCode::kInvalidArgument);
  absl::StatusOr<StackPool> pool = StackPool::Create(0, 4);
  EXPECT_EQ(pool.status().code(), absl::StatusCode::kInvalidArgument);
  absl::StatusOr<OsStack> ok = OsStack::Create(100000);
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->size(), std::size_t{102400});  // Whole pages.
}

[[gnu::noinline]] int Recurse(int depth) {
  volatile char frame[512];
  frame[0] = static_cast<char>(depth);
  return depth > 1000000 ? frame[0] : Recurse(depth + 1) + frame[0];
}

constexpr int kOverflowExitCode = 42;

LONG WINAPI ExitOnStackOverflow(EXCEPTION_POINTERS* info) {
  if (info->ExceptionRecord->ExceptionCode == EXCEPTION_STACK_OVERFLOW) {
    TerminateProcess(GetCurrentProcess(), kOverflowExitCode);
  }
  return EXCEPTION_CONTINUE_SEARCH;
}

void Overflow() {
  AddVectoredExceptionHandler(1, &ExitOnStackOverflow);
  Generator<void, int> g(NewStack(), [](auto& y) { y.Suspend(Recurse(0)); });
  g.Resume();
}

// Windows guards a fiber's stack itself: overflowing it raises
// EXCEPTION_STACK_OVERFLOW (rather than writing to whatever lies below).
TEST(WindowsGeneratorTest, StackOverflowRaisesStackOverflow) {
  EXPECT_EXIT(Overflow(), ::testing::ExitedWithCode(kOverflowExitCode), "");
}

}  // namespace
}  // namespace fringe
