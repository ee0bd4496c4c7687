// fringe/generator/internal/windows.h
//
// What Generator checks at compile time on Windows, where a generator runs
// on a fiber (fringe/arch/windows_fiber.h, README "Windows"). Internal to
// fringe: included by fringe/generator/generator.h.

#ifndef FRINGE_GENERATOR_INTERNAL_WINDOWS_H_
#define FRINGE_GENERATOR_INTERNAL_WINDOWS_H_

#include <concepts>

#include "fringe/arch/switch.h"
#include "fringe/generator/internal/control.h"
#include "fringe/stack/internal/fiber_stack.h"

namespace fringe::generator_internal {

// The fiber switch tells a generator's last switch by its word.
static_assert(kReturnedWord <= arch_internal::kLastSwitchWordMax &&
                  kThrewWord <= arch_internal::kLastSwitchWordMax &&
                  kSuspendedVoidWord > arch_internal::kLastSwitchWordMax,
              "fringe/arch/windows_fiber.h: kLastSwitchWordMax must cover "
              "exactly the words a generator's entry ends with");

// The fiber a generator on `stack` runs on. Only fringe's fiber stacks have
// one; any other stack type stops the build here, with this message.
template <typename S>
stack_internal::FiberStack* FiberOf(S& stack) {
  constexpr bool kIsFiberStack = requires(S & s) {
    { s.fiber() } -> std::same_as<stack_internal::FiberStack*>;
  };
  static_assert(
      kIsFiberStack,
      "fringe::Generator: on Windows a generator runs on a fiber, whose stack "
      "the OS allocates: use fringe::OsStack or StackPool's PooledStack. "
      "OwnedStack, SliceStack and other stacks in caller memory are not "
      "supported on Windows (README, \"Windows\")");
  if constexpr (kIsFiberStack) {
    return stack.fiber();
  } else {
    return nullptr;
  }
}

}  // namespace fringe::generator_internal

#endif  // FRINGE_GENERATOR_INTERNAL_WINDOWS_H_
