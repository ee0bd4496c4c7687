// Windows fiber stacks (fiber_stack.h): creation, the fiber's main loop, and
// the switch itself (SwitchToFiber).

#include "fringe/stack/internal/fiber_stack.h"

#include <malloc.h>  // alloca
#include <windows.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <new>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace fringe::stack_internal {
namespace {

constexpr std::size_t kPage = 4096;

// Room above base() for what runs there: FiberMain's own frame below its
// frame address, Wait() with SwitchToFiber's frames while the fiber waits,
// and Run()'s frame. Under Wine 8 an unoptimised build needs between 256
// bytes and 1 KiB (//tests:windows_generator_test crashes with 256 and
// passes with 1024); four times that leaves room for other builds and for
// Windows' own SwitchToFiber.
constexpr std::size_t kWaitRoom = 4096;
// Room for the OS's fiber start frames and FiberMain (above kWaitRoom).
constexpr std::size_t kTopRoom = 16 << 10;

[[noreturn]] void Fatal(const char* message) {
  std::fprintf(stderr, "fringe: %s\n", message);
  std::fflush(stderr);
  std::abort();
}

std::uintptr_t RoundUp(std::uintptr_t value, std::uintptr_t to) {
  return (value + to - 1) & ~(to - 1);
}

// Waits for the fiber's next generator: first hands the last switch's word
// to its target (the creator, the first time). Returns once a generator's
// first switch came in.
[[gnu::noinline]] void Wait(FiberStack* stack) {
  FiberContext* to = stack->last_to;
  to->arg = stack->last_arg;
  to->from = &stack->context;
  stack->waiting = true;
  SwitchToFiber(to->fiber);
  stack->waiting = false;
}

// Runs the generator's entry with its frames below frames_base: the
// control block above it, up to base(), stays inside this frame's alloca
// block, which nothing writes to. (The alloca probes each page it spans,
// rewriting each probed byte with its own value.)
[[gnu::noinline, noreturn]] void Run(FiberStack* stack) {
  auto here = reinterpret_cast<std::uintptr_t>(__builtin_frame_address(0));
  std::size_t drop =
      here - reinterpret_cast<std::uintptr_t>(stack->frames_base);
  void* volatile room = alloca(drop);
  (void)room;
  stack->entry(stack->context.arg, stack->context.from, stack->entry_context);
  Fatal("a generator's entry function returned");
}

void WINAPI FiberMain(void* parameter) {
  auto* stack = static_cast<FiberStack*>(parameter);
  auto top = reinterpret_cast<std::uintptr_t>(__builtin_frame_address(0));
  stack->base =
      reinterpret_cast<void*>((top - kWaitRoom) & ~std::uintptr_t{15});
  // The stack's lowest usable byte: what the TIB names (Windows: the lowest
  // committed page, above the guard page), but no lower than the allocation
  // base plus the guard asked for (Wine commits everything above its own
  // one-page guard).
  auto* tib = reinterpret_cast<NT_TIB*>(NtCurrentTeb());
  MEMORY_BASIC_INFORMATION info;
  std::uintptr_t allocation_base = 0;
  if (VirtualQuery(&info, &info, sizeof(info)) != 0) {
    allocation_base = reinterpret_cast<std::uintptr_t>(info.AllocationBase);
  }
  stack->limit = reinterpret_cast<void*>(std::max(
      reinterpret_cast<std::uintptr_t>(tib->StackLimit),
      allocation_base + stack->guard));
  // Every generator's last switch comes back here (FinishOnFiber).
  __builtin_setjmp(stack->wait_point);
  // Read again: registers do not survive the longjmp.
  stack = static_cast<FiberStack*>(GetFiberData());
  Wait(stack);
  Run(stack);
}

}  // namespace

absl::StatusOr<FiberStack*> FiberStack::Create(std::string_view who,
                                               std::size_t size,
                                               std::size_t guard_size) {
  if (size == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(who, ": size must be positive"));
  }
  if (guard_size == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(who, ": guard_size must be positive"));
  }
  // Reserve = guard + usable + room at the top, each in whole pages; Windows
  // rounds the reserve up to its 64 KiB allocation granularity.
  // 64 TiB: far beyond what any address space here can reserve.
  constexpr std::size_t kMax = std::size_t{1} << 46;
  if (size > kMax || guard_size > kMax) {
    return absl::InvalidArgumentError(absl::StrCat(
        who,
        ": size plus guard_size, each rounded up to whole pages, does not fit "
        "in the address space"));
  }
  const std::size_t commit = RoundUp(size, kPage) + kTopRoom + kWaitRoom;
  const std::size_t guard = RoundUp(guard_size, kPage);
  auto* stack = new FiberStack;
  stack->guard = guard;
  void* fiber = CreateFiberEx(commit, commit + guard, 0, &FiberMain, stack);
  if (fiber == nullptr) {
    const DWORD error = GetLastError();
    delete stack;
    return absl::ResourceExhaustedError(
        absl::StrCat(who, ": CreateFiberEx of a ", commit + guard,
                     "-byte stack failed: Windows error ", error));
  }
  stack->context.fiber = fiber;
  // Run it up to where it waits: that measures base() and limit().
  FiberContext creator{CurrentFiberConvertingThread(), 0, nullptr};
  stack->last_to = &creator;
  SwitchToFiber(fiber);
  if (reinterpret_cast<std::uintptr_t>(stack->base) <
      reinterpret_cast<std::uintptr_t>(stack->limit) + size) {
    const std::size_t got =
        reinterpret_cast<std::uintptr_t>(stack->base) <
                reinterpret_cast<std::uintptr_t>(stack->limit)
            ? 0
            : static_cast<char*>(stack->base) -
                  static_cast<char*>(stack->limit);
    Destroy(stack);
    return absl::ResourceExhaustedError(
        absl::StrCat(who, ": the fiber's stack has ", got,
                     " usable bytes, fewer than asked for"));
  }
  // Exactly the size asked for (in whole pages), as elsewhere; whatever the
  // OS gave beyond it stays below limit(), as more reserve above its guard.
  stack->limit = static_cast<char*>(stack->base) - RoundUp(size, kPage);
  return stack;
}

void FiberStack::Destroy(FiberStack* stack) {
  DeleteFiber(stack->context.fiber);
  delete stack;
}

FiberContext* FiberStack::Start(void* frames_base_in, FiberEntry entry_in,
                                void* context_in) {
  if (!waiting) {
    Fatal(
        "Generator: this stack's fiber is still inside the generator whose "
        "stack it was (the stack came from Abandon() of a suspended "
        "generator), and on Windows a fiber cannot be reset; destroy the "
        "stack instead of reusing it");
  }
  frames_base = frames_base_in;
  entry = entry_in;
  entry_context = context_in;
  return &context;
}

void* CurrentFiberConvertingThread() {
  if (IsThreadAFiber()) return GetCurrentFiber();
  void* fiber = ConvertThreadToFiber(nullptr);
  if (fiber == nullptr) {
    Fatal(
        "ConvertThreadToFiber failed: this thread cannot resume a generator "
        "(Windows runs generators as fibers)");
  }
  return fiber;
}

void SwitchToContext(FiberContext* to) { SwitchToFiber(to->fiber); }

void FinishOnFiber(std::uintptr_t arg, FiberContext* to) {
  auto* stack = static_cast<FiberStack*>(GetFiberData());
  stack->last_to = to;
  stack->last_arg = arg;
  __builtin_longjmp(stack->wait_point, 1);
}

}  // namespace fringe::stack_internal
