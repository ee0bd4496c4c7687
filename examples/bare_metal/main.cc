// fringe on bare metal: generators on stacks carved from a static array, on
// qemu-system-aarch64 -M virt with no OS, no heap, no exceptions. Prints to
// the PL011 UART and exits through semihosting with 0 when every result is
// right (run_in_qemu.sh checks both).

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <utility>

#include "fringe/generator/generator.h"
#include "fringe/stack/slice_stack_core.h"

namespace {

using fringe::Generator;
using fringe::kUnguarded;
using fringe::SliceStack;
using fringe::Yielder;

// --- Output: the PL011 UART's data register on the virt board. -----------
void Put(char c) { *reinterpret_cast<volatile std::uint32_t*>(0x09000000) = c; }

void Print(const char* s) {
  while (*s) Put(*s++);
}

void Print(std::uint64_t v) {
  char digits[20];
  int n = 0;
  do {
    digits[n++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v != 0);
  while (n > 0) Put(digits[--n]);
}

// --- Stacks: slices of one static array. ----------------------------------
constexpr std::size_t kStackSize = 16 * 1024;
alignas(16) std::byte arena[4][kStackSize];

SliceStack StackFrom(int i) {
  std::optional<SliceStack> stack = SliceStack::FromSpan(arena[i]);
  if (!stack) __builtin_trap();
  return *std::move(stack);
}

bool failed = false;

void Expect(bool ok) {
  if (!ok) {
    failed = true;
    Print(" <- WRONG");
  }
}

void Fibonacci() {
  Generator<void, std::uint64_t, SliceStack> fib(
      kUnguarded, StackFrom(0), [](Yielder<void, std::uint64_t>& y) {
        std::uint64_t a = 0, b = 1;
        for (int i = 0; i < 10; ++i) {
          y.Suspend(a);
          a = std::exchange(b, a + b);
        }
      });
  constexpr std::uint64_t kWant[] = {0, 1, 1, 2, 3, 5, 8, 13, 21, 34};
  Print("fibonacci:");
  int i = 0;
  for (std::uint64_t v : fib) {
    Put(' ');
    Print(v);
    Expect(i < 10 && v == kWant[i]);
    ++i;
  }
  Expect(i == 10 && fib.done());
  Print("\n");
}

void Echo() {
  Generator<int, int, SliceStack> echo(kUnguarded, StackFrom(1),
                                       [](Yielder<int, int>& y, int v) {
                                         while (v >= 0) v = y.Suspend(2 * v);
                                       });
  Print("echo (doubles its input):");
  for (int in : {1, 2, 21}) {
    std::optional<int> out = echo.Resume(in);
    Put(' ');
    Print(static_cast<std::uint64_t>(out.value_or(-1)));
    Expect(out == 2 * in);
  }
  Expect(!echo.Resume(-1).has_value() && echo.done());
  Print(" (done)\n");
}

void Nested() {
  Generator<void, int, SliceStack> outer(
      kUnguarded, StackFrom(2), [](Yielder<void, int>& y) {
        for (int tens = 0; tens < 3; ++tens) {
          Generator<void, int, SliceStack> inner(
              kUnguarded, StackFrom(3), [tens](Yielder<void, int>& yi) {
                for (int ones = 0; ones < 3; ++ones)
                  yi.Suspend(tens * 10 + ones);
              });
          for (int v : inner) y.Suspend(v);
          // `inner` finished: its stack (arena[3]) is free for the next one.
        }
      });
  constexpr int kWant[] = {0, 1, 2, 10, 11, 12, 20, 21, 22};
  Print("nested:");
  int i = 0;
  for (int v : outer) {
    Put(' ');
    Print(static_cast<std::uint64_t>(v));
    Expect(i < 9 && v == kWant[i]);
    ++i;
  }
  Expect(i == 9);
  Print("\n");
}

}  // namespace

int main() {
  Print("fringe bare-metal demo: aarch64, no OS, no heap, no exceptions\n");
  Fibonacci();
  Echo();
  Nested();
  Print(failed ? "result: FAILED\n" : "result: ok\n");
  return failed ? 1 : 0;
}
