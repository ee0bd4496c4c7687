// InitStack, for every CPU; the frame it lays out is drawn in switch.h.

#include <cstdint>

#include "fringe/arch/switch.h"

namespace fringe::arch_internal {

StackPointer InitStack(void* base, EntryFunction entry, void* context) {
  CheckProcessCanSwitch();
  auto* top = static_cast<std::uintptr_t*>(base);
  auto link = reinterpret_cast<std::uintptr_t>(LinkSlot(base));
  static_assert(kLinkSlotOffset == 4 * sizeof(*top));
  top[-1] = reinterpret_cast<std::uintptr_t>(context);
  top[-2] = reinterpret_cast<std::uintptr_t>(entry);
  top[-3] = reinterpret_cast<std::uintptr_t>(kTrampolines.link) +
            kLinkTrampolineReturnOffset;
  top[-4] = 0;  // The link slot; a zero frame pointer ends frame-pointer walks.
  top[-5] = reinterpret_cast<std::uintptr_t>(kTrampolines.entry) +
            kEntryTrampolineLandingOffset;
  top[-6] = link + kEntryFramePointerAboveLinkSlot;
  return top - 6;
}

}  // namespace fringe::arch_internal
