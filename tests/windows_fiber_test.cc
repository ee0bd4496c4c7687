// What fringe's Windows backend assumes of the Windows fiber API, checked
// where the tests run (Wine here, Windows anywhere else): a thread converted
// to a fiber switches to a fiber and back, the TIB names the running fiber's
// stack, and a C++ exception thrown and caught on a fiber stays there.

#include <windows.h>

#include <stdexcept>

#include "gtest/gtest.h"

namespace {

struct Probe {
  void* main_fiber = nullptr;
  void* stack_base = nullptr;
  void* stack_limit = nullptr;
  void* local = nullptr;
  bool caught = false;
};

void WINAPI ProbeMain(void* param) {
  auto* probe = static_cast<Probe*>(param);
  auto* tib = reinterpret_cast<NT_TIB*>(NtCurrentTeb());
  probe->stack_base = tib->StackBase;
  probe->stack_limit = tib->StackLimit;
  int local = 0;
  probe->local = &local;
  try {
    throw std::runtime_error("on a fiber");
  } catch (const std::runtime_error&) {
    probe->caught = true;
  }
  SwitchToFiber(probe->main_fiber);
}

TEST(WindowsFiberTest, TibDescribesTheRunningFibersStack) {
  Probe probe;
  probe.main_fiber = ConvertThreadToFiber(nullptr);
  ASSERT_NE(probe.main_fiber, nullptr) << GetLastError();
  void* fiber = CreateFiberEx(0, 256 << 10, 0, &ProbeMain, &probe);
  ASSERT_NE(fiber, nullptr) << GetLastError();
  SwitchToFiber(fiber);
  EXPECT_TRUE(probe.caught);
  EXPECT_LT(probe.stack_limit, probe.local);
  EXPECT_LT(probe.local, probe.stack_base);
  auto* tib = reinterpret_cast<NT_TIB*>(NtCurrentTeb());
  int here = 0;
  EXPECT_TRUE(tib->StackLimit < static_cast<void*>(&here) &&
              static_cast<void*>(&here) < tib->StackBase)
      << "the TIB still names the fiber's stack after switching back";
  DeleteFiber(fiber);
  EXPECT_TRUE(ConvertFiberToThread());
}

}  // namespace
