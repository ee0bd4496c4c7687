// fringe/stack/internal/os_memory.h
//
// Page arithmetic and error messages shared by the mmap-based allocators
// (`OsStack`, `StackPool`). Users never include this file.

#ifndef FRINGE_STACK_INTERNAL_OS_MEMORY_H_
#define FRINGE_STACK_INTERNAL_OS_MEMORY_H_

#include <cstddef>
#include <optional>
#include <string_view>

#include "absl/status/status.h"

namespace fringe {
namespace stack_internal {

// The system page size, queried once.
std::size_t PageSize();

// `size` rounded up to whole pages, or nullopt when that overflows.
std::optional<std::size_t> RoundUpToPages(std::size_t size);

// madvise(2), retried while the kernel says EINTR or EAGAIN. Returns its
// result (errno set on failure).
int MadviseRetryingInterrupts(void* address, std::size_t length, int advice);

// The ResourceExhaustedError for a failed `call` ("mmap", "mprotect", ...)
// made by `who` (e.g. "OsStack::Create(65536)"), with errno `error`. When the
// failure is ENOMEM and the process is at (or, for calls that split a mapping,
// may be at) its mapping-count limit, the message says so and names
// vm.max_map_count, because "Cannot allocate memory" alone sends people looking
// for a memory shortage that is not there.
absl::Status MappingError(std::string_view who, std::string_view call,
                          int error, bool call_splits_mappings);

}  // namespace stack_internal
}  // namespace fringe

#endif  // FRINGE_STACK_INTERNAL_OS_MEMORY_H_
