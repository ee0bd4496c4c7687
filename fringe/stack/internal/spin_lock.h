// fringe/stack/internal/spin_lock.h
//
// SpinLock: the lock behind StackPool's free lists. Their critical sections
// are a few loads and stores (system calls happen outside the lock), so a
// lock that costs one atomic exchange to take and a plain store to release
// beats absl::Mutex, whose uncontended Lock and Unlock measured ~13 ns each
// here and made up more than half of creating a pooled generator. Under
// contention it spins briefly, then yields the CPU.

#ifndef FRINGE_STACK_INTERNAL_SPIN_LOCK_H_
#define FRINGE_STACK_INTERNAL_SPIN_LOCK_H_

#include <sched.h>

#include <atomic>

#include "absl/base/thread_annotations.h"

namespace fringe::stack_internal {

class ABSL_LOCKABLE SpinLock {
 public:
  void Lock() ABSL_EXCLUSIVE_LOCK_FUNCTION() {
    while (locked_.exchange(true, std::memory_order_acquire)) {
      // Wait until it looks free before trying again: reading does not
      // steal the cache line from the holder.
      for (int spins = 0; locked_.load(std::memory_order_relaxed);) {
        if (++spins < 100) {
          Relax();
        } else {
          sched_yield();  // The holder may have been preempted.
          spins = 0;
        }
      }
    }
  }
  void Unlock() ABSL_UNLOCK_FUNCTION() {
    locked_.store(false, std::memory_order_release);
  }

 private:
  static void Relax() {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    asm volatile("yield");
#endif
  }

  std::atomic<bool> locked_{false};
};

class ABSL_SCOPED_LOCKABLE SpinLockHolder {
 public:
  explicit SpinLockHolder(SpinLock* lock) ABSL_EXCLUSIVE_LOCK_FUNCTION(lock)
      : lock_(lock) {
    lock_->Lock();
  }
  SpinLockHolder(const SpinLockHolder&) = delete;
  SpinLockHolder& operator=(const SpinLockHolder&) = delete;
  ~SpinLockHolder() ABSL_UNLOCK_FUNCTION() { lock_->Unlock(); }

 private:
  SpinLock* lock_;
};

}  // namespace fringe::stack_internal

#endif  // FRINGE_STACK_INTERNAL_SPIN_LOCK_H_
