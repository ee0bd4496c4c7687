// fringe/stack/owned_stack.h
//
// `OwnedStack`: a stack on the C++ heap, allocated with aligned
// `operator new`. It has no guard page, so an overflow silently corrupts
// neighbouring heap memory; `Generator` therefore accepts it only through its
// `kUnguarded` constructor. Use it where mmap is unavailable or too costly and
// the body's stack use is known to be bounded.
//
//   absl::StatusOr<fringe::OwnedStack> stack =
//       fringe::OwnedStack::Create(8192);
//   if (!stack.ok()) return stack.status();
//   fringe::Generator<void, int, fringe::OwnedStack> gen(
//       fringe::kUnguarded, *std::move(stack), body);

#ifndef FRINGE_STACK_OWNED_STACK_H_
#define FRINGE_STACK_OWNED_STACK_H_

#include <cstddef>

#include "absl/status/statusor.h"
#include "fringe/stack/stack.h"

namespace fringe {

class OwnedStack {
 public:
  // Allocates `size` bytes rounded up to a multiple of `kStackAlignment`.
  // Errors:
  //   InvalidArgumentError   `size` is 0.
  //   ResourceExhaustedError the rounded size exceeds PTRDIFF_MAX (base() -
  //                          limit() must be representable), or the heap is
  //                          out of memory.
  static absl::StatusOr<OwnedStack> Create(std::size_t size);

  // Move-only: a copy would free the same memory twice. A moved-from
  // OwnedStack owns nothing: base() and limit() are null and size() is 0.
  OwnedStack(OwnedStack&& other) noexcept;
  OwnedStack& operator=(OwnedStack&& other) noexcept;
  OwnedStack(const OwnedStack&) = delete;
  OwnedStack& operator=(const OwnedStack&) = delete;
  ~OwnedStack();

  void* base() const { return limit_ == nullptr ? nullptr : limit_ + size_; }
  void* limit() const { return limit_; }
  // Usable bytes: base() - limit(), a multiple of kStackAlignment.
  std::size_t size() const { return size_; }

 private:
  OwnedStack(std::byte* limit, std::size_t size) : limit_(limit), size_(size) {}
  void Release();

  std::byte* limit_ = nullptr;
  std::size_t size_ = 0;
};

static_assert(Stack<OwnedStack>);
static_assert(!kIsGuardedStack<OwnedStack>);

}  // namespace fringe

#endif  // FRINGE_STACK_OWNED_STACK_H_
