#include "tests/guard_frames.h"

#include <cstddef>
#include <cstdint>

#include "absl/base/attributes.h"

namespace fringe::test_guards {
namespace {

// Where BigFrame's buffer was. (Returning a local's address would make gcc
// return null instead.)
void* volatile big_frame_buffer = nullptr;

ABSL_ATTRIBUTE_NOINLINE ABSL_ATTRIBUTE_NO_SANITIZE_ADDRESS void* BigFrame() {
  volatile char buffer[kBigFrame];
  buffer[0] = 1;  // The lowest byte first: this is the store that jumps.
  buffer[kBigFrame - 1] = 1;
  big_frame_buffer = const_cast<char*>(&buffer[0]);
  return big_frame_buffer;
}

ABSL_ATTRIBUTE_NOINLINE ABSL_ATTRIBUTE_NO_SANITIZE_ADDRESS void* Descend(
    std::uintptr_t floor) {
  volatile char pad[256];
  pad[0] = 0;
  void* landed = reinterpret_cast<std::uintptr_t>(&pad[0]) > floor
                     ? Descend(floor)
                     : BigFrame();
  // Used after the call, so the recursion cannot become a loop.
  return pad[0] == 0 ? landed : nullptr;
}

}  // namespace

void* DescendThenStoreToBigFrame(void* limit) {
  return Descend(reinterpret_cast<std::uintptr_t>(limit) + kRoomLeft);
}

}  // namespace fringe::test_guards
