#include "fringe/debug/stack_overflow.h"

#include <cxxabi.h>
#include <dlfcn.h>
#include <execinfo.h>
#include <signal.h>
#include <unistd.h>
#include <unwind.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <optional>

#include "absl/base/attributes.h"
#include "absl/base/const_init.h"
#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "fringe/arch/switch.h"
#include "fringe/debug/internal/resume_context.h"
#include "fringe/generator/internal/stack_record.h"
#include "fringe/stack/guard_registry.h"
#include "fringe/stack/internal/guarded_mapping.h"
#include "fringe/stack/stack.h"

namespace fringe {
namespace {

constexpr std::size_t kMinAltStackSize = std::size_t{64} << 10;

// --- State -------------------------------------------------------------------

ABSL_CONST_INIT absl::Mutex install_mutex(absl::kConstInit);
bool handler_installed ABSL_GUARDED_BY(install_mutex) = false;

// What SIGSEGV and SIGBUS did before us. Filled in before our handler is
// installed and never written again, so the handler reads them without a lock.
struct sigaction previous_segv;
struct sigaction previous_bus;

// --- Async-signal-safe output ------------------------------------------------

// A fixed buffer filled without allocating; what the handler prints with.
class Line {
 public:
  Line& Append(const char* text) {
    while (*text != '\0' && length_ < sizeof(buffer_))
      buffer_[length_++] = *text++;
    return *this;
  }
  Line& AppendHex(std::uintptr_t value) {
    char digits[2 * sizeof(value)];
    int n = 0;
    do {
      digits[n++] = "0123456789abcdef"[value % 16];
      value /= 16;
    } while (value != 0);
    while (n > 0 && length_ < sizeof(buffer_)) buffer_[length_++] = digits[--n];
    return *this;
  }
  Line& AppendDecimal(std::size_t value) {
    char digits[3 * sizeof(value)];
    int n = 0;
    do {
      digits[n++] = static_cast<char>('0' + value % 10);
      value /= 10;
    } while (value != 0);
    while (n > 0 && length_ < sizeof(buffer_)) buffer_[length_++] = digits[--n];
    return *this;
  }
  // One write(2) when possible, so that the line is not interleaved with
  // other threads' output.
  void WriteTo(int fd) const {
    std::size_t done = 0;
    while (done < length_) {
      const ssize_t n = ::write(fd, buffer_ + done, length_ - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return;
      done += static_cast<std::size_t>(n);
    }
  }

 private:
  char buffer_[1024];  // Demangled template names are long.
  std::size_t length_ = 0;
};

void PrintReport(const GuardedStack& stack) {
  Line()
      .Append("fringe: stack overflow in generator: stack [0x")
      .AppendHex(reinterpret_cast<std::uintptr_t>(stack.limit))
      .Append(", 0x")
      .AppendHex(reinterpret_cast<std::uintptr_t>(stack.base))
      .Append(") of ")
      .AppendDecimal(stack.size)
      .Append(" bytes\n")
      .WriteTo(STDERR_FILENO);
  // Not prefixed "fringe:": the report is one such line however long.
  Line()
      .Append("    fix: create the stack bigger than ")
      .AppendDecimal(stack.size)
      .Append(
          " bytes (OsStack::Create(size), StackPool::Create(size, ...)),"
          " or call InstallStackOverflowHandler({.recover = true}) so "
          "that an overflow ends only the generator\n")
      .WriteTo(STDERR_FILENO);
}

// --- Backtrace ---------------------------------------------------------------

// The faulting thread's frames, captured with fixed memory however deep the
// stack: runs of one return address (what a runaway recursion leaves) are
// counted, not stored, and only the innermost kInnerRuns and the outermost
// kOuterRuns runs are kept, so that the frames that started the recursion,
// down through __morestack into the resumer's frames and main, still print.
struct Run {
  std::uintptr_t ip;
  bool before_insn;  // ip is the faulting instruction (a signal frame).
  std::size_t count;
};
constexpr int kInnerRuns = 48;
constexpr int kOuterRuns = 48;
// Enough for any real stack; a cycle in corrupt unwind data stops here.
constexpr std::size_t kMaxFrames = std::size_t{1} << 22;

struct Capture {
  Run inner[kInnerRuns];
  int inner_count = 0;
  Run outer[kOuterRuns];       // A ring: the last kOuterRuns runs after inner.
  std::size_t outer_runs = 0;  // Runs that went into the ring.
  Run* last = nullptr;
  std::size_t frames = 0;
};

_Unwind_Reason_Code CaptureFrame(_Unwind_Context* context, void* arg) {
  auto& capture = *static_cast<Capture*>(arg);
  int before_insn = 0;
  const std::uintptr_t ip = _Unwind_GetIPInfo(context, &before_insn);
  if (ip == 0) return _URC_END_OF_STACK;
  if (++capture.frames > kMaxFrames) return _URC_END_OF_STACK;
  if (capture.last != nullptr && capture.last->ip == ip) {
    ++capture.last->count;
    return _URC_NO_REASON;
  }
  Run& run = capture.inner_count < kInnerRuns
                 ? capture.inner[capture.inner_count++]
                 : capture.outer[capture.outer_runs++ % kOuterRuns];
  run = {ip, before_insn != 0, 1};
  capture.last = &run;
  return _URC_NO_REASON;
}

// Where a frame's code is: the call instruction for a return address, which
// may be the last one of its function (a call to a noreturn function).
const void* CodeAddress(const Run& run) {
  return reinterpret_cast<const void*>(run.before_insn ? run.ip : run.ip - 1);
}

// __cxa_demangle allocates, so the report leaves names mangled when the
// overflow struck inside the allocator, whose lock this thread may hold.
bool InAllocator(const Capture& capture) {
  static constexpr const char* kAllocator[] = {
      "malloc",      "calloc",          "realloc",        "free",
      "memalign",    "aligned_alloc",   "posix_memalign", "valloc",
      "pvalloc",     "__libc_malloc",   "__libc_calloc",  "__libc_realloc",
      "__libc_free", "__libc_memalign", "reallocarray",
  };
  for (int i = 0; i < capture.inner_count; ++i) {
    Dl_info info;
    if (::dladdr(CodeAddress(capture.inner[i]), &info) == 0 ||
        info.dli_sname == nullptr) {
      continue;
    }
    for (const char* name : kAllocator) {
      if (std::strcmp(info.dli_sname, name) == 0) return true;
    }
  }
  return false;
}

// One line per run: "    #3 0x55d1... in ns::Function(int)+0x1c (./binary)",
// or "(./binary+0x1234)" where the code has no dynamic symbol (link with
// -rdynamic), then the run's repeat count if any.
void PrintRun(const Run& run, std::size_t number, bool demangle) {
  Line line;
  line.Append("    #").AppendDecimal(number).Append(" 0x").AppendHex(run.ip);
  Dl_info info;
  const bool found = ::dladdr(CodeAddress(run), &info) != 0;
  if (found && info.dli_sname != nullptr && info.dli_saddr != nullptr) {
    char* demangled = nullptr;
    if (demangle && info.dli_sname[0] == '_' && info.dli_sname[1] == 'Z') {
      int status = -1;
      demangled =
          abi::__cxa_demangle(info.dli_sname, nullptr, nullptr, &status);
      if (status != 0) demangled = nullptr;
    }
    line.Append(" in ")
        .Append(demangled != nullptr ? demangled : info.dli_sname)
        .Append("+0x")
        .AppendHex(run.ip - reinterpret_cast<std::uintptr_t>(info.dli_saddr));
    std::free(demangled);
    if (info.dli_fname != nullptr) {
      line.Append(" (").Append(info.dli_fname).Append(")");
    }
  } else if (found && info.dli_fname != nullptr) {
    line.Append(" (")
        .Append(info.dli_fname)
        .Append("+0x")
        .AppendHex(run.ip - reinterpret_cast<std::uintptr_t>(info.dli_fbase))
        .Append(")");
  }
  line.Append("\n").WriteTo(STDERR_FILENO);
  if (run.count > 1) {
    Line()
        .Append("    ... the frame above repeated ")
        .AppendDecimal(run.count - 1)
        .Append(" more times\n")
        .WriteTo(STDERR_FILENO);
  }
}

// The faulting thread's backtrace, innermost first (this handler, the
// kernel's signal trampoline, then the code that overflowed, its callers on
// the generator's stack, and through the generator's link the frames of the
// code that resumed it).
void PrintBacktrace() {
  // A few KiB of the (at least 64 KiB) alternate signal stack: no shared
  // state, so threads that overflow at once each print their own.
  Capture capture;
  _Unwind_Backtrace(CaptureFrame, &capture);
  const bool demangle = !InAllocator(capture);
  std::size_t number = 0;
  std::size_t shown = 0;
  for (int i = 0; i < capture.inner_count; ++i) {
    PrintRun(capture.inner[i], number, demangle);
    number += capture.inner[i].count;
    shown += capture.inner[i].count;
  }
  const std::size_t kept =
      capture.outer_runs < kOuterRuns ? capture.outer_runs : kOuterRuns;
  const std::size_t first = capture.outer_runs - kept;
  for (std::size_t i = first; i < capture.outer_runs; ++i) {
    shown += capture.outer[i % kOuterRuns].count;
  }
  if (first > 0) {
    Line()
        .Append("    ... ")
        .AppendDecimal(capture.frames - shown)
        .Append(" frames not shown\n")
        .WriteTo(STDERR_FILENO);
    number += capture.frames - shown;
  }
  for (std::size_t i = first; i < capture.outer_runs; ++i) {
    const Run& run = capture.outer[i % kOuterRuns];
    PrintRun(run, number, demangle);
    number += run.count;
  }
  if (capture.frames > kMaxFrames) {
    Line().Append("    ... (outer frames not shown)\n").WriteTo(STDERR_FILENO);
  }
  if (!demangle) {
    Line()
        .Append(
            "    (names left mangled: the overflow struck inside the "
            "allocator)\n")
        .WriteTo(STDERR_FILENO);
  }
}

// --- Chaining ----------------------------------------------------------------

// Makes the process die of `signal` as if no handler had ever been installed:
// the signal is blocked while its handler runs, so the raise() stays pending
// until the handler returns and then takes the default action (terminate,
// with a core dump where enabled). A fault from a real access would repeat on
// return anyway; raise() covers signals sent with kill(2).
void DieOfDefaultAction(int signal) {
  struct sigaction default_action = {};
  default_action.sa_handler = SIG_DFL;
  sigemptyset(&default_action.sa_mask);
  ::sigaction(signal, &default_action, nullptr);
  ::raise(signal);
}

void Chain(int signal, siginfo_t* info, void* context, bool overflow) {
  const struct sigaction& previous =
      signal == SIGBUS ? previous_bus : previous_segv;
  // SIG_IGN too: the kernel does not let a fault be ignored.
  if (previous.sa_handler == SIG_DFL || previous.sa_handler == SIG_IGN) {
    DieOfDefaultAction(signal);
    return;
  }
  // As the kernel would have set it up for the previous handler; returning
  // from ours restores the interrupted code's mask either way.
  ::pthread_sigmask(SIG_BLOCK, &previous.sa_mask, nullptr);
  if ((previous.sa_flags & SA_SIGINFO) != 0) {
    previous.sa_sigaction(signal, info, context);
  } else {
    previous.sa_handler(signal);
  }
  // The previous handler returned, meaning it handled the fault (e.g. it maps
  // memory on demand). Not so for an overflow: returning would re-run the
  // faulting store into the guard, and this handler, forever.
  if (overflow) DieOfDefaultAction(signal);
}

// --- Recovery ----------------------------------------------------------------

std::atomic<bool> recover{false};

// The word in a generator's link slot (fringe/arch/switch.h): where the
// context that last resumed it suspended (see ContextFromLink).
void* ResumerOf(const generator_internal::ToolState& state) {
  return *arch_internal::LinkSlot(state.frames_base);
}

// An overflow of a generator running on this thread: returns from the
// handler into the generator's resumer, as if the body had switched back
// with generator_internal::kOverflowedWord (Generator::Run takes it from
// there). False if the fault is not that: a guard of a stack no generator
// runs on, or another thread's stack.
bool Recover(const GuardedStack& stack, void* context) {
  if (!recover.load(std::memory_order_relaxed) || context == nullptr) {
    return false;
  }
  const generator_internal::StackRecord* record =
      generator_internal::RecordOf(stack.base);
  if (record->magic != generator_internal::kStackRecordMagic) return false;
  const generator_internal::ToolState* state = record->state;
  const auto limit = reinterpret_cast<std::uintptr_t>(stack.limit);
  const auto base = reinterpret_cast<std::uintptr_t>(stack.base);
  const auto state_at = reinterpret_cast<std::uintptr_t>(state);
  if (state_at < limit || state_at >= base) return false;
  // The faulting code runs on this stack (or just below it, in the guard):
  // the generator is running, on this thread.
  auto& uc = *static_cast<ucontext_t*>(context);
  const std::uintptr_t sp = debug_internal::StackPointerOf(uc);
  if (sp >= base || sp + (std::uintptr_t{1} << 24) < limit) return false;
  void* link = ResumerOf(*state);
  if (link == nullptr) return false;
  return debug_internal::ResumeSuspendedContext(
      uc, debug_internal::ContextFromLink(link),
      generator_internal::kOverflowedWord);
}

void OnFault(int signal, siginfo_t* info, void* context) {
  const int saved_errno = errno;
  // si_code > 0: raised by the kernel for an access, so si_addr is the
  // faulting address (for kill(2) and friends it holds the sender's pid).
  std::optional<GuardedStack> stack;
  if (info != nullptr && info->si_code > 0) stack = FindGuard(info->si_addr);
  if (stack.has_value() && Recover(*stack, context)) {
    errno = saved_errno;
    return;  // Into the generator's resumer.
  }
  if (stack.has_value()) {
    PrintReport(*stack);
    PrintBacktrace();
  }
  Chain(signal, info, context, stack.has_value());
  errno = saved_errno;
}

// --- Per-thread alternate signal stack ---------------------------------------

// This thread's alternate signal stack, if InstallStackOverflowHandler() set
// one up; destroyed (and disabled) when the thread exits.
class AltStack {
 public:
  AltStack() = default;
  AltStack(const AltStack&) = delete;
  AltStack& operator=(const AltStack&) = delete;
  ~AltStack() {
    if (memory_ == nullptr) return;
    stack_t current;
    if (::sigaltstack(nullptr, &current) != 0) return;
    // Still ours and not in use: disable it before the memory goes. If
    // someone replaced it, leave theirs alone; if a handler is running on it
    // (exit from a handler), leak it rather than pull it out from under.
    if (current.ss_sp == usable_) {
      if ((current.ss_flags & SS_ONSTACK) != 0) return;
      stack_t disable = {};
      disable.ss_flags = SS_DISABLE;
      if (::sigaltstack(&disable, nullptr) != 0) return;
    }
    stack_internal::UnmapGuarded(memory_, layout_, 1);
  }

