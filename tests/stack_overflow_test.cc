// Tests for fringe/debug/stack_overflow.h (the report, what it stays silent
// about, chaining to the previous handler, idempotency, alternate stacks).
// The guard registry it reads has its own tests (guard_registry_test.cc).
//
// The handler is process-wide and installing it is one-way, so every test
// that installs it does so inside a death test's child process: the test
// process itself never has it, and each child starts from the dispositions
// the test sets up. Death tests use the "fast" (fork) style on purpose: the
// child sees the very stacks the parent created, so the report can be checked
// against their exact addresses.

#include "fringe/debug/stack_overflow.h"

#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cinttypes>
#include <csignal>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/attributes.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "fringe/generator/generator.h"
#include "fringe/stack/guard_registry.h"
#include "fringe/stack/os_stack.h"
#include "fringe/stack/stack.h"
#include "fringe/stack/stack_pool.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/emulation.h"
#include "tests/guard_frames.h"
#include "tests/stack_helpers.h"

// External linkage, so that -rdynamic exports them and the overflow report
// can name them (dladdr sees only the dynamic symbol table).
namespace fringe::report_test {

// Like Recurse below, but the overflow always faults in the function's
// body: it reads the bytes below its frame first, where the next call's
// prologue will push. arm32's unwind tables (EHABI) describe a function
// after its prologue, so from a fault on a prologue's push libgcc cannot
// step out of the signal frame and the backtrace ends there; which
// instruction meets the guard depends on where the frames start, which
// stack colouring varies (generator/internal/control.h). (Not instrumented
// by ASan, which would report the probe as a stack-buffer-underflow.)
ABSL_ATTRIBUTE_NOINLINE ABSL_ATTRIBUTE_NO_SANITIZE_ADDRESS int Recurse(
    int depth) {
  volatile char frame[64];
  frame[0] = static_cast<char>(depth);
  (void)*reinterpret_cast<volatile char*>(
      reinterpret_cast<std::uintptr_t>(&frame[0]) - 16);
  if (depth < 0) return 0;
  return Recurse(depth + 1) + frame[0];
}

// The code that resumes the runaway generator: the report must reach its
// frame, below thousands of recursive ones, through the generator's link.
ABSL_ATTRIBUTE_NOINLINE void OverflowingResumer(OsStack stack) {
  Generator<void, int> runaway(
      std::move(stack), [](auto& yielder) { yielder.Suspend(Recurse(0)); });
  runaway.Resume();
  asm volatile("" ::: "memory");  // Not a tail call.
}

}  // namespace fringe::report_test

