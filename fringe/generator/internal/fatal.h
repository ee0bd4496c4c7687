// fringe/generator/internal/fatal.h
//
// Fatal(): how fringe reports misuse that cannot be returned as a value, such
// as resuming a running generator. Prints one line and aborts; on a
// freestanding target (no stderr) it traps.

#ifndef FRINGE_GENERATOR_INTERNAL_FATAL_H_
#define FRINGE_GENERATOR_INTERNAL_FATAL_H_

#if __STDC_HOSTED__
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#endif

namespace fringe::generator_internal {

// `message` is a printf format.
[[noreturn, gnu::cold, gnu::noinline, gnu::format(printf, 1, 2)]] inline void
Fatal(const char* message, ...) {
#if __STDC_HOSTED__
  std::va_list args;
  va_start(args, message);
  std::fputs("fringe: ", stderr);
  std::vfprintf(stderr, message, args);
  std::fputc('\n', stderr);
  va_end(args);
  std::fflush(stderr);
  std::abort();
#else
  // A debugger shows `message`; there is nowhere to print it.
  asm volatile("" : : "r"(message));
  __builtin_trap();
#endif
}

}  // namespace fringe::generator_internal

#endif  // FRINGE_GENERATOR_INTERNAL_FATAL_H_
