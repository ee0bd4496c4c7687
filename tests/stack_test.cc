// Tests for fringe/stack: every allocator's sizes, alignment, errors, guard
// pages, moves, and StackPool's reuse, caching, thread safety and scale.

#include "fringe/stack/stack.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <csignal>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/config.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "fringe/stack/os_stack.h"
#include "fringe/stack/owned_stack.h"
#include "fringe/stack/slice_stack.h"
#include "fringe/stack/slice_stack_core.h"
#include "fringe/stack/stack_pool.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/emulation.h"
#include "tests/stack_helpers.h"

namespace fringe {
namespace {

// More than the address space can hold, yet no overflow when rounded up and
// a guard is added: mmap itself must refuse it. (Half of a 32-bit
// address space can be mapped, so 32-bit processes ask for 3.75 GiB.)
constexpr std::size_t kUnmappableSize =
    sizeof(void*) == 8 ? std::numeric_limits<std::size_t>::max() / 2
                       : std::size_t{0xF0000000};

using test_stacks::MustAcquire;
using test_stacks::MustCreatePool;
using ::testing::HasSubstr;

const std::size_t kPage = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));

std::uintptr_t Address(const void* p) {
  return reinterpret_cast<std::uintptr_t>(p);
}

std::size_t Span(const auto& stack) {
  return static_cast<std::size_t>(static_cast<std::byte*>(stack.base()) -
                                  static_cast<std::byte*>(stack.limit()));
}

// Writes the lowest and highest usable bytes and reads them back; a stack
// whose range is off by one page would fault or alias here.
void ExpectEndsWritable(const auto& stack) {
  volatile std::byte* top = static_cast<std::byte*>(stack.base()) - 1;
  volatile std::byte* bottom = static_cast<std::byte*>(stack.limit());
  *top = std::byte{0xA5};
  *bottom = std::byte{0x5A};
  EXPECT_EQ(std::to_integer<int>(*top), 0xA5);
  EXPECT_EQ(std::to_integer<int>(*bottom), 0x5A);
}

void ExpectAligned(const auto& stack) {
  EXPECT_EQ(Address(stack.base()) % kStackAlignment, 0u);
  EXPECT_EQ(Address(stack.limit()) % kStackAlignment, 0u);
}

void TouchByteBelowLimit(void* limit) {
  *(static_cast<volatile char*>(limit) - 1) = 1;
}

// The lowest byte of the `guard` bytes below `limit`: the one a frame that
// jumped a smaller guard would hit first.
void TouchLowestGuardByte(void* limit, std::size_t guard) {
  *(static_cast<volatile char*>(limit) - guard) = 1;
}

std::size_t RoundUpToPages(std::size_t size) {
  return (size + kPage - 1) / kPage * kPage;
}

// Sanitizers catch the SIGSEGV themselves, report it and exit(1).
#if defined(ABSL_HAVE_ADDRESS_SANITIZER) || defined(ABSL_HAVE_THREAD_SANITIZER)
#define EXPECT_SEGV(statement) EXPECT_DEATH(statement, "SEGV")
#else
#define EXPECT_SEGV(statement) \
  EXPECT_EXIT(statement, ::testing::KilledBySignal(SIGSEGV), "")
#endif

// --- Traits ----------------------------------------------------------------

static_assert(Stack<OsStack> && Stack<OwnedStack> && Stack<SliceStack> &&
              Stack<PooledStack>);
static_assert(!std::copyable<OsStack> && !std::copyable<OwnedStack> &&
              !std::copyable<SliceStack> && !std::copyable<PooledStack>);

TEST(StackTraits, OnlyOsStackAndPooledStackAreGuarded) {
  EXPECT_TRUE(kIsGuardedStack<OsStack>);
  EXPECT_TRUE(kIsGuardedStack<PooledStack>);
  EXPECT_FALSE(kIsGuardedStack<OwnedStack>);
  EXPECT_FALSE(kIsGuardedStack<SliceStack>);
}

// --- OsStack ---------------------------------------------------------------

TEST(OsStack, RoundsSizeUpToWholePages) {
  for (std::size_t size : {std::size_t{1}, kPage, std::size_t{5000}, kPage + 1,
                           OsStack::DefaultSize()}) {
    SCOPED_TRACE(size);
    absl::StatusOr<OsStack> stack = OsStack::Create(size);
    ASSERT_TRUE(stack.ok()) << stack.status();
    const std::size_t expected = (size + kPage - 1) / kPage * kPage;
    EXPECT_EQ(stack->size(), expected);
    EXPECT_EQ(Span(*stack), expected);
    EXPECT_EQ(Address(stack->limit()) % kPage, 0u);
    ExpectAligned(*stack);
    ExpectEndsWritable(*stack);
  }
}

TEST(OsStack, DefaultSizeIsAtLeast64KiBAndWholePages) {
  EXPECT_GE(OsStack::DefaultSize(), std::size_t{64} << 10);
  EXPECT_EQ(OsStack::DefaultSize() % kPage, 0u);
}

