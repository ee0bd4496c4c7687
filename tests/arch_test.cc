// Tests of the raw context switch in fringe/arch, on the CPU being built for.

#include "fringe/arch/switch.h"

#include <dlfcn.h>
#include <execinfo.h>
#include <unwind.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace fringe::arch_internal {
namespace {

// A stack for a test context: heap memory, 16-byte aligned base.
class TestStack {
 public:
  explicit TestStack(std::size_t size = 256 * 1024)
      : memory_(new std::uintptr_t[size / sizeof(std::uintptr_t)]),
        size_(size) {}
  void* base() const {
    return reinterpret_cast<char*>(memory_.get()) + size_;
  }

 private:
  std::unique_ptr<std::uintptr_t[]> memory_;
  std::size_t size_;
};

// Echo context: answers every word w with w + 1, forever.
[[noreturn]] void EchoPlusOne(std::uintptr_t arg, StackPointer resumer,
                              void*) {
  for (;;) {
    Transfer t = Switch(arg + 1, resumer);
    arg = t.arg;
    resumer = t.from;
  }
}

TEST(ArchTest, WordsPassBothWaysAcrossManySwitches) {
  TestStack stack;
  StackPointer sp = InitStack(stack.base(), EchoPlusOne, nullptr);
  for (std::uintptr_t i = 0; i < 100000; ++i) {
    Transfer t = SwitchAndLink(i * 3, sp, stack.base());
    ASSERT_EQ(t.arg, i * 3 + 1);
    sp = t.from;
  }
}

TEST(ArchTest, EntryReceivesContextAndFirstWord) {
  struct Seen {
    std::uintptr_t arg = 0;
    void* context = nullptr;
  } seen;
  TestStack stack;
  StackPointer sp = InitStack(
      stack.base(),
      [](std::uintptr_t arg, StackPointer resumer, void* context) {
        auto* s = static_cast<Seen*>(context);
        s->arg = arg;
        s->context = context;
        Switch(0, resumer);
        __builtin_trap();  // Never resumed again.
      },
      &seen);
  SwitchAndLink(42, sp, stack.base());
  EXPECT_EQ(seen.arg, 42u);
  EXPECT_EQ(seen.context, &seen);
}

// Overwrites every general-purpose and vector register the ABI lets the
// switch clobber, then switches back; a value the compiler kept in a register
// across the switch would be destroyed if the clobber list missed it.
[[noreturn]] void Scrambler(std::uintptr_t, StackPointer resumer, void*) {
  for (;;) {
#if defined(__x86_64__)
    asm volatile(
        "movq $-1, %%rax\n\tmovq $-1, %%rbx\n\tmovq $-1, %%rcx\n\t"
        "movq $-1, %%rdx\n\tmovq $-1, %%rsi\n\tmovq $-1, %%r8\n\t"
        "movq $-1, %%r9\n\tmovq $-1, %%r10\n\tmovq $-1, %%r11\n\t"
        "movq $-1, %%r12\n\tmovq $-1, %%r13\n\tmovq $-1, %%r14\n\t"
        "movq $-1, %%r15\n\t"
        "pcmpeqd %%xmm0, %%xmm0\n\tpcmpeqd %%xmm1, %%xmm1\n\t"
        "pcmpeqd %%xmm2, %%xmm2\n\tpcmpeqd %%xmm3, %%xmm3\n\t"
        "pcmpeqd %%xmm4, %%xmm4\n\tpcmpeqd %%xmm5, %%xmm5\n\t"
        "pcmpeqd %%xmm6, %%xmm6\n\tpcmpeqd %%xmm7, %%xmm7\n\t"
        "pcmpeqd %%xmm8, %%xmm8\n\tpcmpeqd %%xmm9, %%xmm9\n\t"
        "pcmpeqd %%xmm10, %%xmm10\n\tpcmpeqd %%xmm11, %%xmm11\n\t"
        "pcmpeqd %%xmm12, %%xmm12\n\tpcmpeqd %%xmm13, %%xmm13\n\t"
        "pcmpeqd %%xmm14, %%xmm14\n\tpcmpeqd %%xmm15, %%xmm15\n\t" ::
            : "rax", "rbx", "rcx", "rdx", "rsi", "r8", "r9", "r10", "r11",
              "r12", "r13", "r14", "r15", "xmm0", "xmm1", "xmm2", "xmm3",
              "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10",
              "xmm11", "xmm12", "xmm13", "xmm14", "xmm15");
#endif
    resumer = Switch(0, resumer).from;
  }
}

// Not inlined, so that values live in the test across the call must sit in
// callee-saved registers or the test's frame: the switch inside clobbers the
// former, so this function must save them.
__attribute__((noinline)) StackPointer RoundTrip(StackPointer sp, void* base) {
  return SwitchAndLink(0, sp, base).from;
}

TEST(ArchTest, CalleeSavedRegistersSurviveASwitchInACallee) {
  TestStack stack;
  StackPointer sp = InitStack(stack.base(), Scrambler, nullptr);
  volatile std::uint64_t seed = 0x9e3779b97f4a7c15;
  std::uint64_t a = seed, b = a * 3, c = b ^ 7, d = c + 11, e = d * 13,
                f = e ^ 17;
  for (int i = 0; i < 100; ++i) {
    sp = RoundTrip(sp, stack.base());
    a += 1, b += 2, c += 3, d += 4, e += 5, f += 6;
  }
  std::uint64_t s = seed;
  EXPECT_EQ(a, s + 100);
  EXPECT_EQ(b, s * 3 + 200);
  EXPECT_EQ(c, ((s * 3) ^ 7) + 300);
  EXPECT_EQ(d, ((s * 3) ^ 7) + 11 + 400);
  EXPECT_EQ(e, (((s * 3) ^ 7) + 11) * 13 + 500);
  EXPECT_EQ(f, ((((s * 3) ^ 7) + 11) * 13 ^ 17) + 600);
}

TEST(ArchTest, FloatingPointValuesLiveAcrossAnInlinedSwitchSurvive) {
  TestStack stack;
  StackPointer sp = InitStack(stack.base(), Scrambler, nullptr);
  volatile double seed = 1.25;
  double v[12];
  for (int k = 0; k < 12; ++k) v[k] = seed * (k + 1);
  double x0 = v[0], x1 = v[1], x2 = v[2], x3 = v[3], x4 = v[4], x5 = v[5],
         x6 = v[6], x7 = v[7], x8 = v[8], x9 = v[9], x10 = v[10], x11 = v[11];
  for (int i = 0; i < 50; ++i) {
    sp = SwitchAndLink(0, sp, stack.base()).from;
    x0 += 1, x1 += 1, x2 += 1, x3 += 1, x4 += 1, x5 += 1;
    x6 += 1, x7 += 1, x8 += 1, x9 += 1, x10 += 1, x11 += 1;
  }
  double got[12] = {x0, x1, x2, x3, x4, x5, x6, x7, x8, x9, x10, x11};
  for (int k = 0; k < 12; ++k) EXPECT_EQ(got[k], 1.25 * (k + 1) + 50) << k;
}

TEST(ArchTest, NewStackIsSixteenByteAlignedAtEntryAndAcrossSwitches) {
  TestStack stack;
  std::uintptr_t misaligned = 0;
  StackPointer sp = InitStack(
      stack.base(),
      [](std::uintptr_t, StackPointer resumer, void* context) {
        auto* misaligned = static_cast<std::uintptr_t*>(context);
        for (;;) {
          // movaps faults on an address that is not 16-byte aligned; the
          // compiler places `slot` relying on the ABI's alignment at entry.
          alignas(16) float slot[4];
          asm volatile("xorps %%xmm0, %%xmm0\n\tmovaps %%xmm0, %0"
                       : "=m"(slot)
                       :
                       : "xmm0");
          *misaligned |= reinterpret_cast<std::uintptr_t>(&slot) % 16;
          resumer = Switch(0, resumer).from;
        }
      },
      &misaligned);
  for (int i = 0; i < 3; ++i) sp = SwitchAndLink(0, sp, stack.base()).from;
  EXPECT_EQ(misaligned, 0u);
}

// Unwinding from the new stack: the caller that switched must appear.
std::vector<std::string> SymbolsOf(void* const* pcs, int n) {
  std::vector<std::string> names;
  for (int i = 0; i < n; ++i) {
    Dl_info info;
    if (dladdr(pcs[i], &info) && info.dli_sname) {
      names.push_back(info.dli_sname);
    }
  }
  return names;
}

bool Contains(const std::vector<std::string>& v, const std::string& s) {
  for (const auto& x : v) {
    if (x == s) return true;
  }
  return false;
}

struct Backtraces {
  std::vector<std::string> from_backtrace;
  std::vector<std::string> from_unwind;
};

_Unwind_Reason_Code CollectPc(_Unwind_Context* context, void* arg) {
  auto* pcs = static_cast<std::vector<void*>*>(arg);
  pcs->push_back(reinterpret_cast<void*>(_Unwind_GetIP(context)));
  return pcs->size() < 64 ? _URC_NO_REASON : _URC_END_OF_STACK;
}

[[noreturn]] void TakeBacktraces(std::uintptr_t, StackPointer resumer,
                                 void* context) {
  auto* out = static_cast<Backtraces*>(context);
  void* pcs[64];
  int n = backtrace(pcs, 64);
  out->from_backtrace = SymbolsOf(pcs, n);
  std::vector<void*> unwound;
  _Unwind_Backtrace(CollectPc, &unwound);
  out->from_unwind = SymbolsOf(unwound.data(), static_cast<int>(unwound.size()));
  Switch(0, resumer);
  __builtin_trap();
}

extern "C" __attribute__((noinline)) void FringeTestSwitchIntoBacktracer(
    Backtraces* out) {
  TestStack stack;
  StackPointer sp = InitStack(stack.base(), TakeBacktraces, out);
  SwitchAndLink(0, sp, stack.base());
  asm volatile("");  // Keeps the call above from being a tail call.
}

TEST(ArchTest, BacktraceOnNewStackReachesTheSwitchingCaller) {
  Backtraces traces;
  FringeTestSwitchIntoBacktracer(&traces);
  EXPECT_TRUE(Contains(traces.from_backtrace, "FringeTestSwitchIntoBacktracer"))
      << ::testing::PrintToString(traces.from_backtrace);
  EXPECT_TRUE(Contains(traces.from_backtrace, "main"))
      << ::testing::PrintToString(traces.from_backtrace);
  EXPECT_TRUE(Contains(traces.from_unwind, "FringeTestSwitchIntoBacktracer"))
      << ::testing::PrintToString(traces.from_unwind);
  EXPECT_TRUE(Contains(traces.from_unwind, "main"))
      << ::testing::PrintToString(traces.from_unwind);
}

TEST(ArchTest, BacktraceCrossesNestedStacks) {
  // The outer context switches into an inner one, which takes the trace: it
  // must walk inner -> outer -> the test's own frames.
  struct Nest {
    TestStack inner_stack;
    Backtraces traces;
  } nest;
  TestStack outer_stack;
  StackPointer sp = InitStack(
      outer_stack.base(),
      [](std::uintptr_t, StackPointer resumer, void* context) {
        auto* nest = static_cast<Nest*>(context);
        StackPointer inner =
            InitStack(nest->inner_stack.base(), TakeBacktraces, &nest->traces);
        SwitchAndLink(0, inner, nest->inner_stack.base());
        Switch(0, resumer);
        __builtin_trap();
      },
      &nest);
  SwitchAndLink(0, sp, outer_stack.base());
  EXPECT_TRUE(Contains(nest.traces.from_unwind, "main"))
      << ::testing::PrintToString(nest.traces.from_unwind);
}

TEST(ArchTest, ExceptionThrownAndCaughtOnNewStackWorks) {
  struct Result {
    std::string message;
    int caught = 0;
  } result;
  TestStack stack;
  StackPointer sp = InitStack(
      stack.base(),
      [](std::uintptr_t, StackPointer resumer, void* context) {
        auto* result = static_cast<Result*>(context);
        for (int i = 0; i < 3; ++i) {
          try {
            throw std::runtime_error("thrown on the new stack #" +
                                     std::to_string(i));
          } catch (const std::runtime_error& e) {
            result->message = e.what();
            ++result->caught;
          }
          resumer = Switch(0, resumer).from;
        }
        __builtin_trap();
      },
      &result);
  for (int i = 0; i < 3; ++i) sp = SwitchAndLink(0, sp, stack.base()).from;
  EXPECT_EQ(result.caught, 3);
  EXPECT_EQ(result.message, "thrown on the new stack #2");
}

}  // namespace
}  // namespace fringe::arch_internal
