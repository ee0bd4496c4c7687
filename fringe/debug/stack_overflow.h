// fringe/debug/stack_overflow.h
//
// Turns a generator's stack overflow from a bare "Segmentation fault" into a
// one-line report naming the stack, a line of advice, and a backtrace of the
// faulting thread, through the generator's frames into its resumer's:
//
//   fringe: stack overflow in generator: stack [0x7f60..., 0x7f60...) of 16384
//       fix: create the stack bigger than 16384 bytes (OsStack::Create(size),
//       #3 0x55de... in Recurse(int)+0x8 (./my_program)
//       #4 0x55de... in Recurse(int)+0x3a (./my_program)
//       ... the frame above repeated 2335 more times
//       ...
//       #2348 0x55de... in RunRequest(fringe::OsStack)+0x75 (./my_program)
//       #2360 0x55de... in main+0x40 (./my_program)
//
// Opt in once, early in main(), and once more on every other thread that runs
// generators:
//
//   int main() {
//     if (absl::Status s = fringe::InstallStackOverflowHandler(); !s.ok()) {
//       std::cerr << s << "\n";  // Not fatal: overflows still crash, tersely.
//     }
//     std::thread worker([] {
//       // This thread's alternate signal stack:
//       (void)fringe::InstallStackOverflowHandler();
//       RunGenerators();
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
// The backtrace comes from _Unwind_Backtrace (what backtrace(3) calls), dladdr
// and abi::__cxa_demangle, called from the handler. None is async-signal-safe
// on paper: the unwinder's libgcc_s is loaded up front by
// InstallStackOverflowHandler(), symbolization takes the dynamic loader's
// lock, and demangling allocates (so names stay mangled when the overflow
// struck inside malloc or free). They are what glibc's own crash handlers
// rely on; the report line itself is written first with write(2) alone. The
// frames are captured with fixed memory however deep the stack: runs of one
// frame are counted, and past the innermost and outermost few dozen runs the
// rest is summed up in one line, so that main always shows. Link with
// -rdynamic for function names instead of "(binary+0xoffset)": dladdr sees
// only exported symbols (not those of anonymous namespaces or static
// functions).

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
