// The few C library functions a freestanding C++ compiler may still call
// (for struct copies and zeroing). Nothing else of a C runtime is needed.

#include <cstddef>

extern "C" {

void* memcpy(void* dest, const void* src, std::size_t n) {
  auto* d = static_cast<unsigned char*>(dest);
  const auto* s = static_cast<const unsigned char*>(src);
  while (n--) *d++ = *s++;
  return dest;
}

void* memmove(void* dest, const void* src, std::size_t n) {
  auto* d = static_cast<unsigned char*>(dest);
  const auto* s = static_cast<const unsigned char*>(src);
  if (d < s) {
    while (n--) *d++ = *s++;
  } else {
    while (n--) d[n] = s[n];
  }
  return dest;
}

void* memset(void* dest, int c, std::size_t n) {
  auto* d = static_cast<unsigned char*>(dest);
  while (n--) *d++ = static_cast<unsigned char>(c);
  return dest;
}

int memcmp(const void* a, const void* b, std::size_t n) {
  const auto* x = static_cast<const unsigned char*>(a);
  const auto* y = static_cast<const unsigned char*>(b);
  for (; n; --n, ++x, ++y) {
    if (*x != *y) return *x < *y ? -1 : 1;
  }
  return 0;
}

}  // extern "C"
