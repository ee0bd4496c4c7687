// Must not compile: an array Output would decay to a pointer.
#include "fringe/generator/generator.h"
#include "fringe/stack/slice_stack_core.h"

void Use(fringe::SliceStack stack) {
  fringe::Generator<void, int[4], fringe::SliceStack> g(
      fringe::kUnguarded, std::move(stack), [](auto&) {});
}
