// fringe/debug/stack_overflow.h
//
// Turns a generator's stack overflow from a bare "Segmentation fault" into a
// one-line report naming the stack, plus a backtrace of the faulting thread:
//
//   fringe: stack overflow in generator: stack [0x7f3a..., 0x7f3a...) of 16384
//   bytes
//   ./my_program(+0x1234)[0x55d1...]
//   ...
//
// Opt in once, early in main(), and once more on every other thread that runs
// generators:
//
//   int main() {
//     if (absl::Status s = fringe::InstallStackOverflowHandler(); !s.ok()) {
//       std::cerr << s << "\n";  // Not fatal: overflows still crash, tersely.
//     }
//     std::thread worker([] {
//       (void)fringe::InstallStackOverflowHandler();  // This thread's alt
//       stack. RunGenerators();
//     });
//     ...
//   }
//
// How: a SIGSEGV and SIGBUS handler (SA_ONSTACK, since the faulting stack has
// no room left) looks the faulting address up in fringe's guard registry
// (fringe/stack/guard_registry.h), where every OsStack and StackPool slab is
// listed with its guard size. A hit anywhere in a guard (a big frame lands
// deep in it) prints the report; either way the handler then chains to the
// handler that was installed before it (a crash reporter, a sanitizer), or,
// if there was none, dies of the signal's default action (core dump included)
// exactly as without it. Faults outside fringe's guards print nothing.
// Anything that touches a guard is reported as an overflow, a wild pointer
// included.
//
// Threads: the handler is process-wide, but the alternate signal stack it runs
// on is per thread, and the kernel cannot run a handler for an overflow
// without one. So a thread that may overflow must have called
// InstallStackOverflowHandler() itself (or have an alternate stack of at least
// 64 KiB of its own); on other threads an overflow still kills the process,
// without the report. A thread's alternate stack is freed when it exits.
//
// The backtrace comes from backtrace(3) and backtrace_symbols_fd(3), called
// from the handler. Neither is async-signal-safe on paper: backtrace() loads
// libgcc_s on first use (so InstallStackOverflowHandler() calls it once up
// front), and symbolization takes the dynamic loader's lock. Both are what
// glibc's own crash handlers rely on; the report line itself is written first
// with write(2) alone. Link with -rdynamic for function names in the
// backtrace instead of bare offsets.

#ifndef FRINGE_DEBUG_STACK_OVERFLOW_H_
#define FRINGE_DEBUG_STACK_OVERFLOW_H_

#include "absl/status/status.h"

namespace fringe {

// Installs the stack-overflow handler for the process (first call only) and
// an alternate signal stack of at least 64 KiB for the calling thread (unless
// it already has one that big). Calling it again, from any thread, never
// installs the handler twice; on a thread that is already set up it is a
// no-op returning OK. Errors:
//   ResourceExhaustedError the alternate stack could not be mapped.
//   FailedPreconditionError called from a handler running on the thread's
//                           alternate signal stack, which cannot be replaced.
//   Other (from errno)     sigaltstack or sigaction failed.
struct StackOverflowOptions {
  // false: report and die (the default). true: an overflow inside a
  // generator's body ends that generator instead of the process: its
  // Resume() throws fringe::StackOverflow (without exceptions: returns
  // nullopt / false, and overflowed() says why), its stack is released
  // without running the body's destructors (as Abandon() does: what the
  // body owned leaks), and the program goes on. Process-wide: once any call
  // asks for it, it stays on. Faults anywhere else behave as without it.
  bool recover = false;
};
absl::Status InstallStackOverflowHandler(StackOverflowOptions options = {});

}  // namespace fringe

#endif  // FRINGE_DEBUG_STACK_OVERFLOW_H_
