// A Fibonacci sequence as a fringe generator.

#ifndef FIBONACCI_H_
#define FIBONACCI_H_

#include <cstdint>
#include <utility>

#include "fringe/generator/generator.h"

// The Fibonacci numbers, lazily, on a guarded 64 KiB stack. Endless: the
// caller stops when it has enough and destroys the generator, which
// SuspendOrCancel() turns into a normal return of the body (so this works
// with and without C++ exceptions).
inline fringe::Generator<void, std::uint64_t> Fibonacci() {
  return fringe::Generator<void, std::uint64_t>(
      [](fringe::Yielder<void, std::uint64_t>& yielder) {
        std::uint64_t a = 0, b = 1;
        while (yielder.SuspendOrCancel(a)) a = std::exchange(b, a + b);
      });
}

#endif  // FIBONACCI_H_
