// Must not compile: an array Input would decay to a pointer.
#include "fringe/generator/generator.h"
#include "fringe/stack/slice_stack_core.h"

void Use(fringe::SliceStack stack) {
  fringe::Generator<int[4], int, fringe::SliceStack> g(
      fringe::kUnguarded, std::move(stack), [](auto&, auto) {});
}
