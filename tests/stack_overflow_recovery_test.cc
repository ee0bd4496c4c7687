// Recoverable stack overflow (InstallStackOverflowHandler({.recover = true}))
// and the tools for small stacks: Yielder::OnResumerStack and
// Yielder::RemainingStack.

#include <dlfcn.h>
#include <execinfo.h>

#include <algorithm>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "fringe/debug/stack_overflow.h"
#include "fringe/generator/generator.h"
#include "fringe/stack/os_stack.h"
#include "fringe/stack/stack_pool.h"
#include "gtest/gtest.h"
#include "tests/emulation.h"
#include "tests/stack_helpers.h"

namespace fringe {
namespace {

// Recursion without end, 1 KiB a frame, written from the top: it walks
// down page by page until it touches the guard.
__attribute__((noinline)) int RecurseForever(int depth) {
  volatile char frame[1024];
  frame[0] = static_cast<char>(depth);
  return RecurseForever(depth + 1) + frame[0];
}

void InstallRecovering() {
  absl::Status status = InstallStackOverflowHandler({.recover = true});
  ASSERT_TRUE(status.ok()) << status;
}

int CountLines(const char* path) {
  std::ifstream in(path);
  return static_cast<int>(std::count(std::istreambuf_iterator<char>(in),
                                     std::istreambuf_iterator<char>(), '\n'));
}

long ResidentKiB() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

template <typename S>
void OverflowOnce(S stack) {
  Generator<void, int, S> g(std::move(stack), [](Yielder<void, int>& y) {
    y.Suspend(1);
    RecurseForever(0);
  });
  EXPECT_EQ(g.Resume(), 1);
#if defined(__cpp_exceptions)
  try {
    g.Resume();
    ADD_FAILURE() << "Resume() returned after an overflow";
  } catch (const StackOverflow& e) {
    EXPECT_NE(std::strstr(e.what(), "overflowed its stack"), nullptr)
        << e.what();
  }
#else
  EXPECT_EQ(g.Resume(), std::nullopt);  // And overflowed() says why.
#endif
  EXPECT_TRUE(g.overflowed());
  EXPECT_TRUE(g.done());
  EXPECT_EQ(g.Resume(), std::nullopt);
}

TEST(StackOverflowRecoveryTest, OverflowOnAnOsStackEndsTheGeneratorOnly) {
  InstallRecovering();
  OverflowOnce(*OsStack::Create(OsStack::ScaledForSanitizers(64 * 1024)));
}

TEST(StackOverflowRecoveryTest, OverflowOnAPooledStackEndsTheGeneratorOnly) {
  InstallRecovering();
  StackPool pool =
      test_stacks::MustCreatePool(OsStack::ScaledForSanitizers(32 * 1024), 4);
  OverflowOnce(test_stacks::MustAcquire(pool));
}

TEST(StackOverflowRecoveryTest, ThousandsOfOverflowsLeakNoMappingOrMemory) {
  InstallRecovering();
  StackPool pool =
      test_stacks::MustCreatePool(OsStack::ScaledForSanitizers(32 * 1024), 8);
  // A generator suspended meanwhile must come through untouched.
  std::vector<int> seen;
  Generator<void, int> bystander(
      *OsStack::Create(OsStack::ScaledForSanitizers(64 * 1024)),
      [](Yielder<void, int>& y) {
        // Destroyable without exceptions too.
        for (int i = 0; y.SuspendOrCancel(i); ++i) {
        }
      });
  seen.push_back(*bystander.Resume());
  // Warm up (first mappings, the registry's table), then measure.
  for (int i = 0; i < 20; ++i) {
    OverflowOnce(test_stacks::MustAcquire(pool));
    OverflowOnce(*OsStack::Create(OsStack::ScaledForSanitizers(64 * 1024)));
  }
  const int maps_before = CountLines("/proc/self/maps");
  const long rss_before = ResidentKiB();
  constexpr int kRounds = 1000;
  for (int i = 0; i < kRounds; ++i) {
    OverflowOnce(test_stacks::MustAcquire(pool));
    OverflowOnce(*OsStack::Create(OsStack::ScaledForSanitizers(64 * 1024)));
    if (i % 100 == 0) seen.push_back(*bystander.Resume());
  }
  EXPECT_LE(CountLines("/proc/self/maps"), maps_before + 2)
      << "mappings leaked over " << 2 * kRounds << " overflows";
  EXPECT_LT(ResidentKiB() - rss_before, 8 * 1024)
      << "resident memory grew over " << 2 * kRounds << " overflows";
  for (std::size_t i = 0; i < seen.size(); ++i) EXPECT_EQ(seen[i], int(i));
}

TEST(StackOverflowRecoveryTest, WorksOnEveryThreadThatInstalledTheHandler) {
  FRINGE_SKIP_WITHOUT_THREADS();
  std::thread([] {
    InstallRecovering();
    for (int i = 0; i < 10; ++i) {
      OverflowOnce(*OsStack::Create(OsStack::ScaledForSanitizers(64 * 1024)));
    }
  }).join();
}

TEST(StackOverflowRecoveryTest, SmallerGuardsRecoverToo) {
  InstallRecovering();
  OverflowOnce(*OsStack::Create(OsStack::ScaledForSanitizers(64 * 1024),
                                /*guard_size=*/4096));
}

// The handler's other cases behave as before.
void WildWriteOutsideAnyStack() {
  InstallRecovering();
  Generator<void, int> g(
      *OsStack::Create(OsStack::ScaledForSanitizers(64 * 1024)),
      [](Yielder<void, int>&) { *reinterpret_cast<volatile int*>(16) = 1; });
  g.Resume();
}

TEST(StackOverflowRecoveryDeathTest, AFaultOutsideAnyGuardStillKills) {
  EXPECT_DEATH(WildWriteOutsideAnyStack(), "");
}

void OverflowWithoutRecovery() {
  ASSERT_TRUE(InstallStackOverflowHandler().ok());
  Generator<void, int> g(
      *OsStack::Create(OsStack::ScaledForSanitizers(64 * 1024)),
      [](Yielder<void, int>&) { RecurseForever(0); });
  g.Resume();
}

TEST(StackOverflowRecoveryDeathTest, WithoutRecoverAnOverflowStillKills) {
  EXPECT_DEATH(OverflowWithoutRecovery(),
               "fringe: stack overflow in generator");
}

// ---- OnResumerStack and RemainingStack --------------------------------

__attribute__((noinline)) std::size_t UseOneMebibyte() {
  volatile char big[1 << 20];
  std::memset(const_cast<char*>(big), 1, sizeof big);
  return sizeof big + big[12345] - 1;
}

TEST(OnResumerStackTest, RunsAOneMebibyteFrameFromABodyOnA32KiBStack) {
  Generator<void, std::size_t> g(
      *OsStack::Create(OsStack::ScaledForSanitizers(32 * 1024)),
      [](Yielder<void, std::size_t>& y) {
        ASSERT_LT(y.RemainingStack(), OsStack::ScaledForSanitizers(32 * 1024));
        y.Suspend(y.OnResumerStack(UseOneMebibyte));
      });
  EXPECT_EQ(g.Resume(), std::size_t{1} << 20);
  EXPECT_EQ(g.Resume(), std::nullopt);  // Finished: destroyable anywhere.
}

#if defined(__cpp_exceptions)
TEST(OnResumerStackTest, ExceptionsFromFPropagateIntoTheBody) {
  std::string caught;
  Generator<void, int> g(
      *OsStack::Create(OsStack::ScaledForSanitizers(64 * 1024)),
      [&](Yielder<void, int>& y) {
        try {
          y.OnResumerStack([]() -> int { throw std::runtime_error("from f"); });
        } catch (const std::runtime_error& e) {
          caught = e.what();
        }
        y.Suspend(7);
      });
  EXPECT_EQ(g.Resume(), 7);
  EXPECT_EQ(caught, "from f");
}
#endif

TEST(OnResumerStackTest, MoveOnlyResultsAndVoid) {
  Generator<void, int> g(
      *OsStack::Create(OsStack::ScaledForSanitizers(64 * 1024)),
      [](Yielder<void, int>& y) {
        int ran = 0;
        y.OnResumerStack([&] { ++ran; });
        auto p = y.OnResumerStack([] { return std::make_unique<int>(41); });
        y.Suspend(*p + ran);
      });
  EXPECT_EQ(g.Resume(), 42);
  EXPECT_EQ(g.Resume(), std::nullopt);  // Finished: destroyable anywhere.
}

extern "C" __attribute__((noinline)) int FringeTestOnResumerStackCaller(
    Generator<void, int>& g) {
  int v = *g.Resume();
  asm volatile("");
  return v;
}

TEST(OnResumerStackTest, BacktracesInsideFReachMain) {
  std::vector<std::string> names;
  Generator<void, int> g(
      *OsStack::Create(OsStack::ScaledForSanitizers(64 * 1024)),
      [&](Yielder<void, int>& y) {
        y.OnResumerStack([&] {
          void* pcs[128];
          int n = backtrace(pcs, 128);
          for (int i = 0; i < n; ++i) {
            Dl_info info;
            if (dladdr(pcs[i], &info) && info.dli_sname)
              names.push_back(info.dli_sname);
          }
        });
        y.Suspend(1);
      });
  EXPECT_EQ(FringeTestOnResumerStackCaller(g), 1);
  EXPECT_EQ(g.Resume(), std::nullopt);  // Finished: destroyable anywhere.
  EXPECT_NE(
      std::find(names.begin(), names.end(), "FringeTestOnResumerStackCaller"),
      names.end())
      << ::testing::PrintToString(names);
  EXPECT_NE(std::find(names.begin(), names.end(), "main"), names.end())
      << ::testing::PrintToString(names);
}

__attribute__((noinline)) std::size_t RemainingAt(Yielder<void, int>& y,
                                                  int depth) {
  volatile char frame[512];
  frame[0] = 0;
  if (depth == 0) return y.RemainingStack() + frame[0];
  return RemainingAt(y, depth - 1) + frame[0];
}

TEST(RemainingStackTest, ShrinksAsTheBodyGoesDeeper) {
  std::size_t shallow = 0, deep = 0;
  const std::size_t size = OsStack::ScaledForSanitizers(64 * 1024);
  Generator<void, int> g(*OsStack::Create(size), [&](Yielder<void, int>& y) {
    shallow = RemainingAt(y, 0);
    deep = RemainingAt(y, 20);
  });
  g.Resume();
  EXPECT_LT(shallow, size);
  EXPECT_GT(shallow, size / 2);
  EXPECT_GE(shallow - deep, 20 * 512u);
}

// ---- Sizing: StackHighWater and ScaledForSanitizers ---------------------

__attribute__((noinline)) int Descend(Yielder<void, int>& y, int depth) {
  volatile char frame[1024];
  frame[0] = 1;
  if (depth == 0) {
    y.Suspend(1);
    return frame[0];
  }
  return Descend(y, depth - 1) + frame[0];
}

TEST(StackHighWaterTest, MeasuresHowDeepTheBodyWentOnAFreshStack) {
  const std::size_t size = OsStack::ScaledForSanitizers(64 * 1024);
  Generator<void, int> shallow(*OsStack::Create(size),
                               [](Yielder<void, int>& y) { y.Suspend(1); });
  Generator<void, int> deep(*OsStack::Create(size),
                            [](Yielder<void, int>& y) { Descend(y, 24); });
  EXPECT_EQ(shallow.StackHighWater(), shallow.StackHighWater());
  // Before it ever ran: fringe's control block and first frame only, below
  // the stack's colour (at most 15 cache lines; generator/internal/control.h)
  // and the control block's placement in its line (less than one more).
  EXPECT_LT(shallow.StackHighWater(), 512u + 16 * 64);
  EXPECT_EQ(shallow.Resume(), 1);
  EXPECT_EQ(deep.Resume(), 1);
  EXPECT_LT(shallow.StackHighWater(), 8 * 1024u);
  EXPECT_GE(deep.StackHighWater(), 24 * 1024u);
  EXPECT_LT(deep.StackHighWater(), size);
  EXPECT_EQ(deep.Resume(), std::nullopt);
  EXPECT_GE(deep.StackHighWater(), 24 * 1024u) << "it is a high-water mark";
  EXPECT_EQ(shallow.Resume(), std::nullopt);
}

TEST(StackHighWaterTest, ScaledForSanitizersMatchesTheDefaultSize) {
  EXPECT_EQ(OsStack::ScaledForSanitizers(64 * 1024), OsStack::DefaultSize());
}

}  // namespace
}  // namespace fringe
