// fringe/stack/internal/guarded_mapping.h
//
// The one place fringe maps guarded memory. `OsStack` (one stack),
// `StackPool` (a slab of stacks) and the stack-overflow handler's alternate
// signal stack (fringe/debug) all take their memory from here, as blocks laid
// out [guard][usable bytes], lowest address first, so that size validation,
// the guard mechanism and the huge-page policy are decided once. Users never
// include this file.
//
//   absl::StatusOr<GuardedLayout> layout =
//       MakeGuardedLayout(who, "size", size, guard_size);
//   absl::StatusOr<std::byte*> memory = MapGuarded(who, *layout, /*count=*/1);
//   ...  // usable bytes: [*memory + layout->guard, *memory + layout->stride())
//   UnmapGuarded(*memory, *layout, 1);

#ifndef FRINGE_STACK_INTERNAL_GUARDED_MAPPING_H_
#define FRINGE_STACK_INTERNAL_GUARDED_MAPPING_H_

#include <cstddef>
#include <string_view>

#include "absl/status/statusor.h"

namespace fringe {
namespace stack_internal {

// One block: `guard` trapping bytes directly below `usable` ones.
struct GuardedLayout {
  std::size_t usable = 0;  // Whole pages.
  std::size_t guard = 0;   // Whole pages, at least one.
  std::size_t stride() const { return guard + usable; }
};

// `size` and `guard_size` rounded up to whole pages. InvalidArgumentError,
// the message starting with `who` (e.g. "OsStack::Create(65536, 0)") and
// calling the first argument `size_name`, when either is 0 or when rounding
// or adding them overflows.
absl::StatusOr<GuardedLayout> MakeGuardedLayout(std::string_view who,
                                                std::string_view size_name,
                                                std::size_t size,
                                                std::size_t guard_size);

// Maps `count` blocks of `layout` back to back and makes every guard trap on
// any access. The guards cost no memory either way: they are installed with
// madvise(MADV_GUARD_INSTALL) (Linux 6.13 and later), which costs no kernel
// mapping either, or else with mprotect(PROT_NONE), which splits the mapping
// (two mappings per block, counted against vm.max_map_count) and costs only
// address space. Requires layout.stride() * count not to overflow. Errors
// (ResourceExhaustedError, naming `who`, errno and, when it is the likely
// cause, vm.max_map_count) leave nothing mapped.
absl::StatusOr<std::byte*> MapGuarded(std::string_view who,
                                      const GuardedLayout& layout,
                                      std::size_t count);

// Unmaps what MapGuarded(..., layout, count) returned.
void UnmapGuarded(std::byte* memory, const GuardedLayout& layout,
                  std::size_t count);

// Whether guards cost no kernel mapping here, i.e. MADV_GUARD_INSTALL works
// and really traps (qemu-user accepts it as a no-op). Probed once per
// process, by the first guard installed or by this call.
bool GuardsAreMappingFree();

}  // namespace stack_internal
}  // namespace fringe

#endif  // FRINGE_STACK_INTERNAL_GUARDED_MAPPING_H_
