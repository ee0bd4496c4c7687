// A generator whose body recurses forever on a 16 KiB stack. With
// fringe::InstallStackOverflowHandler() the process still dies of SIGSEGV,
// but first says which generator stack overflowed, and where:
//
//   fringe: stack overflow in generator: stack [0x..., 0x...) of 16384 bytes
//   ...backtrace...

#include <cstdio>
#include <utility>

#include "absl/status/statusor.h"
#include "fringe/debug/stack_overflow.h"
#include "fringe/generator/generator.h"
#include "fringe/stack/os_stack.h"

// Each call keeps a small buffer alive across the next call, so that no
// optimizer can turn the recursion into a loop. External linkage (no
// anonymous namespace) so that, with -rdynamic, the backtrace names it.
int RecurseForever(int depth) {
  volatile char frame[64];
  frame[0] = static_cast<char>(depth);
  if (depth < 0) return 0;  // Never true; keeps -Winfinite-recursion quiet.
  return RecurseForever(depth + 1) + frame[0];
}

int main() {
  if (absl::Status status = fringe::InstallStackOverflowHandler();
      !status.ok()) {
    std::fprintf(stderr, "%s\n", status.ToString().c_str());
    return 1;
  }
  absl::StatusOr<fringe::OsStack> stack = fringe::OsStack::Create(16 << 10);
  if (!stack.ok()) {
    std::fprintf(stderr, "%s\n", stack.status().ToString().c_str());
    return 1;
  }
  fringe::Generator<void, int> runaway(*std::move(stack),
                                       [](fringe::Yielder<void, int>& yielder) {
                                         yielder.Suspend(RecurseForever(0));
                                       });
  std::printf("resuming a generator that recurses forever...\n");
  std::fflush(stdout);
  runaway.Resume();
  std::printf("not reached\n");
  return 0;
}
