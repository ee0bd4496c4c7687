// Guard size (issue 11, item 8): a frame bigger than what is left of its stack
// plus one page used to jump a one-page guard and land in the neighbouring
// stack. Every fringe guard is now kDefaultGuardSize; these tests show the
// big frame traps in it, on pooled and OS stacks, and check guard_size's
// validation.

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "fringe/generator/generator.h"
#include "fringe/stack/os_stack.h"
#include "fringe/stack/stack.h"
#include "fringe/stack/stack_pool.h"
#include "gtest/gtest.h"
#include "tests/guard_frames.h"
#include "tests/stack_helpers.h"

namespace fringe {
namespace {

using test_guards::DescendThenStoreToBigFrame;
using test_guards::kBigFrame;
using test_guards::kRoomLeft;

const std::size_t kPage = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));

// The frame's first store lands between kBigFrame - kRoomLeft and kBigFrame
// bytes below limit() (plus the few bytes of its caller's frame): inside the
// default guard, and past a one-page one.
static_assert(kBigFrame <= kDefaultGuardSize / 2);
static_assert(kBigFrame - kRoomLeft > 4096);

std::uintptr_t Address(const void* p) {
  return reinterpret_cast<std::uintptr_t>(p);
}

// How a process whose store hit a guard ends. ThreadSanitizer intercepts the
// signal and exits instead (not with the codes ExpectNeighbourUntouched uses).
std::function<bool(int)> DiesOfSegv() {
#if defined(__SANITIZE_THREAD__)
  return [](int status) {
    return !(WIFEXITED(status) && WEXITSTATUS(status) <= 2);
  };
#else
  return ::testing::KilledBySignal(SIGSEGV);
#endif
}

constexpr unsigned char kPattern = 0xA5;

// A stack's usable bytes as a byte range.
struct Range {
  unsigned char* begin;
  unsigned char* end;
};
template <typename S>
Range RangeOf(const S& stack) {
  return {static_cast<unsigned char*>(stack.limit()),
          static_cast<unsigned char*>(stack.base())};
}

// Runs a generator on `stack` whose body enters the big frame near the
// stack's limit. Returns the address the frame's first store went to, when
// it did not trap. (The body finishes without suspending, so that the
// generator can be destroyed in -fno-exceptions builds too.)
template <typename S>
std::uintptr_t RunBigFrameNearLimit(S stack) {
  void* limit = stack.limit();
  std::uintptr_t landed = 0;
  Generator<void, int, S> body(std::move(stack), [limit, &landed](auto&) {
    landed = Address(DescendThenStoreToBigFrame(limit));
  });
  body.Resume();
  return landed;
}

// In the death test's child, after a big frame that did not trap: says where
// its store went and exits 1 (into the neighbour) or 2 (elsewhere).
[[noreturn]] void ReportWhereTheStoreLanded(std::uintptr_t landed,
                                            const void* limit,
                                            Range neighbour) {
  std::size_t changed = 0;
  for (unsigned char* p = neighbour.begin; p != neighbour.end; ++p) {
    changed += *p != kPattern;
  }
  const bool inside =
      landed >= Address(neighbour.begin) && landed < Address(neighbour.end);
  std::fprintf(stderr,
               "the %zu-byte frame's first store did not trap: it landed %zu "
               "bytes below limit(), %s; %zu of the neighbouring stack's bytes "
               "changed\n",
               kBigFrame, static_cast<std::size_t>(Address(limit) - landed),
               inside ? "inside the neighbouring stack" : "outside it",
               changed);
  std::_Exit(inside ? 1 : 2);
}

template <typename S>
void ExpectBigFrameTrapsWithoutTouching(S stack, Range neighbour) {
  std::memset(neighbour.begin, kPattern, neighbour.end - neighbour.begin);
  void* limit = stack.limit();
  // On failure the child says where the store went.
  EXPECT_EXIT(
      {
        const std::uintptr_t landed = RunBigFrameNearLimit(std::move(stack));
        ReportWhereTheStoreLanded(landed, limit, neighbour);
      },
      DiesOfSegv(), "");
}

TEST(GuardSizeDeathTest,
     BigFrameOnPooledStackTrapsInsteadOfWritingTheNextStack) {
  StackPool pool =
      test_stacks::MustCreatePool(OsStack::DefaultSize(), /*max_cached=*/4);
  PooledStack lower = test_stacks::MustAcquire(pool);
  PooledStack upper = test_stacks::MustAcquire(pool);
  // Neighbours in one slab: only `upper`'s guard lies between them.
  ASSERT_EQ(Address(upper.limit()) - Address(lower.base()), kDefaultGuardSize);
  ExpectBigFrameTrapsWithoutTouching(std::move(upper), RangeOf(lower));
}

TEST(GuardSizeDeathTest, BigFrameOnOsStackTrapsInsteadOfWritingTheNextStack) {
  // mmap hands out addresses top down, so consecutive OsStacks normally sit
  // right below each other's guard; a few tries find such a pair even when
  // other mappings (a sanitizer's) come in between.
  std::vector<OsStack> stacks;
  for (int i = 0; i < 8; ++i) {
    absl::StatusOr<OsStack> stack = OsStack::Create(OsStack::DefaultSize());
    ASSERT_TRUE(stack.ok()) << stack.status();
    stacks.push_back(*std::move(stack));
  }
  std::sort(stacks.begin(), stacks.end(),
            [](const OsStack& a, const OsStack& b) {
              return Address(a.limit()) < Address(b.limit());
            });
  for (std::size_t i = 0; i + 1 < stacks.size(); ++i) {
    OsStack& lower = stacks[i];
    OsStack& upper = stacks[i + 1];
    if (Address(upper.limit()) - Address(lower.base()) == kDefaultGuardSize) {
      ExpectBigFrameTrapsWithoutTouching(std::move(upper), RangeOf(lower));
      return;
    }
  }
  GTEST_SKIP() << "no two of 8 OsStacks were mapped next to each other";
}

// The control: what the tests above would see with the one-page guard fringe
// used to have. It shows that this build's big frame really jumps a page
// (no compiler probes, no sanitizer moving the buffer), so that the tests
// above can fail.
TEST(GuardSizeDeathTest, OnePageGuardIsJumpedIntoTheNextPooledStack) {
  absl::StatusOr<StackPool> pool =
      StackPool::Create(OsStack::DefaultSize(), /*max_cached=*/4, kPage);
  ASSERT_TRUE(pool.ok()) << pool.status();
  PooledStack lower = test_stacks::MustAcquire(*pool);
  PooledStack upper = test_stacks::MustAcquire(*pool);
  ASSERT_EQ(Address(upper.limit()) - Address(lower.base()), kPage);
  const Range neighbour = RangeOf(lower);
  std::memset(neighbour.begin, kPattern, neighbour.end - neighbour.begin);
  void* limit = upper.limit();
  EXPECT_EXIT(
      {
        const std::uintptr_t landed = RunBigFrameNearLimit(std::move(upper));
        ReportWhereTheStoreLanded(landed, limit, neighbour);
      },
      ::testing::ExitedWithCode(1),
      "did not trap: .* inside the neighbouring stack");
}

}  // namespace
}  // namespace fringe

#if defined(__SANITIZE_ADDRESS__)
// ASan would catch the SIGSEGV and exit(1); these tests want the signal.
extern "C" const char* __asan_default_options() { return "handle_segv=0"; }
#endif