  absl::Status Ensure() {
    if (ready_) return absl::OkStatus();
    stack_t current;
    if (::sigaltstack(nullptr, &current) != 0) {
      return absl::ErrnoToStatus(
          errno, "InstallStackOverflowHandler(): sigaltstack query");
    }
    // One set up by someone else (a crash reporter, a runtime) will do if it
    // is big enough for the backtrace; replacing it could surprise its owner.
    if ((current.ss_flags & SS_DISABLE) == 0 &&
        current.ss_size >= kMinAltStackSize) {
      ready_ = true;
      return absl::OkStatus();
    }
    if ((current.ss_flags & SS_ONSTACK) != 0) {
      return absl::FailedPreconditionError(
          "InstallStackOverflowHandler(): called on the thread's alternate "
          "signal stack, which cannot be replaced while in use");
    }
    // SIGSTKSZ is a sysconf() call on recent glibc (AVX-512 state is large).
    const std::size_t wanted =
        std::max(kMinAltStackSize, static_cast<std::size_t>(SIGSTKSZ));
    // Guarded like a generator's stack, so that a handler overflowing the
    // alternate stack faults (and, with the signal blocked, dies) instead of
    // scribbling over whatever is mapped below. Not registered with the guard
    // registry: that would misreport it as a generator's stack.
    constexpr char kWho[] =
        "InstallStackOverflowHandler(): the alternate signal stack";
    absl::StatusOr<stack_internal::GuardedLayout> layout =
        stack_internal::MakeGuardedLayout(kWho, "size", wanted,
                                          kDefaultGuardSize);
    if (!layout.ok()) return layout.status();
    absl::StatusOr<std::byte*> memory =
        stack_internal::MapGuarded(kWho, *layout, /*count=*/1);
    if (!memory.ok()) return memory.status();
    stack_t alt = {};
    alt.ss_sp = *memory + layout->guard;
    alt.ss_size = layout->usable;
    if (::sigaltstack(&alt, nullptr) != 0) {
      const int error = errno;
      stack_internal::UnmapGuarded(*memory, *layout, 1);
      return absl::ErrnoToStatus(error,
                                 "InstallStackOverflowHandler(): sigaltstack");
    }
    // Only now: the destructor must not unmap a stack it did not install.
    memory_ = *memory;
    usable_ = alt.ss_sp;
    layout_ = *layout;
    ready_ = true;
    return absl::OkStatus();
  }