TEST(OsStack, ZeroSizeIsInvalidArgument) {
  absl::StatusOr<OsStack> stack = OsStack::Create(0);
  EXPECT_EQ(stack.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(stack.status().message(),
            "OsStack::Create(0): size must be positive");
}

TEST(OsStack, SizeThatOverflowsWhenRoundedIsInvalidArgument) {
  for (std::size_t size : {std::numeric_limits<std::size_t>::max(),
                           std::numeric_limits<std::size_t>::max() - kPage}) {
    absl::StatusOr<OsStack> stack = OsStack::Create(size);
    EXPECT_EQ(stack.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(stack.status().message(), HasSubstr(std::to_string(size)));
  }
}

TEST(OsStack, UnmappableSizeIsResourceExhaustedNamingSizeAndErrno) {
  const std::size_t size = kUnmappableSize;
  absl::StatusOr<OsStack> stack = OsStack::Create(size);
  EXPECT_EQ(stack.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(stack.status().message(), HasSubstr(std::to_string(size)));
  EXPECT_THAT(stack.status().message(), HasSubstr("mmap"));
  EXPECT_THAT(stack.status().message(), HasSubstr(std::strerror(ENOMEM)));
  // Plenty of mappings are left: the message must not blame the map count.
  EXPECT_THAT(stack.status().message(),
              ::testing::Not(HasSubstr("vm.max_map_count")));
}

TEST(OsStack, ExhaustingTheMapCountNamesVmMaxMapCount) {
  FRINGE_SKIP_UNDER_EMULATOR(
      "exhausting mappings exhausts the emulator itself");
  // Fills the process's mapping count with one-page mappings that cannot
  // merge (alternating protections), then asks for a stack. (OsStacks alone
  // may never reach the limit: with MADV_GUARD_INSTALL guards, neighbouring
  // stacks merge into one mapping.) Reserved up front: at the limit, growing
  // the vector would need mmap too.
  long max_map_count = 65530;
  if (std::FILE* f = std::fopen("/proc/sys/vm/max_map_count", "r")) {
    EXPECT_EQ(std::fscanf(f, "%ld", &max_map_count), 1);
    std::fclose(f);
  }
  std::vector<void*> fillers;
  fillers.reserve(static_cast<std::size_t>(max_map_count) + 1024);
  while (fillers.size() < fillers.capacity()) {
    void* page =
        ::mmap(nullptr, kPage, fillers.size() % 2 == 0 ? PROT_NONE : PROT_READ,
               MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (page == MAP_FAILED) break;
    fillers.push_back(page);
  }
  absl::StatusOr<OsStack> stack = OsStack::Create(kPage);
  for (void* page : fillers) ::munmap(page, kPage);
  EXPECT_EQ(stack.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(stack.status().message(), HasSubstr(std::to_string(kPage)));
  EXPECT_THAT(stack.status().message(), HasSubstr(std::strerror(ENOMEM)));
  EXPECT_THAT(stack.status().message(), HasSubstr("vm.max_map_count"));
  // Once mappings are free again, stacks can be created again.
  EXPECT_TRUE(OsStack::Create(kPage).ok());
}

TEST(OsStackDeathTest, TouchingByteBelowLimitKillsWithSigsegv) {
  absl::StatusOr<OsStack> stack = OsStack::Create(5000);
  ASSERT_TRUE(stack.ok()) << stack.status();
  EXPECT_SEGV(TouchByteBelowLimit(stack->limit()));
}

TEST(OsStack, MovedFromStackIsEmptyAndMemoryIsUnmappedOnce) {
  absl::StatusOr<OsStack> created = OsStack::Create(kPage);
  ASSERT_TRUE(created.ok());
  void* limit = created->limit();
  OsStack a = *std::move(created);
  EXPECT_EQ(created->limit(), nullptr);
  EXPECT_EQ(created->base(), nullptr);
  EXPECT_EQ(created->size(), 0u);
  OsStack b = std::move(a);
  EXPECT_EQ(a.limit(), nullptr);
  EXPECT_EQ(b.limit(), limit);
  absl::StatusOr<OsStack> other = OsStack::Create(kPage);
  ASSERT_TRUE(other.ok());
  b = *std::move(other);  // Unmaps the first stack.
  EXPECT_NE(b.limit(), nullptr);
  b = std::move(b);  // Self-move keeps the stack.
  EXPECT_NE(b.limit(), nullptr);
  ExpectEndsWritable(b);
  // The first stack's memory is gone: mincore reports ENOMEM for an unmapped
  // page (unless something else got mapped there since).
  unsigned char resident;
  if (::mincore(limit, kPage, &resident) != 0) {
    EXPECT_EQ(errno, ENOMEM);
  }
}

// --- Guard size (OsStack and StackPool) ------------------------------------

TEST(GuardSize, DefaultIs64KiBOn64BitCpusAnd16KiBOn32BitOnes) {
  EXPECT_EQ(kDefaultGuardSize,
            sizeof(void*) == 8 ? std::size_t{64} << 10 : std::size_t{16} << 10);
}

TEST(GuardSize, ZeroIsInvalidArgumentSayingSo) {
  absl::StatusOr<OsStack> stack = OsStack::Create(65536, 0);
  EXPECT_EQ(stack.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(stack.status().message(),
            "OsStack::Create(65536, 0): guard_size must be positive");
  absl::StatusOr<StackPool> pool = StackPool::Create(65536, 8, 0);
  EXPECT_EQ(pool.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(pool.status().message(),
            "StackPool::Create(65536, 8, 0): guard_size must be positive");
}

TEST(GuardSize, OverflowingSizePlusGuardIsInvalidArgumentNamingBoth) {
  constexpr std::size_t kMax = std::numeric_limits<std::size_t>::max();
  // The guard alone overflows when rounded; then the sum of two sizes that
  // each round fine.
  const std::pair<std::size_t, std::size_t> cases[] = {
      {kPage, kMax}, {kMax - 2 * kPage + 1, 2 * kPage}};
  for (const auto& [size, guard] : cases) {
    SCOPED_TRACE(testing::Message() << size << ", " << guard);
    absl::StatusOr<OsStack> stack = OsStack::Create(size, guard);
    EXPECT_EQ(stack.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(stack.status().message(),
                HasSubstr("OsStack::Create(" + std::to_string(size) + ", " +
                          std::to_string(guard) + "): size plus guard_size"));
    absl::StatusOr<StackPool> pool = StackPool::Create(size, 8, guard);
    EXPECT_EQ(pool.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(
        pool.status().message(),
        HasSubstr("StackPool::Create(" + std::to_string(size) + ", 8, " +
                  std::to_string(guard) + "): stack size plus guard_size"));
  }
}

TEST(GuardSize, PooledStacksAreSeparatedByTheirGuardRoundedToPages) {
  for (std::size_t guard : {std::size_t{1}, 3 * kPage + 1, kDefaultGuardSize}) {
    SCOPED_TRACE(guard);
    absl::StatusOr<StackPool> pool = StackPool::Create(16 << 10, 4, guard);
    ASSERT_TRUE(pool.ok()) << pool.status();
    PooledStack lower = MustAcquire(*pool);
    PooledStack upper = MustAcquire(*pool);
    EXPECT_EQ(Address(upper.limit()) - Address(lower.base()),
              RoundUpToPages(guard));
    ExpectEndsWritable(lower);
    ExpectEndsWritable(upper);
  }
}

TEST(GuardSizeDeathTest, LowestByteOfTheDefaultGuardTraps) {
  absl::StatusOr<OsStack> stack = OsStack::Create(16 << 10);
  ASSERT_TRUE(stack.ok()) << stack.status();
  EXPECT_SEGV(TouchLowestGuardByte(stack->limit(), kDefaultGuardSize));
  StackPool pool = MustCreatePool(16 << 10, 4);
  PooledStack first = MustAcquire(pool);
  PooledStack second = MustAcquire(pool);
  EXPECT_SEGV(TouchLowestGuardByte(first.limit(), kDefaultGuardSize));
  EXPECT_SEGV(TouchLowestGuardByte(second.limit(), kDefaultGuardSize));
}

TEST(GuardSizeDeathTest, LowestByteOfACustomGuardTraps) {
  const std::size_t guard = 3 * kPage + 1;  // Four pages.
  absl::StatusOr<OsStack> stack = OsStack::Create(16 << 10, guard);
  ASSERT_TRUE(stack.ok()) << stack.status();
  EXPECT_SEGV(TouchLowestGuardByte(stack->limit(), 4 * kPage));
  absl::StatusOr<StackPool> pool = StackPool::Create(16 << 10, 4, guard);
  ASSERT_TRUE(pool.ok()) << pool.status();
  PooledStack pooled = MustAcquire(*pool);
  EXPECT_SEGV(TouchLowestGuardByte(pooled.limit(), 4 * kPage));
}

// --- OwnedStack ------------------------------------------------------------

TEST(OwnedStack, RoundsSizeUpToStackAlignment) {
  for (std::size_t size : {std::size_t{1}, std::size_t{15}, std::size_t{16},
                           kPage, std::size_t{5000}, std::size_t{5001}}) {
    SCOPED_TRACE(size);
    absl::StatusOr<OwnedStack> stack = OwnedStack::Create(size);
    ASSERT_TRUE(stack.ok()) << stack.status();
    const std::size_t expected =
        (size + kStackAlignment - 1) / kStackAlignment * kStackAlignment;
    EXPECT_EQ(stack->size(), expected);
    EXPECT_EQ(Span(*stack), expected);
    ExpectAligned(*stack);
    ExpectEndsWritable(*stack);
  }
}

TEST(OwnedStack, ZeroSizeIsInvalidArgument) {
  absl::StatusOr<OwnedStack> stack = OwnedStack::Create(0);
  EXPECT_EQ(stack.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(stack.status().message(), HasSubstr("OwnedStack::Create(0)"));
}

TEST(OwnedStack, AbsurdSizeIsResourceExhausted) {
  for (std::size_t size :
       {std::numeric_limits<std::size_t>::max(), kUnmappableSize}) {
    absl::StatusOr<OwnedStack> stack = OwnedStack::Create(size);
    EXPECT_EQ(stack.status().code(), absl::StatusCode::kResourceExhausted);
    EXPECT_THAT(stack.status().message(), HasSubstr(std::to_string(size)));
  }
}

TEST(OwnedStack, MovedFromStackIsEmpty) {
  absl::StatusOr<OwnedStack> created = OwnedStack::Create(100);
  ASSERT_TRUE(created.ok());
  void* limit = created->limit();
  OwnedStack a = *std::move(created);
  EXPECT_EQ(created->limit(), nullptr);
  EXPECT_EQ(created->size(), 0u);
  OwnedStack b = std::move(a);
  EXPECT_EQ(a.base(), nullptr);
  EXPECT_EQ(b.limit(), limit);
  absl::StatusOr<OwnedStack> other = OwnedStack::Create(100);
  ASSERT_TRUE(other.ok());
  b = *std::move(other);  // Frees the first (a double free would abort).
  ExpectEndsWritable(b);
}

// --- SliceStack ------------------------------------------------------------

alignas(64) std::byte slice_memory[4096 + 64];

TEST(SliceStack, AlignedSpanIsUsedWhole) {
  absl::StatusOr<SliceStack> stack =
      SliceStack::Create(std::span(slice_memory).first(4096));
  ASSERT_TRUE(stack.ok()) << stack.status();
  EXPECT_EQ(stack->limit(), slice_memory);
  EXPECT_EQ(stack->base(), slice_memory + 4096);
  EXPECT_EQ(stack->size(), 4096u);
  ExpectEndsWritable(*stack);
}

TEST(SliceStack, UnalignedSpanIsShrunkToAlignmentAtBothEnds) {
  for (std::size_t offset = 0; offset < 2 * kStackAlignment; ++offset) {
    for (std::size_t length : {std::size_t{17}, std::size_t{40},
                               std::size_t{1000}, std::size_t{4096}}) {
      SCOPED_TRACE(testing::Message() << offset << "+" << length);
      std::span<std::byte> memory(slice_memory + offset, length);
      absl::StatusOr<SliceStack> stack = SliceStack::Create(memory);
      const std::uintptr_t begin =
          (Address(memory.data()) + kStackAlignment - 1) / kStackAlignment *
          kStackAlignment;
      const std::uintptr_t end =
          (Address(memory.data()) + length) / kStackAlignment * kStackAlignment;
      if (end <= begin) {
        EXPECT_EQ(stack.status().code(), absl::StatusCode::kInvalidArgument);
        continue;
      }
      ASSERT_TRUE(stack.ok()) << stack.status();
      EXPECT_EQ(Address(stack->limit()), begin);
      EXPECT_EQ(Address(stack->base()), end);
      EXPECT_EQ(stack->size(), end - begin);
      ExpectAligned(*stack);
      ExpectEndsWritable(*stack);
    }
  }
}

TEST(SliceStack, SpanWithNoAlignedBlockIsInvalidArgumentNamingItsSize) {
  // 1 to 15 bytes starting at an odd address never hold an aligned block;
  // neither does an empty span.
  for (std::size_t length = 0; length < kStackAlignment; ++length) {
    absl::StatusOr<SliceStack> stack =
        SliceStack::Create(std::span(slice_memory + 1, length));
    EXPECT_EQ(stack.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(stack.status().message(),
                HasSubstr("span of " + std::to_string(length) + " bytes"));
  }
  // 30 bytes from offset 1 cover [1, 31): no aligned 16-byte block.
  EXPECT_EQ(SliceStack::Create(std::span(slice_memory + 1, 30)).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(SliceStack::Create(std::span<std::byte>()).ok());
}

TEST(SliceStack, FromSpanAgreesWithCreateWithoutAbseil) {
  EXPECT_FALSE(SliceStack::FromSpan(std::span(slice_memory + 1, 30)));
  std::optional<SliceStack> stack =
      SliceStack::FromSpan(std::span(slice_memory + 1, 64));
  ASSERT_TRUE(stack.has_value());
  EXPECT_EQ(stack->limit(), slice_memory + 16);
  EXPECT_EQ(stack->base(), slice_memory + 64);
}

TEST(SliceStack, MovedFromStackIsEmptyAndMemoryIsUntouched) {
  std::optional<SliceStack> stack = SliceStack::FromSpan(slice_memory);
  ASSERT_TRUE(stack.has_value());
  SliceStack a = *std::move(stack);
  SliceStack b = std::move(a);
  EXPECT_EQ(a.limit(), nullptr);
  EXPECT_EQ(a.base(), nullptr);
  EXPECT_EQ(a.size(), 0u);
  EXPECT_EQ(b.limit(), slice_memory);
}

// --- StackPool -------------------------------------------------------------

bool Resident(void* page) {
  unsigned char vec = 0;
  EXPECT_EQ(::mincore(page, kPage, &vec), 0) << std::strerror(errno);
  return (vec & 1) != 0;
}

TEST(StackPool, RoundsStackSizeUpToWholePages) {
  for (std::size_t size : {std::size_t{1}, kPage, std::size_t{5000}}) {
    SCOPED_TRACE(size);
    StackPool pool = MustCreatePool(size, 4);
    const std::size_t expected = (size + kPage - 1) / kPage * kPage;
    EXPECT_EQ(pool.stack_size(), expected);
    PooledStack stack = MustAcquire(pool);
    EXPECT_EQ(stack.size(), expected);
    EXPECT_EQ(Span(stack), expected);
    EXPECT_EQ(Address(stack.limit()) % kPage, 0u);
    ExpectAligned(stack);
    ExpectEndsWritable(stack);
  }
}

TEST(StackPool, ErrorsMatchOsStack) {
  absl::StatusOr<StackPool> zero = StackPool::Create(0, 8);
  EXPECT_EQ(zero.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(zero.status().message(), HasSubstr("StackPool::Create(0, 8)"));
  absl::StatusOr<StackPool> overflowing =
      StackPool::Create(std::numeric_limits<std::size_t>::max(), 8);
  EXPECT_EQ(overflowing.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(
      overflowing.status().message(),
      HasSubstr(std::to_string(std::numeric_limits<std::size_t>::max())));
  absl::StatusOr<StackPool> unmappable = StackPool::Create(kUnmappableSize, 8);
  EXPECT_EQ(unmappable.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(unmappable.status().message(),
              HasSubstr(std::to_string(kUnmappableSize)));
}

TEST(StackPool, ReleasedStackComesBackLastInFirstOut) {
  StackPool pool = MustCreatePool(16 << 10, 8);
  void* first;
  void* second;
  {
    PooledStack a = MustAcquire(pool);
    PooledStack b = MustAcquire(pool);
    EXPECT_NE(a.limit(), b.limit());
    first = a.limit();
    second = b.limit();
    *static_cast<volatile int*>(b.limit()) = 42;
  }  // b is released first, then a.
  EXPECT_EQ(pool.NumCached(), 2u);
  PooledStack again = MustAcquire(pool);
  EXPECT_EQ(again.limit(), first);
  PooledStack again2 = MustAcquire(pool);
  EXPECT_EQ(again2.limit(), second);
  // Warm: the contents were not thrown away.
  EXPECT_EQ(*static_cast<volatile int*>(again2.limit()), 42);
  EXPECT_EQ(pool.NumCached(), 0u);
}

TEST(StackPool, KeepsAtMostMaxCachedStacksAndReleasesTheRestsMemory) {
  // All on one thread: max_cached in the shared list, plus up to
  // min(kMaxCachedPerThread, max_cached) in this thread's cache.
  constexpr std::size_t kMaxCached = 3;
  constexpr std::size_t kMaxWarm =
      kMaxCached + std::min(kMaxCached, StackPool::kMaxCachedPerThread);
  constexpr std::size_t kStacks = 10;
  StackPool pool = MustCreatePool(16 << 10, kMaxCached);
  std::vector<PooledStack> stacks;
  for (std::size_t i = 0; i < kStacks; ++i) {
    stacks.push_back(MustAcquire(pool));
    ExpectEndsWritable(stacks.back());
    EXPECT_TRUE(Resident(stacks.back().limit()));
  }
  std::vector<void*> limits;
  for (const PooledStack& s : stacks) limits.push_back(s.limit());
  stacks.clear();  // Released in order 0..9.
  const std::size_t cached = pool.NumCached();
  EXPECT_GE(cached, kMaxCached);  // The shared list filled up.
  EXPECT_LE(cached, kMaxWarm);
  std::vector<void*> warm;
  for (void* limit : limits) {
    if (Resident(limit)) warm.push_back(limit);
  }
  EXPECT_EQ(warm.size(), cached);
  // The cached stacks come back first, the last released first of all; then
  // the cold ones, usable again with their guard page still in place.
  for (std::size_t i = 0; i < kStacks; ++i) stacks.push_back(MustAcquire(pool));
  EXPECT_EQ(stacks[0].limit(), limits.back());
  std::vector<void*> first;
  for (std::size_t i = 0; i < cached; ++i) first.push_back(stacks[i].limit());
  std::sort(first.begin(), first.end());
  std::sort(warm.begin(), warm.end());
  EXPECT_EQ(first, warm);
  for (const PooledStack& s : stacks) ExpectEndsWritable(s);
  EXPECT_SEGV(TouchByteBelowLimit(stacks.back().limit()));
}

TEST(StackPool, ZeroMaxCachedReleasesEveryStack) {
  StackPool pool = MustCreatePool(16 << 10, 0);
  void* limit;
  {
    PooledStack stack = MustAcquire(pool);
    ExpectEndsWritable(stack);
    limit = stack.limit();
  }
  EXPECT_EQ(pool.NumCached(), 0u);
  EXPECT_FALSE(Resident(limit));
}

TEST(StackPoolDeathTest, TouchingByteBelowLimitOfFreshStackKillsWithSigsegv) {
  StackPool pool = MustCreatePool(5000, 4);
  PooledStack stack = MustAcquire(pool);
  EXPECT_SEGV(TouchByteBelowLimit(stack.limit()));
}

TEST(StackPoolDeathTest, GuardPageSurvivesReuse) {
  StackPool pool = MustCreatePool(16 << 10, 4);
  void* limit;
  {
    PooledStack stack = MustAcquire(pool);
    ExpectEndsWritable(stack);
    limit = stack.limit();
  }
  PooledStack reused = MustAcquire(pool);
  ASSERT_EQ(reused.limit(), limit);
  EXPECT_SEGV(TouchByteBelowLimit(reused.limit()));
}

std::size_t MappingCount() {
  std::FILE* maps = std::fopen("/proc/self/maps", "r");
  EXPECT_NE(maps, nullptr);
  std::size_t lines = 0;
  for (int c; (c = std::fgetc(maps)) != EOF;) lines += c == '\n';
  std::fclose(maps);
  return lines;
}

TEST(StackPool, GuardPagesCostNoMappingWhenKernelHasGuardInstall) {
  constexpr std::size_t kStacks = 1000;
  std::vector<PooledStack> stacks;
  stacks.reserve(kStacks);
  const std::size_t before = MappingCount();
  StackPool pool = MustCreatePool(16 << 10, 0);
  for (std::size_t i = 0; i < kStacks; ++i) stacks.push_back(MustAcquire(pool));
  // Other mappings may merge meanwhile (valgrind's, for one), so the count
  // can also go down: that adds nothing.
  const std::size_t after = MappingCount();
  const std::size_t added = after > before ? after - before : 0;
  if (StackPool::GuardPagesAreMappingFree()) {
    // Linux >= 6.13: at most one mapping per slab of up to 256 stacks (the
    // kernel merges adjacent slabs), plus slack for the allocator's own
    // mappings (ASan's, for instance).
    EXPECT_LE(added, kStacks / 20);
  } else {
    // mprotect fallback: each guard page splits the slab.
    EXPECT_GE(added, kStacks);
  }
}

TEST(StackPool, MovedFromStackIsEmptyAndReturnsNothing) {
  StackPool pool = MustCreatePool(kPage, 8);
  PooledStack a = MustAcquire(pool);
  void* limit = a.limit();
  PooledStack b = std::move(a);
  EXPECT_EQ(a.limit(), nullptr);
  EXPECT_EQ(a.base(), nullptr);
  EXPECT_EQ(a.size(), 0u);
  EXPECT_EQ(b.limit(), limit);
  EXPECT_EQ(pool.NumCached(), 0u);
  PooledStack c = MustAcquire(pool);
  b = std::move(c);  // Returns the first stack to the pool, exactly once.
  EXPECT_EQ(pool.NumCached(), 1u);
  EXPECT_EQ(c.limit(), nullptr);
  { PooledStack gone = std::move(b); }
  EXPECT_EQ(pool.NumCached(), 2u);
}

TEST(StackPool, StacksKeepThePoolAliveAndMovedFromPoolFailsCleanly) {
  std::optional<StackPool> pool(MustCreatePool(kPage, 8));
  PooledStack stack = MustAcquire(*pool);
  StackPool moved = std::move(*pool);
  absl::StatusOr<PooledStack> from_moved = pool->Acquire();
  EXPECT_EQ(from_moved.status().code(), absl::StatusCode::kFailedPrecondition);
  pool.reset();
  { StackPool gone = std::move(moved); }
  ExpectEndsWritable(stack);  // The memory outlives both pool objects.
}

TEST(StackPool, ConcurrentAcquireReleaseNeverSharesAStack) {
  FRINGE_SKIP_WITHOUT_THREADS();
  StackPool pool = MustCreatePool(8 << 10, 16);
  constexpr int kThreads = 4;
  constexpr int kCycles = 20000;
  std::vector<std::thread> threads;
  std::vector<int> failures(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&pool, &failures, t] {
      for (int i = 0; i < kCycles; ++i) {
        // Hold one to three stacks at once so that the cache is exercised
        // both ways and cold stacks get handed out too.
        std::vector<PooledStack> held;
        for (int k = 0; k <= i % 3; ++k) {
          absl::StatusOr<PooledStack> stack = pool.Acquire();
          if (!stack.ok()) {
            ++failures[t];
            return;
          }
          held.push_back(*std::move(stack));
        }
        const std::uint64_t pattern =
            (std::uint64_t{static_cast<unsigned>(t)} << 32) | unsigned(i);
        for (PooledStack& s : held) {
          auto* top = static_cast<volatile std::uint64_t*>(s.base()) - 1;
          auto* bottom = static_cast<volatile std::uint64_t*>(s.limit());
          *top = pattern;
          *bottom = ~pattern;
        }
        std::this_thread::yield();
        for (PooledStack& s : held) {
          auto* top = static_cast<volatile std::uint64_t*>(s.base()) - 1;
          auto* bottom = static_cast<volatile std::uint64_t*>(s.limit());
          if (*top != pattern || *bottom != ~pattern) ++failures[t];
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(failures[t], 0) << t;
  EXPECT_LE(pool.NumCached(), 16u);
}

// Whether `address` lies in any mapping of this process (under qemu-user too,
// which shows the guest's mappings in /proc/self/maps).
bool IsMapped(const void* address) {
  std::FILE* maps = std::fopen("/proc/self/maps", "r");
  EXPECT_NE(maps, nullptr);
  bool mapped = false;
  unsigned long long begin, end;
  char line[4096];
  while (!mapped && std::fgets(line, sizeof line, maps) != nullptr) {
    if (std::sscanf(line, "%llx-%llx", &begin, &end) == 2) {
      mapped = begin <= Address(address) && Address(address) < end;
    }
  }
  std::fclose(maps);
  return mapped;
}

// Runs `body` on a new thread and waits for it to exit.
template <typename Body>
void OnThread(Body body) {
  std::thread thread(std::move(body));
  thread.join();
}

TEST(StackPool, ThreadExitGivesItsCachedStacksBackToThePool) {
  FRINGE_SKIP_WITHOUT_THREADS();
  StackPool pool = MustCreatePool(16 << 10, 16);
  std::vector<void*> released;
  OnThread([&] {
    {
      std::vector<PooledStack> stacks;
      for (int i = 0; i < 3; ++i) stacks.push_back(MustAcquire(pool));
      for (const PooledStack& s : stacks) released.push_back(s.limit());
    }
    // In this thread's cache, which only this thread counts.
    EXPECT_EQ(pool.NumCached(), 3u);
  });
  EXPECT_EQ(pool.NumCached(), 3u);
  std::vector<void*> reacquired;
  std::vector<PooledStack> stacks;
  for (int i = 0; i < 3; ++i) {
    stacks.push_back(MustAcquire(pool));
    reacquired.push_back(stacks.back().limit());
  }
  std::sort(released.begin(), released.end());
  std::sort(reacquired.begin(), reacquired.end());
  EXPECT_EQ(reacquired, released);
}

TEST(StackPool, NumCachedCountsTheSharedListAndOnlyTheCallersCache) {
  FRINGE_SKIP_WITHOUT_THREADS();
  StackPool pool = MustCreatePool(16 << 10, 16);
  { PooledStack mine = MustAcquire(pool); }  // Into this thread's cache.
  EXPECT_EQ(pool.NumCached(), 1u);
  std::mutex mu;
  std::condition_variable cv;
  bool released = false;
  bool checked = false;
  std::thread other([&] {
    { PooledStack theirs = MustAcquire(pool); }
    EXPECT_EQ(pool.NumCached(), 1u);  // Its own; this thread's is not counted.
    std::unique_lock lock(mu);
    released = true;
    cv.notify_all();
    cv.wait(lock, [&] { return checked; });
  });
  {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return released; });
    // The other thread's cached stack is not this thread's to count.
    EXPECT_EQ(pool.NumCached(), 1u);
    checked = true;
    cv.notify_all();
  }
  other.join();
  EXPECT_EQ(pool.NumCached(), 2u);  // Its exit gave its stack back.
}

TEST(StackPool, StackReleasedOnAnotherThreadGoesToThatThreadsCache) {
  FRINGE_SKIP_WITHOUT_THREADS();
  StackPool pool = MustCreatePool(16 << 10, 16);
  std::vector<PooledStack> stacks;
  for (int i = 0; i < 3; ++i) stacks.push_back(MustAcquire(pool));
  std::vector<void*> limits;
  for (const PooledStack& s : stacks) limits.push_back(s.limit());
  OnThread([&] {
    stacks.clear();  // Released here, in order 0, 1, 2.
    EXPECT_EQ(pool.NumCached(), 3u);
    // Last in, first out, on this thread.
    PooledStack last = MustAcquire(pool);
    EXPECT_EQ(last.limit(), limits[2]);
    PooledStack middle = MustAcquire(pool);
    EXPECT_EQ(middle.limit(), limits[1]);
  });
  // Released on the thread's exit: the shared list has all three again.
  EXPECT_EQ(pool.NumCached(), 3u);
}

TEST(StackPool, SeveralPoolsOnOneThreadEachGetTheirOwnStacksBack) {
  // More pools than a thread keeps caches for, so some displace others.
  constexpr std::size_t kPools = 7;
  std::vector<StackPool> pools;
  for (std::size_t i = 0; i < kPools; ++i) {
    pools.push_back(MustCreatePool((i + 1) * kPage, 4));
  }
  std::vector<void*> last(kPools, nullptr);
  for (int round = 0; round < 5; ++round) {
    for (std::size_t i = 0; i < kPools; ++i) {
      SCOPED_TRACE(testing::Message() << "round " << round << " pool " << i);
      PooledStack stack = MustAcquire(pools[i]);
      EXPECT_EQ(stack.size(), (i + 1) * kPage);
      if (last[i] != nullptr) {
        EXPECT_EQ(stack.limit(), last[i]);  // Warm.
      }
      last[i] = stack.limit();
      ExpectEndsWritable(stack);
    }
    for (std::size_t i = 0; i < kPools; ++i) {
      EXPECT_EQ(pools[i].NumCached(), 1u) << i;
    }
  }
}

TEST(StackPool, StacksCachedOnAnotherThreadAreUnmappedWhenThatThreadExits) {
  FRINGE_SKIP_WITHOUT_THREADS();
  std::optional<StackPool> pool(MustCreatePool(16 << 10, 16));
  std::mutex mu;
  std::condition_variable cv;
  bool cached = false;
  bool pool_gone = false;
  void* limit = nullptr;
  std::thread other([&] {
    {
      PooledStack stack = MustAcquire(*pool);
      limit = stack.limit();
    }  // Into this thread's cache.
    std::unique_lock lock(mu);
    cached = true;
    cv.notify_all();
    cv.wait(lock, [&] { return pool_gone; });
  });
  {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return cached; });
  }
  pool.reset();
  // The other thread's cache still holds a stack, so the memory stays.
  EXPECT_TRUE(IsMapped(limit));
  {
    std::unique_lock lock(mu);
    pool_gone = true;
    cv.notify_all();
  }
  other.join();
  EXPECT_FALSE(IsMapped(limit));
}

TEST(StackPool, StacksCachedOnAnotherThreadAreUnmappedWhenItNextUsesAPool) {
  FRINGE_SKIP_WITHOUT_THREADS();
  std::optional<StackPool> pool(MustCreatePool(16 << 10, 16));
  StackPool other_pool = MustCreatePool(16 << 10, 16);
  std::mutex mu;
  std::condition_variable cv;
  int step = 0;
  void* limit = nullptr;
  bool mapped_after_next_use = true;
  std::thread other([&] {
    {
      PooledStack stack = MustAcquire(*pool);
      limit = stack.limit();
    }
    std::unique_lock lock(mu);
    step = 1;
    cv.notify_all();
    cv.wait(lock, [&] { return step == 2; });
    // The pool is gone; using any pool gives its stacks back.
    { PooledStack unrelated = MustAcquire(other_pool); }
    mapped_after_next_use = IsMapped(limit);
    step = 3;
    cv.notify_all();
    cv.wait(lock, [&] { return step == 4; });
  });
  std::unique_lock lock(mu);
  cv.wait(lock, [&] { return step == 1; });
  pool.reset();
  EXPECT_TRUE(IsMapped(limit));
  step = 2;
  cv.notify_all();
  cv.wait(lock, [&] { return step == 3; });
  EXPECT_FALSE(mapped_after_next_use);  // While that thread still runs.
  step = 4;
  cv.notify_all();
  lock.unlock();
  other.join();
}

TEST(StackPool, StacksHandedBetweenThreadsAreReturnedOnceThePoolIsGone) {
  FRINGE_SKIP_WITHOUT_THREADS();
  // Threads acquire stacks, hand them to each other and release them, so
  // every thread's cache holds stacks acquired elsewhere; then the pool is
  // destroyed while the caches still hold stacks, and each thread gives
  // them back when it next uses a pool, all at the same time.
  constexpr int kThreads = 3;
  constexpr int kCycles = 3000;
  std::optional<StackPool> pool(MustCreatePool(8 << 10, 4));
  StackPool other_pool = MustCreatePool(8 << 10, 4);
  void* some_limit = MustAcquire(*pool).limit();
  std::mutex mu;
  std::condition_variable cv;
  std::vector<PooledStack> handoff;
  int done = 0;
  bool pool_gone = false;
  std::vector<int> failures(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kCycles; ++i) {
        PooledStack mine = MustAcquire(*pool);
        const std::uint64_t pattern =
            (std::uint64_t{static_cast<unsigned>(t)} << 32) | unsigned(i);
        *(static_cast<volatile std::uint64_t*>(mine.base()) - 1) = pattern;
        if (*(static_cast<volatile std::uint64_t*>(mine.base()) - 1) !=
            pattern) {
          ++failures[t];
        }
        std::lock_guard lock(mu);
        handoff.push_back(std::move(mine));
        if (handoff.size() > 4) {
          // Released here, possibly acquired by another thread.
          PooledStack theirs = std::move(handoff.front());
          handoff.erase(handoff.begin());
        }
      }
      std::unique_lock lock(mu);
      ++done;
      cv.notify_all();
      cv.wait(lock, [&] { return pool_gone; });
      lock.unlock();
      { PooledStack unrelated = MustAcquire(other_pool); }
    });
  }
  {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return done == kThreads; });
    handoff.clear();
    pool.reset();
    pool_gone = true;
    cv.notify_all();
  }
  for (std::thread& thread : threads) thread.join();
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(failures[t], 0) << t;
  EXPECT_FALSE(IsMapped(some_limit));
}

TEST(StackPool, StackReleasedAfterItsPoolIsGoneIsUnmappedAtOnce) {
  // No cache keeps a stack of a pool that can never hand it out again,
  // whichever thread destroyed the pool.
  for (bool destroy_on_other_thread : {false, true}) {
    SCOPED_TRACE(destroy_on_other_thread);
    if (destroy_on_other_thread && test_emulation::EmulatorLacksThreads()) {
      continue;
    }
    std::optional<StackPool> pool(MustCreatePool(16 << 10, 16));
    { PooledStack warm = MustAcquire(*pool); }  // This thread caches it.
    PooledStack stack = MustAcquire(*pool);
    void* limit = stack.limit();
    if (destroy_on_other_thread) {
      OnThread([&] { pool.reset(); });
    } else {
      pool.reset();
    }
    EXPECT_TRUE(IsMapped(limit));
    { PooledStack gone = std::move(stack); }
    EXPECT_FALSE(IsMapped(limit));
  }
}

TEST(StackPool, HoldsOneHundredThousandDistinctGuardedStacks) {
  if (!StackPool::GuardPagesAreMappingFree()) {
    GTEST_SKIP() << "needs MADV_GUARD_INSTALL (Linux >= 6.13): with mprotect "
                    "guards, 100k stacks exceed vm.max_map_count";
  }
  constexpr std::size_t kStacks = 100'000;
  constexpr std::size_t kStackSize = 16 << 10;
  StackPool pool = MustCreatePool(kStackSize, 64);
  std::vector<PooledStack> stacks;
  stacks.reserve(kStacks);
  for (std::size_t i = 0; i < kStacks; ++i) {
    absl::StatusOr<PooledStack> stack = pool.Acquire();
    ASSERT_TRUE(stack.ok()) << i << ": " << stack.status();
    static_cast<volatile std::byte*>(stack->base())[-1] = std::byte{1};
    stacks.push_back(*std::move(stack));
  }
  std::vector<std::pair<std::uintptr_t, std::uintptr_t>> ranges;
  ranges.reserve(kStacks);
  for (const PooledStack& s : stacks) {
    ASSERT_EQ(s.size(), kStackSize);
    ranges.emplace_back(Address(s.limit()), Address(s.base()));
  }
  std::sort(ranges.begin(), ranges.end());
  for (std::size_t i = 1; i < ranges.size(); ++i) {
    // Disjoint, with room for the next stack's guard in between.
    ASSERT_GE(ranges[i].first, ranges[i - 1].second + kDefaultGuardSize) << i;
  }
  for (std::size_t i : {std::size_t{0}, kStacks / 2, kStacks - 1}) {
    EXPECT_SEGV(TouchByteBelowLimit(stacks[i].limit()));
  }
}

}  // namespace
}  // namespace fringe