namespace fringe {
namespace {

// How a process that hit a guard page ends. ThreadSanitizer intercepts the
// re-raised signal and exits instead; the report must still be there.
std::function<bool(int)> DiesOfSegv() {
#if defined(__SANITIZE_THREAD__)
  return [](int status) {
    return !(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  };
#else
  return ::testing::KilledBySignal(SIGSEGV);
#endif
}

using ::testing::AllOf;
using ::testing::ContainsRegex;
using ::testing::ExitedWithCode;
using ::testing::HasSubstr;
using ::testing::Not;

const std::size_t kPage = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
constexpr std::size_t kStackSize = 16 << 10;

constexpr char kReport[] =
    "fringe: stack overflow in generator: stack \\[0x[0-9a-f]+, 0x[0-9a-f]+\\) "
    "of 16384 bytes";

std::uintptr_t Address(const void* p) {
  return reinterpret_cast<std::uintptr_t>(p);
}

// "[0x<limit>, 0x<base>)" as the report prints it.
std::string Range(const void* limit, const void* base) {
  char text[64];
  std::snprintf(text, sizeof(text), "[0x%" PRIxPTR ", 0x%" PRIxPTR ")",
                Address(limit), Address(base));
  return text;
}
// The range the report must name. Under an emulator death tests re-run the
// test in a fresh process ("threadsafe" style), where the stack lands at
// another address: only the report's shape can be checked there.
std::string Range(const auto& stack) {
  if (::fringe::test_emulation::Emulator() != nullptr) return "";
  return Range(stack.limit(), stack.base());
}

// An unmapped address in the first page: a fault nowhere near a guard page.
// (Not nullptr itself: UBSan would report the null store before it faults.)
volatile char* LowAddress() {
  return reinterpret_cast<volatile char*>(std::uintptr_t{16});
}

// How often `needle` occurs in the death test's output.
auto Occurrences(std::string needle, int expected) {
  return ::testing::Truly([needle, expected](const std::string& output) {
    int count = 0;
    for (std::size_t at = output.find(needle); at != std::string::npos;
         at = output.find(needle, at + 1)) {
      ++count;
    }
    return count == expected;
  });
}

// Each frame keeps a buffer alive across the next call, so the recursion can
// be neither turned into a loop nor have its frames merged.
int Recurse(int depth) {
  volatile char frame[64];
  frame[0] = static_cast<char>(depth);
  if (depth < 0) return 0;  // Never true; keeps -Winfinite-recursion quiet.
  return Recurse(depth + 1) + frame[0];
}

// Runs a generator whose body recurses until it overflows `stack`.
template <typename S>
void OverflowIn(S stack) {
  Generator<void, int, S> runaway(
      std::move(stack), [](auto& yielder) { yielder.Suspend(Recurse(0)); });
  runaway.Resume();
}

// Runs a generator whose body enters test_guards' big frame near the limit
// of `stack`.
template <typename S>
void EnterBigFrameNearLimit(S stack) {
  void* limit = stack.limit();
  Generator<void, int, S> body(std::move(stack), [limit](auto&) {
    test_guards::DescendThenStoreToBigFrame(limit);
  });
  body.Resume();
}

void InstallOrExit() {
  absl::Status status = InstallStackOverflowHandler();
  if (!status.ok()) {
    std::fprintf(stderr, "InstallStackOverflowHandler: %s\n",
                 status.ToString().c_str());
    std::_Exit(3);
  }
}

using test_stacks::MustCreateOsStack;

using test_stacks::MustAcquire;
using test_stacks::MustCreatePool;

// --- Stack-overflow handler --------------------------------------------------

class StackOverflowDeathTest : public ::testing::Test {
 protected:
  // "fast" (plain fork) natively; under an emulator, forked children that
  // die of a signal can hang it, so keep the style the config asks for.
  void SetUp() override {
    if (::fringe::test_emulation::Emulator() == nullptr) {
      GTEST_FLAG_SET(death_test_style, "fast");
    }
  }
};

TEST_F(StackOverflowDeathTest,
       OverflowOnOsStackIsReportedThenKillsWithSigsegv) {
  OsStack stack = MustCreateOsStack(kStackSize);
  const std::string range = Range(stack);
  EXPECT_EXIT(
      {
        InstallOrExit();
        OverflowIn(std::move(stack));
      },
      DiesOfSegv(),
      AllOf(ContainsRegex(kReport), HasSubstr(range),
            Occurrences("fringe: ", 1)));
}

TEST_F(StackOverflowDeathTest, ReportIsFollowedByABacktrace) {
  FRINGE_SKIP_UNDER("qemu-ppc64le",
                    "libgcc's unwinder cannot step out of the signal frames "
                    "qemu-ppc64le writes, so the backtrace ends at the "
                    "handler (natively it recognises the kernel's)");
  OsStack stack = MustCreateOsStack(kStackSize);
  EXPECT_EXIT(
      {
        InstallOrExit();
        OverflowIn(std::move(stack));
      },
      DiesOfSegv(),
      // The recursion, folded into one line and a count.
      ContainsRegex(std::string(kReport) +
                    "\n(.*\n)*    \\.\\.\\. the frame above repeated [0-9]+ "
                    "more times"));
}

TEST_F(StackOverflowDeathTest,
       ReportNamesFramesDemangledDownToTheResumerAndAdvises) {
  FRINGE_SKIP_UNDER("qemu-ppc64le",
                    "libgcc's unwinder cannot step out of the signal frames "
                    "qemu-ppc64le writes, so the backtrace ends at the "
                    "handler (natively it recognises the kernel's)");
  // 256 KiB: thousands of recursive frames, far more than a fixed buffer of
  // return addresses holds, between the fault and the resumer.
  constexpr std::size_t kBigStack = 256 << 10;
  OsStack stack = MustCreateOsStack(kBigStack);
  EXPECT_EXIT(
      {
        InstallOrExit();
        report_test::OverflowingResumer(std::move(stack));
      },
      DiesOfSegv(),
      AllOf(
          // Demangled, folded, then the resumer and main.
          ContainsRegex("#[0-9]+ 0x[0-9a-f]+ in "
                        "fringe::report_test::Recurse\\(int\\)\\+0x[0-9a-f]+"
                        ".*\n    \\.\\.\\. the frame above repeated [0-9]{3,} "
                        "more times"),
          ContainsRegex("#[0-9]+ 0x[0-9a-f]+ in "
                        "fringe::report_test::OverflowingResumer\\(fringe::"
                        "OsStack\\)\\+0x"),
          ContainsRegex("#[0-9]+ 0x[0-9a-f]+ in main\\+0x"),
          // The advice, right below the report line.
          ContainsRegex("of 262144 bytes\n    fix: create the stack bigger "
                        "than 262144 bytes \\(OsStack::Create\\(size\\), "
                        "StackPool::Create\\(size, \\.\\.\\.\\)\\), or call "
                        "InstallStackOverflowHandler\\(\\{\\.recover = "
                        "true\\}\\)"),
          Occurrences("fringe: ", 1)));
}

TEST_F(StackOverflowDeathTest, OverflowOnPooledStackThatIsNotFirstInItsSlab) {
  StackPool pool = MustCreatePool(kStackSize, 4);
  PooledStack first = MustAcquire(pool);
  PooledStack second = MustAcquire(pool);
  // Same slab, one stride up: the guard below `second` is the one right above
  // `first`.
  ASSERT_EQ(static_cast<std::byte*>(second.limit()) - kDefaultGuardSize,
            first.base());
  const std::string range = Range(second);
  EXPECT_EXIT(
      {
        InstallOrExit();
        OverflowIn(std::move(second));
      },
      DiesOfSegv(), AllOf(ContainsRegex(kReport), HasSubstr(range)));
}

TEST_F(StackOverflowDeathTest, OverflowOnReusedPooledStack) {
  // 4: the stack comes back warm from the cache; 0: its memory was given back
  // to the system and it comes back cold.
  for (std::size_t max_cached : {std::size_t{4}, std::size_t{0}}) {
    StackPool pool = MustCreatePool(kStackSize, max_cached);
    PooledStack keep_slab_busy = MustAcquire(pool);
    void* limit;
    {
      PooledStack stack = MustAcquire(pool);
      limit = stack.limit();
      static_cast<volatile char*>(stack.base())[-1] = 1;  // Used, then freed.
    }
    PooledStack reused = MustAcquire(pool);
    ASSERT_EQ(reused.limit(), limit) << max_cached;
    const std::string range = Range(reused);
    EXPECT_EXIT(
        {
          InstallOrExit();
          OverflowIn(std::move(reused));
        },
        DiesOfSegv(), AllOf(ContainsRegex(kReport), HasSubstr(range)))
        << max_cached;
  }
}

TEST_F(StackOverflowDeathTest, TouchingAGuardPageDirectlyIsReported) {
  OsStack stack = MustCreateOsStack(kStackSize);
  const std::string range = Range(stack);
  EXPECT_EXIT(
      {
        InstallOrExit();
        *(static_cast<volatile char*>(stack.limit()) - 1) = 1;
      },
      DiesOfSegv(), AllOf(ContainsRegex(kReport), HasSubstr(range)));
}

// Spelled out rather than kDefaultGuardSize, so that this test fails with
// the one-page guard fringe used to have.
constexpr std::size_t kDeepestGuardByte =
    sizeof(void*) == 8 ? std::size_t{64} << 10 : std::size_t{16} << 10;

TEST_F(StackOverflowDeathTest, FaultDeepInTheGuardNamesTheStack) {
  OsStack stack = MustCreateOsStack(kStackSize);
  const std::string range = Range(stack);
  EXPECT_EXIT(
      {
        InstallOrExit();
        // The default guard's lowest byte (stack_test pins the default).
        *(static_cast<volatile char*>(stack.limit()) - kDeepestGuardByte) = 1;
      },
      DiesOfSegv(), AllOf(ContainsRegex(kReport), HasSubstr(range)));
}

TEST_F(StackOverflowDeathTest, BigFrameThatJumpsAPageIsReportedOnItsOwnStack) {
  // A frame of test_guards::kBigFrame bytes entered near the limit lands deep
  // in the guard of the stack it runs on; the report names that stack, not
  // the neighbour below whose top the frame would have reached past a
  // one-page guard.
  StackPool pool = MustCreatePool(kStackSize, 4);
  PooledStack lower = MustAcquire(pool);
  PooledStack upper = MustAcquire(pool);
  const std::string range = Range(upper);
  EXPECT_EXIT(
      {
        InstallOrExit();
        EnterBigFrameNearLimit(std::move(upper));
      },
      DiesOfSegv(),
      AllOf(ContainsRegex(kReport), HasSubstr(range),
            Not(HasSubstr(Range(lower.limit(), lower.base())))));
}

TEST_F(StackOverflowDeathTest, FaultsOutsideGuardPagesPrintNothing) {
  void* page = ::mmap(nullptr, kPage, PROT_NONE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  ASSERT_NE(page, MAP_FAILED);
  // Live stacks around, to show that the registry is consulted and says no.
  OsStack stack = MustCreateOsStack(kStackSize);
  StackPool pool = MustCreatePool(kStackSize, 4);
  PooledStack pooled = MustAcquire(pool);
  EXPECT_EXIT(
      {
        InstallOrExit();
        *static_cast<volatile char*>(page) = 1;
      },
      DiesOfSegv(), Not(HasSubstr("fringe:")));
  EXPECT_EXIT(
      {
        InstallOrExit();
        *LowAddress() = 1;
      },
      DiesOfSegv(), Not(HasSubstr("fringe:")));
  // Sent, not faulted: si_addr is no address at all.
  EXPECT_EXIT(
      {
        InstallOrExit();
        ::kill(::getpid(), SIGSEGV);
      },
      DiesOfSegv(), Not(HasSubstr("fringe:")));
  ::munmap(page, kPage);
}

void PreviousSigaction(int, siginfo_t*, void*) {
  constexpr char kMessage[] = "previous handler ran\n";
  (void)::write(STDERR_FILENO, kMessage, sizeof(kMessage) - 1);
  ::_exit(42);
}

void PreviousHandlerThatReturns(int) {
  constexpr char kMessage[] = "previous handler ran\n";
  (void)::write(STDERR_FILENO, kMessage, sizeof(kMessage) - 1);
}

void InstallPrevious(int flags, void (*sigaction_fn)(int, siginfo_t*, void*),
                     void (*handler_fn)(int)) {
  struct sigaction action = {};
  if (sigaction_fn != nullptr) {
    action.sa_sigaction = sigaction_fn;
  } else {
    action.sa_handler = handler_fn;
  }
  action.sa_flags = flags | SA_ONSTACK;
  sigemptyset(&action.sa_mask);
  if (::sigaction(SIGSEGV, &action, nullptr) != 0) std::_Exit(4);
}

TEST_F(StackOverflowDeathTest, ChainsToThePreviousSigactionAfterTheReport) {
  OsStack stack = MustCreateOsStack(kStackSize);
  EXPECT_EXIT(
      {
        InstallPrevious(SA_SIGINFO, PreviousSigaction, nullptr);
        InstallOrExit();
        OverflowIn(std::move(stack));
      },
      ExitedWithCode(42),
      ContainsRegex(std::string(kReport) + "(.*\n)*previous handler ran"));
}

TEST_F(StackOverflowDeathTest, ChainsSilentlyForFaultsOutsideGuardPages) {
  EXPECT_EXIT(
      {
        InstallPrevious(SA_SIGINFO, PreviousSigaction, nullptr);
        InstallOrExit();
        *LowAddress() = 1;
      },
      ExitedWithCode(42),
      AllOf(HasSubstr("previous handler ran"), Not(HasSubstr("fringe:"))));
}

TEST_F(StackOverflowDeathTest, PreviousHandlerThatReturnsCannotResumeOverflow) {
  // A plain sa_handler that returns: resuming the overflowing push would fault
  // again forever, so the process dies of the signal after one report.
  OsStack stack = MustCreateOsStack(kStackSize);
  EXPECT_EXIT(
      {
        InstallPrevious(0, nullptr, PreviousHandlerThatReturns);
        InstallOrExit();
        OverflowIn(std::move(stack));
      },
      DiesOfSegv(),
      AllOf(ContainsRegex(kReport), Occurrences("fringe: ", 1),
            Occurrences("previous handler ran", 1)));
}

TEST_F(StackOverflowDeathTest, InstallingTwiceReportsOnce) {
  OsStack stack = MustCreateOsStack(kStackSize);
  EXPECT_EXIT(
      {
        InstallOrExit();
        InstallOrExit();
        // And from another thread: the handler is still installed only once.
        std::thread([] { InstallOrExit(); }).join();
        OverflowIn(std::move(stack));
      },
      DiesOfSegv(), AllOf(ContainsRegex(kReport), Occurrences("fringe: ", 1)));
}

// Exits 0 if this thread has an enabled alternate signal stack of at least
// 64 KiB, else says what it found and exits 1.
void CheckAltStackOrExit(const char* who) {
  stack_t current;
  if (::sigaltstack(nullptr, &current) != 0 ||
      (current.ss_flags & SS_DISABLE) != 0 || current.ss_size < (64 << 10)) {
    std::fprintf(stderr, "%s: flags %d, size %zu\n", who, current.ss_flags,
                 current.ss_size);
    std::_Exit(1);
  }
}

TEST_F(StackOverflowDeathTest, EveryThreadThatInstallsGetsA64KiBAltStack) {
  FRINGE_SKIP_WITHOUT_THREADS();
  EXPECT_EXIT(
      {
        InstallOrExit();
        CheckAltStackOrExit("installing thread");
        std::thread([] {
          stack_t before;
          // New threads start without one (POSIX: not inherited).
          if (::sigaltstack(nullptr, &before) != 0 ||
              (before.ss_flags & SS_DISABLE) == 0) {
            std::_Exit(2);
          }
          InstallOrExit();
          CheckAltStackOrExit("second thread");
        }).join();
        std::_Exit(0);
      },
      ExitedWithCode(0), "");
}

TEST_F(StackOverflowDeathTest, OverflowOnAnotherThreadThatInstalledIsReported) {
  FRINGE_SKIP_WITHOUT_THREADS();
  OsStack stack = MustCreateOsStack(kStackSize);
  const std::string range = Range(stack);
  EXPECT_EXIT(
      {
        InstallOrExit();
        std::thread([&stack] {
          InstallOrExit();
          OverflowIn(std::move(stack));
        }).join();
      },
      DiesOfSegv(), AllOf(ContainsRegex(kReport), HasSubstr(range)));
}

}  // namespace
}  // namespace fringe

#if defined(__SANITIZE_ADDRESS__)
// ASan has its own SIGSEGV handler and alternate stacks (and reports stack
// overflows itself); these tests are about fringe's handler, so keep ASan's
// out of the way. Options from ASAN_OPTIONS still apply on top.
extern "C" const char* __asan_default_options() {
  return "handle_segv=0:handle_sigbus=0:use_sigaltstack=0";
}
#endif
