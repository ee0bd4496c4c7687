// A Fibonacci sequence as a fringe generator.

#ifndef FIBONACCI_H_
#define FIBONACCI_H_

#include <cstdint>
#include <utility>

#include "fringe/generator/generator.h"

// The Fibonacci numbers, lazily, on a guarded 64 KiB stack.
inline fringe::Generator<void, std::uint64_t> Fibonacci() {
  return fringe::Generator<void, std::uint64_t>(
      *fringe::OsStack::Create(fringe::OsStack::DefaultSize()),
      [](fringe::Yielder<void, std::uint64_t>& yielder) {
        std::uint64_t a = 0, b = 1;
        for (;;) {
          yielder.Suspend(a);
          a = std::exchange(b, a + b);
        }
      });
}

#endif  // FIBONACCI_H_