 private:
  bool ready_ = false;
  std::byte* memory_ = nullptr;  // Our mapping (guard first), if any.
  void* usable_ = nullptr;       // Just above the guard: the ss_sp we set.
  stack_internal::GuardedLayout layout_;
};

thread_local AltStack alt_stack;

absl::Status InstallHandlerForProcess()
    ABSL_EXCLUSIVE_LOCKS_REQUIRED(install_mutex) {
  // backtrace() dlopen()s libgcc_s on its first call, which allocates and
  // takes locks; do that now rather than inside the handler.
  void* frame;
  ::backtrace(&frame, 1);

  // The previous actions are read first and installed-over second, so that
  // they are complete before any thread can enter OnFault.
  if (::sigaction(SIGSEGV, nullptr, &previous_segv) != 0 ||
      ::sigaction(SIGBUS, nullptr, &previous_bus) != 0) {
    return absl::ErrnoToStatus(
        errno, "InstallStackOverflowHandler(): sigaction query");
  }
  struct sigaction action = {};
  action.sa_sigaction = OnFault;
  // SA_ONSTACK: an overflow leaves no room on the faulting stack for the
  // kernel's signal frame, let alone for the handler.
  action.sa_flags = SA_SIGINFO | SA_ONSTACK;
  // A second fault inside the handler then kills the process at once instead
  // of recursing.
  sigemptyset(&action.sa_mask);
  sigaddset(&action.sa_mask, SIGSEGV);
  sigaddset(&action.sa_mask, SIGBUS);
  if (::sigaction(SIGSEGV, &action, nullptr) != 0) {
    return absl::ErrnoToStatus(
        errno, "InstallStackOverflowHandler(): sigaction(SIGSEGV)");
  }
  if (::sigaction(SIGBUS, &action, nullptr) != 0) {
    const int error = errno;
    ::sigaction(SIGSEGV, &previous_segv, nullptr);
    return absl::ErrnoToStatus(
        error, "InstallStackOverflowHandler(): sigaction(SIGBUS)");
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status InstallStackOverflowHandler(StackOverflowOptions options) {
  if (options.recover) recover.store(true, std::memory_order_relaxed);
  // The alternate stack first: once the handler is in, an overflow on this
  // thread needs it.
  if (absl::Status status = alt_stack.Ensure(); !status.ok()) return status;
  absl::MutexLock lock(&install_mutex);
  if (handler_installed) return absl::OkStatus();
  if (absl::Status status = InstallHandlerForProcess(); !status.ok()) {
    return status;
  }
  handler_installed = true;
  return absl::OkStatus();
}

}  // namespace fringe
