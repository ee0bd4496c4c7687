#include "fringe/stack/internal/os_memory.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace fringe {
namespace stack_internal {
namespace {

// Streams a /proc file through `consume(chunk, length)` without allocating:
// this runs when mmap just failed, and malloc may need mmap too.
template <typename Consume>
bool ReadProcFile(const char* path, Consume consume) {
  const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char buffer[4096];
  bool ok = true;
  for (;;) {
    const ssize_t n = ::read(fd, buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) ok = false;
    if (n <= 0) break;
    consume(buffer, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return ok;
}

}  // namespace

std::size_t PageSize() {
  static const std::size_t page =
      static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  return page;
}

std::optional<std::size_t> RoundUpToPages(std::size_t size) {
  const std::size_t page = PageSize();
  if (size > SIZE_MAX - (page - 1)) return std::nullopt;
  return (size + page - 1) / page * page;
}

int MadviseRetryingInterrupts(void* address, std::size_t length, int advice) {
  int result;
  do {
    result = ::madvise(address, length, advice);
  } while (result != 0 && (errno == EINTR || errno == EAGAIN));
  return result;
}

absl::Status MappingError(std::string_view who, std::string_view call,
                          int error, bool call_splits_mappings) {
  std::string message =
      absl::StrCat(who, ": ", call, " failed: ", std::strerror(error));
  if (error != ENOMEM) return absl::ResourceExhaustedError(message);

  std::optional<long> max_map_count;
  long limit = 0;
  if (ReadProcFile("/proc/sys/vm/max_map_count",
                   [&limit](const char* chunk, std::size_t length) {
                     for (std::size_t i = 0; i < length; ++i) {
                       if (chunk[i] < '0' || chunk[i] > '9') break;
                       limit = limit * 10 + (chunk[i] - '0');
                     }
                   })) {
    max_map_count = limit;
  }
  std::optional<long> map_count;
  long lines = 0;
  if (ReadProcFile("/proc/self/maps",
                   [&lines](const char* chunk, std::size_t length) {
                     for (std::size_t i = 0; i < length; ++i) {
                       lines += chunk[i] == '\n';
                     }
                   })) {
    map_count = lines;
  }
  // A call that creates a mapping needs one free slot; one that splits an
  // existing mapping (mprotect in its middle) needs up to two. Allow a little
  // slack for mappings that came and went between the failure and the count.
  constexpr long kSlack = 4;
  const bool at_limit = max_map_count.has_value() && map_count.has_value() &&
                        *map_count + kSlack >= *max_map_count;
  const bool counts_unknown =
      !max_map_count.has_value() || !map_count.has_value();
  if (at_limit || (counts_unknown && call_splits_mappings)) {
    absl::StrAppend(
        &message, "; the process has ",
        map_count ? absl::StrCat(*map_count) : "an unknown number of",
        " memory mappings and vm.max_map_count is ",
        max_map_count ? absl::StrCat(*max_map_count) : "unknown",
        ", so the mapping-count limit is the likely cause (raise "
        "vm.max_map_count, or use fringe::StackPool, whose stacks "
        "share mappings)");
  }
  return absl::ResourceExhaustedError(message);
}

}  // namespace stack_internal
}  // namespace fringe
