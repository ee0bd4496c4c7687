// tests/guard_frames.h
//
// The frame that jumps a one-page guard: a body that has used most of its
// stack calls a function whose frame is bigger than what is left plus a page,
// and whose first store is at the frame's lowest address (a local buffer
// filled from its start, read(2) into it, ...). Without
// -fstack-clash-protection nothing touches the pages in between, so that
// store lands below the guard, in whatever is mapped there: with StackPool
// and OsStack, the neighbouring stack. guard_frames.cc is compiled without
// stack-clash protection, as user code often is (Debian's gcc defaults to
// off), and without ASan instrumentation, which would move the buffer to a
// heap "fake stack".

#ifndef FRINGE_TESTS_GUARD_FRAMES_H_
#define FRINGE_TESTS_GUARD_FRAMES_H_

#include <cstddef>

namespace fringe::test_guards {

// The big frame: half the default guard, so with the default guard it stays
// inside the guard however much of its stack the caller has left, and with a
// one-page guard it jumps the guard from anywhere within kRoomLeft of limit.
constexpr std::size_t kBigFrame =
    sizeof(void*) == 8 ? std::size_t{32} << 10 : std::size_t{8} << 10;
// How close to limit() the big frame is entered.
constexpr std::size_t kRoomLeft = std::size_t{2} << 10;

// Recurses in small frames until less than kRoomLeft of the stack that ends
// at `limit` is left, then calls a function with a kBigFrame-byte local
// buffer and stores to its lowest byte first. Returns that byte's address if
// the store did not trap.
void* DescendThenStoreToBigFrame(void* limit);

}  // namespace fringe::test_guards

#endif  // FRINGE_TESTS_GUARD_FRAMES_H_
