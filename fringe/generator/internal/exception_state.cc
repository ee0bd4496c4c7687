// The out-of-line parts of fringe's exception handling: the opaque lookup of
// the C++ runtime's per-thread globals (see ExceptionState::ThreadGlobals),
// and the check that a forced unwind can leave the body (generator.h).

#include "fringe/generator/internal/exception_state.h"

#if __STDC_HOSTED__ && defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#endif

#if defined(__cpp_exceptions)
#include <cxxabi.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <stdexcept>
#include <string>

#include "fringe/generator/internal/control.h"
#include "fringe/generator/internal/fatal.h"

namespace fringe::generator_internal {

#if defined(__GNUC__) && !defined(__clang__)
// noipa: gcc must not learn that this is `const` (it calls a function
// declared so) and merge two calls made on different threads.
[[gnu::noipa]]
#endif
ExceptionState::Globals*
ExceptionState::LookUpThreadGlobals() {
  return reinterpret_cast<Globals*>(abi::__cxa_get_globals());
}

namespace {

constexpr char kCannotUnwind[] =
    "Generator destroyed while suspended where it cannot be unwound (inside a "
    "destructor, or below a noexcept function): fringe::ForcedUnwind could "
    "not leave the body. Call std::move(generator).Abandon() instead (it "
    "leaks what the body owns), or suspend elsewhere";

// Forced unwinds thrown on this thread and not yet back at the entry.
thread_local int forced_unwinds_in_flight = 0;
std::terminate_handler previous_terminate = nullptr;

// The C++ runtime calls the terminate handler that was current when an
// exception was thrown, so the first forced unwind installs this one for
// good; it defers to the previous handler for everything else.
[[noreturn]] void TerminateHandler() {
  if (forced_unwinds_in_flight > 0) Fatal("%s", kCannotUnwind);
  if (previous_terminate != nullptr) previous_terminate();
  std::abort();
}

}  // namespace

void BeginForcedUnwind() {
  static const bool installed = [] {
    previous_terminate = std::set_terminate(&TerminateHandler);
    return true;
  }();
  (void)installed;
  // Suspended in a destructor that runs during unwinding: a second exception
  // would escape it, which is std::terminate whatever the handler.
  if (std::uncaught_exceptions() > 0) Fatal("%s", kCannotUnwind);
  ++forced_unwinds_in_flight;
}

void EndForcedUnwind() { --forced_unwinds_in_flight; }

}  // namespace fringe::generator_internal

namespace fringe::generator_internal {

std::string OverflowMessage(void* limit, void* base) {
  char message[160];
  std::snprintf(message, sizeof message,
                "fringe: the generator overflowed its stack [%p, %p) of %zu "
                "bytes and was ended",
                limit, base,
                static_cast<std::size_t>(static_cast<char*>(base) -
                                         static_cast<char*>(limit)));
  return message;
}

}  // namespace fringe::generator_internal

#endif

#if __STDC_HOSTED__ && defined(__linux__)
namespace fringe::generator_internal {

// No sanitizer instrumentation: it reads stack memory that ASan may have
// poisoned (frames that returned), on purpose.
__attribute__((no_sanitize_address, no_sanitize_thread)) std::size_t
StackHighWater(const void* limit, const void* base) {
  const auto* low = static_cast<const unsigned char*>(limit);
  const auto* high = static_cast<const unsigned char*>(base);
  const auto page = static_cast<std::uintptr_t>(sysconf(_SC_PAGESIZE));
  // Pages the stack never reached are not resident: skip them with mincore
  // rather than read (and so fault in) every one of them.
  auto* p = reinterpret_cast<unsigned char*>(
      (reinterpret_cast<std::uintptr_t>(low) + page - 1) & ~(page - 1));
  for (; p < high; p += page) {
    unsigned char resident = 0;
    // The system call itself, not libc's mincore(), which sanitizers
    // intercept and check against this unsanitized frame.
    if (syscall(SYS_mincore, p, page, &resident) != 0 || (resident & 1) != 0) {
      break;
    }
  }
  // Below the first resident page nothing was written; above it, scan.
  const unsigned char* q =
      p == reinterpret_cast<unsigned char*>(
               (reinterpret_cast<std::uintptr_t>(low) + page - 1) & ~(page - 1))
          ? low
          : p;
  while (q < high && *q == 0) ++q;
  return static_cast<std::size_t>(high - q);
}

}  // namespace fringe::generator_internal
#endif
