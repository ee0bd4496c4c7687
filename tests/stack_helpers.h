// tests/stack_helpers.h
//
// Creating stacks in tests where creation is not what is tested: a failure
// is reported as a test failure, with the status.

#ifndef FRINGE_TESTS_STACK_HELPERS_H_
#define FRINGE_TESTS_STACK_HELPERS_H_

#include <cstddef>
#include <utility>

#include "absl/status/statusor.h"
#include "fringe/stack/os_stack.h"
#include "fringe/stack/stack_pool.h"
#include "gtest/gtest.h"

namespace fringe::test_stacks {

inline OsStack MustCreateOsStack(std::size_t size = OsStack::DefaultSize()) {
  absl::StatusOr<OsStack> stack = OsStack::Create(size);
  EXPECT_TRUE(stack.ok()) << stack.status();
  return *std::move(stack);
}

inline StackPool MustCreatePool(std::size_t stack_size,
                                std::size_t max_cached) {
  absl::StatusOr<StackPool> pool = StackPool::Create(stack_size, max_cached);
  EXPECT_TRUE(pool.ok()) << pool.status();
  return *std::move(pool);
}

inline PooledStack MustAcquire(StackPool& pool) {
  absl::StatusOr<PooledStack> stack = pool.Acquire();
  EXPECT_TRUE(stack.ok()) << stack.status();
  return *std::move(stack);
}

}  // namespace fringe::test_stacks

#endif  // FRINGE_TESTS_STACK_HELPERS_H_
