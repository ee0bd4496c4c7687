#include "fringe/stack/owned_stack.h"

#include <cstddef>
#include <cstdint>
#include <new>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"

namespace fringe {

absl::StatusOr<OwnedStack> OwnedStack::Create(std::size_t size) {
  if (size == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("OwnedStack::Create(", size, "): size must be positive"));
  }
  // Checked before calling operator new so that absurd sizes fail the same
  // way everywhere, including under sanitizers whose allocators abort on
  // them instead of returning null.
  constexpr std::size_t kMaxSize =
      static_cast<std::size_t>(PTRDIFF_MAX) / kStackAlignment * kStackAlignment;
  if (size > kMaxSize) {
    return absl::ResourceExhaustedError(
        absl::StrCat("OwnedStack::Create(", size, "): size rounded up to ",
                     kStackAlignment, " bytes exceeds PTRDIFF_MAX"));
  }
  const std::size_t rounded =
      (size + kStackAlignment - 1) / kStackAlignment * kStackAlignment;
  void* memory =
      ::operator new (rounded, std::align_val_t{kStackAlignment}, std::nothrow);
  if (memory == nullptr) {
    return absl::ResourceExhaustedError(
        absl::StrCat("OwnedStack::Create(", size,
                     "): out of memory allocating ", rounded, " bytes"));
  }
  return OwnedStack(static_cast<std::byte*>(memory), rounded);
}

OwnedStack::OwnedStack(OwnedStack&& other) noexcept
    : limit_(std::exchange(other.limit_, nullptr)),
      size_(std::exchange(other.size_, 0)) {}

OwnedStack& OwnedStack::operator=(OwnedStack&& other) noexcept {
  if (this != &other) {
    Release();
    limit_ = std::exchange(other.limit_, nullptr);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

OwnedStack::~OwnedStack() { Release(); }

void OwnedStack::Release() {
  if (limit_ == nullptr) return;
  ::operator delete (limit_, std::align_val_t{kStackAlignment});
  limit_ = nullptr;
  size_ = 0;
}

}  // namespace fringe
