// fringe/stack/os_stack.h
//
// `OsStack`: a stack mapped straight from the operating system, with a guard
// of `kDefaultGuardSize` bytes (stack.h) directly below `limit()`.
// Overflowing the stack by a frame of up to that size touches the guard and
// kills the process with SIGSEGV instead of silently corrupting whatever
// memory lies below. This is the default stack of `fringe::Generator`.
//
//   absl::StatusOr<fringe::OsStack> stack =
//       fringe::OsStack::Create(fringe::OsStack::DefaultSize());
//   if (!stack.ok()) return stack.status();
//   fringe::Generator<void, int> gen(*std::move(stack), body);
//
// Each `OsStack` is its own mapping. Its guard costs nothing on Linux 6.13 and
// later (madvise(MADV_GUARD_INSTALL)); older kernels get a PROT_NONE guard
// from mprotect, which costs address space only, but splits the mapping in
// two kernel mappings (VMAs), and Linux caps a process at
// `vm.max_map_count` (65530 by default) of them. Programs that keep tens of
// thousands of generators alive, or create them at a high rate, want
// `StackPool` (stack_pool.h) instead.

#ifndef FRINGE_STACK_OS_STACK_H_
#define FRINGE_STACK_OS_STACK_H_

#include <cstddef>
#include <utility>

#include "absl/status/statusor.h"
#include "fringe/stack/stack.h"
#if defined(_WIN32)
#include "fringe/stack/internal/fiber_stack.h"
#endif

namespace fringe {

class OsStack {
 public:
  // Maps `size` usable bytes, rounded up to whole pages, plus `guard_size`
  // bytes of guard below them, also rounded up to whole pages. Errors:
  //   InvalidArgumentError   `size` or `guard_size` is 0, or their sum
  //                          overflows once rounded.
  //   ResourceExhaustedError mmap or the guard's madvise/mprotect failed; the
  //                          message names `size`, errno, and
  //                          `vm.max_map_count` when that limit is the likely
  //                          cause.
  static absl::StatusOr<OsStack> Create(
      std::size_t size, std::size_t guard_size = kDefaultGuardSize);

  // A size that suits generators with modest frames: 64 KiB, or 1 MiB when
  // built with AddressSanitizer or ThreadSanitizer, whose instrumentation
  // (redzones, shadow frames) multiplies stack use.
  static std::size_t DefaultSize();

  // `size`, multiplied by the factor DefaultSize() uses (16) when built with
  // AddressSanitizer or ThreadSanitizer, unchanged otherwise: for sizes you
  // picked from measurements (Generator::StackHighWater()) to hold in
  // sanitizer builds too. For any allocator's size:
  //   StackPool::Create(OsStack::ScaledForSanitizers(16 << 10), 64)
  static std::size_t ScaledForSanitizers(std::size_t size);

  // Move-only: a copy would unmap the same memory twice. A moved-from OsStack
  // owns nothing: base() and limit() are null and size() is 0.
  // Inline: a generator's creation and Unwrap() move its stack four times,
  // and out of line the moves and the destructors of moved-from stacks cost
  // 10 ns of BM_FringeCallOnGivenStack's 34.7 (generator_benchmark).
  OsStack(OsStack&& other) noexcept { TakeFrom(other); }
  OsStack& operator=(OsStack&& other) noexcept {
    if (this != &other) {
      if (Owns()) Release();
      TakeFrom(other);
    }
    return *this;
  }
  OsStack(const OsStack&) = delete;
  OsStack& operator=(const OsStack&) = delete;
  ~OsStack() {
    if (Owns()) Release();
  }

  void* base() const { return limit_ == nullptr ? nullptr : limit_ + size_; }
  void* limit() const { return limit_; }
  // Usable bytes: base() - limit(), a whole number of pages.
  std::size_t size() const { return size_; }

 private:
  OsStack(std::byte* limit, std::size_t size, std::size_t guard_size)
      : limit_(limit), size_(size), guard_size_(guard_size) {}
  void Release();  // Only if Owns(): unmaps; leaves *this moved-from.
  void TakeFrom(OsStack& other) {
    limit_ = std::exchange(other.limit_, nullptr);
    size_ = std::exchange(other.size_, 0);
    guard_size_ = std::exchange(other.guard_size_, 0);
#if defined(_WIN32)
    fiber_ = std::exchange(other.fiber_, nullptr);
#endif
  }
#if defined(_WIN32)
  bool Owns() const { return fiber_ != nullptr; }
#else
  bool Owns() const { return limit_ != nullptr; }
#endif

  std::byte* limit_ = nullptr;  // The guard lies just below.
  std::size_t size_ = 0;
  std::size_t guard_size_ = 0;

#if defined(_WIN32)
  // Windows: an OsStack is a fiber's stack, with the fiber that runs on it
  // (README, "Windows"): Create(size, guard_size) makes a fiber whose stack
  // has at least `size` usable bytes above `guard_size` bytes of reserve,
  // which the OS guards. For fringe::Generator.
 public:
  stack_internal::FiberStack* fiber() const { return fiber_; }

 private:
  stack_internal::FiberStack* fiber_ = nullptr;
#endif
};

template <>
inline constexpr bool kIsGuardedStack<OsStack> = true;

static_assert(Stack<OsStack>);

}  // namespace fringe

#endif  // FRINGE_STACK_OS_STACK_H_
