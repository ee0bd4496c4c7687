// Tests for fringe/stack/guard_registry.h: lookups, slabs, scale, races, and
// that OsStack and StackPool register their guards.

#include "fringe/stack/guard_registry.h"

#include <unistd.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include "fringe/stack/os_stack.h"
#include "fringe/stack/stack.h"
#include "fringe/stack/stack_pool.h"
#include "gtest/gtest.h"
#include "tests/emulation.h"
#include "tests/stack_helpers.h"

namespace fringe {
namespace {

using test_stacks::MustAcquire;
using test_stacks::MustCreateOsStack;
using test_stacks::MustCreatePool;

const std::size_t kPage = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
constexpr std::size_t kStackSize = 16 << 10;

// Addresses nothing maps in a test process; the registry never touches the
// memory it lists, so made-up ranges test it as well as real ones.
std::byte* FakeAddress(std::size_t page_offset) {
  const std::uintptr_t base = std::uintptr_t{1} << (sizeof(void*) * 8 - 2);
  return reinterpret_cast<std::byte*>(base + page_offset * 4096);
}

TEST(GuardRegistry, StackIsFoundOnlyThroughItsGuardAndOnlyWhileRegistered) {
  std::byte* guard = FakeAddress(0);
  ASSERT_TRUE(RegisterGuard(guard, 4096, kStackSize));
  for (std::byte* inside : {guard, guard + 1, guard + 4095}) {
    std::optional<GuardedStack> found = FindGuard(inside);
    ASSERT_TRUE(found.has_value());
    EXPECT_EQ(found->limit, guard + 4096);
    EXPECT_EQ(found->base, guard + 4096 + kStackSize);
    EXPECT_EQ(found->size, kStackSize);
  }
  for (std::byte* outside :
       {guard - 1, guard + 4096, guard + 4096 + kStackSize - 1,
        guard + 4096 + kStackSize}) {
    EXPECT_FALSE(FindGuard(outside).has_value()) << outside - guard;
  }
  UnregisterGuard(guard);
  EXPECT_FALSE(FindGuard(guard).has_value());
  UnregisterGuard(guard);  // Unknown: nothing happens.
}

TEST(GuardRegistry, RejectsLayoutsWithoutGuardOrStack) {
  std::byte* begin = FakeAddress(0);
  EXPECT_FALSE(RegisterSlab(begin, 4096, 1, 4096));  // No usable bytes.
  EXPECT_FALSE(RegisterSlab(begin, 8192, 1, 0));     // No guard.
  EXPECT_FALSE(RegisterSlab(begin, 8192, 0, 4096));  // No stacks.
  EXPECT_FALSE(RegisterSlab(nullptr, 8192, 1, 4096));
  EXPECT_FALSE(FindGuard(begin).has_value());
}

TEST(GuardRegistry, SlabLookupNamesTheStackWhoseGuardWasHit) {
  constexpr std::size_t kGuard = 4096;
  constexpr std::size_t kStride = kGuard + kStackSize;
  constexpr std::size_t kCount = 256;
  std::byte* slab = FakeAddress(0);
  ASSERT_TRUE(RegisterSlab(slab, kStride, kCount, kGuard));
  for (std::size_t i :
       {std::size_t{0}, std::size_t{1}, std::size_t{137}, kCount - 1}) {
    std::byte* guard = slab + i * kStride;
    std::optional<GuardedStack> found = FindGuard(guard + kGuard - 8);
    ASSERT_TRUE(found.has_value()) << i;
    EXPECT_EQ(found->limit, guard + kGuard) << i;
    EXPECT_EQ(found->base, guard + kStride) << i;
    EXPECT_EQ(found->size, kStackSize) << i;
    // The stack's own bytes are not a guard.
    EXPECT_FALSE(FindGuard(guard + kGuard).has_value()) << i;
    EXPECT_FALSE(FindGuard(guard + kStride - 1).has_value()) << i;
  }
  EXPECT_FALSE(FindGuard(slab + kCount * kStride).has_value());
  UnregisterSlab(slab);
  EXPECT_FALSE(FindGuard(slab + kStride).has_value());
}

TEST(GuardRegistry, HoldsOneHundredThousandEntriesAndReusesFreedSlots) {
  constexpr std::size_t kEntries = 100'000;
  constexpr std::size_t kPagesEach = 5;  // One guard page, four stack pages.
  auto guard = [](std::size_t i) { return FakeAddress(i * kPagesEach); };
  for (std::size_t i = 0; i < kEntries; ++i) {
    ASSERT_TRUE(RegisterGuard(guard(i), 4096, 4 * 4096)) << i;
  }
  // FindGuard scans every slot, so check a sample.
  for (std::size_t i = 0; i < kEntries; i += 9973) {
    std::optional<GuardedStack> found = FindGuard(guard(i) + 123);
    ASSERT_TRUE(found.has_value()) << i;
    EXPECT_EQ(found->limit, guard(i) + 4096) << i;
  }
  // Churn: what is freed is found no more, what comes back is found again.
  for (std::size_t i = 0; i < kEntries; i += 2) UnregisterGuard(guard(i));
  EXPECT_FALSE(FindGuard(guard(0)).has_value());
  EXPECT_TRUE(FindGuard(guard(1)).has_value());
  for (std::size_t i = 0; i < kEntries; i += 2) {
    ASSERT_TRUE(RegisterGuard(guard(i), 4096, 4 * 4096)) << i;
  }
  EXPECT_TRUE(FindGuard(guard(kEntries - 2)).has_value());
  for (std::size_t i = 0; i < kEntries; ++i) UnregisterGuard(guard(i));
  for (std::size_t i = 0; i < kEntries; i += 9973) {
    EXPECT_FALSE(FindGuard(guard(i)).has_value()) << i;
  }
}

TEST(GuardRegistry, LookupsStayCorrectWhileOtherThreadsRegisterAndUnregister) {
  FRINGE_SKIP_WITHOUT_THREADS();
  std::byte* stable = FakeAddress(0);
  ASSERT_TRUE(RegisterGuard(stable, 4096, 4096));
  constexpr int kThreads = 3;
  constexpr int kCycles = 20'000;
  std::atomic<bool> done{false};
  std::vector<int> failures(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([t, &failures] {
      for (int i = 0; i < kCycles; ++i) {
        // Each thread cycles through its own 16 ranges.
        std::byte* mine =
            FakeAddress(2 + static_cast<std::size_t>((t * 16 + i % 16) * 2));
        if (!RegisterGuard(mine, 4096, 4096)) ++failures[t];
        UnregisterGuard(mine);
      }
    });
  }
  int lookups = 0;
  int misses = 0;
  std::thread reader([&] {
    while (!done.load(std::memory_order_relaxed)) {
      std::optional<GuardedStack> found = FindGuard(stable + 10);
      if (!found.has_value() || found->limit != stable + 4096 ||
          found->size != 4096) {
        ++misses;
      }
      ++lookups;
    }
  });
  for (std::thread& thread : threads) thread.join();
  done = true;
  reader.join();
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(failures[t], 0) << t;
  EXPECT_EQ(misses, 0) << "of " << lookups;
  UnregisterGuard(stable);
}

TEST(GuardRegistry, OsStacksAndPoolSlabsRegisterThemselves) {
  void* os_limit;
  {
    OsStack stack = MustCreateOsStack(kStackSize);
    os_limit = stack.limit();
    std::optional<GuardedStack> found =
        FindGuard(static_cast<std::byte*>(stack.limit()) - 1);
    ASSERT_TRUE(found.has_value());
    EXPECT_EQ(found->limit, stack.limit());
    EXPECT_EQ(found->base, stack.base());
    EXPECT_EQ(found->size, kStackSize);
    // Moving the stack object moves no memory: the entry stays valid.
    OsStack moved = std::move(stack);
    EXPECT_TRUE(FindGuard(static_cast<std::byte*>(os_limit) - 1).has_value());
    // Move-assignment releases the stack assigned over.
    moved = MustCreateOsStack(kStackSize);
    EXPECT_FALSE(FindGuard(static_cast<std::byte*>(os_limit) - 1).has_value());
  }

  void* pool_limit;
  {
    StackPool pool = MustCreatePool(kStackSize, 4);
    std::vector<PooledStack> stacks;
    for (int i = 0; i < 3; ++i) stacks.push_back(MustAcquire(pool));
    pool_limit = stacks[0].limit();
    for (const PooledStack& stack : stacks) {
      std::optional<GuardedStack> found =
          FindGuard(static_cast<std::byte*>(stack.limit()) - kPage);
      ASSERT_TRUE(found.has_value());
      EXPECT_EQ(found->limit, stack.limit());
      EXPECT_EQ(found->base, stack.base());
      EXPECT_EQ(found->size, kStackSize);
    }
  }
  // The pool and its stacks are gone, and with them the slab's entry.
  EXPECT_FALSE(FindGuard(static_cast<std::byte*>(pool_limit) - 1).has_value());
}

TEST(GuardRegistry, EveryByteOfADefaultSizeGuardNamesItsStack) {
  OsStack os_stack = MustCreateOsStack(kStackSize);
  StackPool pool = MustCreatePool(kStackSize, 4);
  PooledStack lower = MustAcquire(pool);
  PooledStack upper = MustAcquire(pool);
  auto expect_guarded_by = [](const auto& stack) {
    auto* limit = static_cast<std::byte*>(stack.limit());
    for (std::byte* inside : {limit - kDefaultGuardSize,
                              limit - kDefaultGuardSize / 2, limit - 1}) {
      std::optional<GuardedStack> found = FindGuard(inside);
      ASSERT_TRUE(found.has_value()) << limit - inside;
      EXPECT_EQ(found->limit, stack.limit()) << limit - inside;
      EXPECT_EQ(found->base, stack.base()) << limit - inside;
    }
  };
  expect_guarded_by(os_stack);
  expect_guarded_by(lower);
  expect_guarded_by(upper);
  // Just below `upper`'s guard is `lower`'s top byte: a stack, not a guard.
  EXPECT_EQ(static_cast<std::byte*>(upper.limit()) - kDefaultGuardSize - 1,
            static_cast<std::byte*>(lower.base()) - 1);
  EXPECT_FALSE(FindGuard(static_cast<std::byte*>(lower.base()) - 1));
}

}  // namespace
}  // namespace fringe
