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

#if defined(_WIN32)
// MinGW: `printf` in a format attribute means msvcrt's dialect, which has no
// %zu; vfprintf below is MinGW's C99 one (--config=windows defines
// __USE_MINGW_ANSI_STDIO).
#define FRINGE_INTERNAL_PRINTF gnu_printf
#else
#define FRINGE_INTERNAL_PRINTF printf
#endif

// `message` is a printf format.
[[noreturn, gnu::cold, gnu::noinline,
  gnu::format(FRINGE_INTERNAL_PRINTF, 1, 2)]] inline void
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
