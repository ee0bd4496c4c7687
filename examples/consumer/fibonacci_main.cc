#include <cstdio>
#include <ranges>

#include "fibonacci.h"

int main() {
  for (std::uint64_t f : Fibonacci() | std::views::take(10)) {
    std::printf("%llu ", static_cast<unsigned long long>(f));
  }
  std::printf("\n");
}
