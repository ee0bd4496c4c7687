// fringe/generator/internal/exception_state.h
//
// The C++ runtime keeps its exception state (the stack of exceptions being
// handled, for `throw;` and std::current_exception, and the count behind
// std::uncaught_exceptions) per thread. A generator suspended inside a catch
// block, or inside a destructor run by unwinding, would otherwise leak that
// state into its resumer, or lose it. ExceptionState holds one generator's
// copy while it is suspended; Resume swaps it with the thread's around the
// switch.
//
// The layout is the Itanium C++ ABI's __cxa_eh_globals, shared by libstdc++
// and libc++abi on every CPU fringe supports (only 32-bit ARM EHABI adds a
// field, and fringe does not support 32-bit ARM).

#ifndef FRINGE_GENERATOR_INTERNAL_EXCEPTION_STATE_H_
#define FRINGE_GENERATOR_INTERNAL_EXCEPTION_STATE_H_

#if defined(__cpp_exceptions)
#include <cxxabi.h>
#endif

namespace fringe::generator_internal {

#if defined(__cpp_exceptions)

class ExceptionState {
 public:
  // Installs this state on the calling thread and keeps the thread's, until
  // Leave(the returned token), on the same thread.
  void* Enter() {
    Globals* thread = thread_globals;
    if (__builtin_expect(thread == nullptr, 0)) {
      thread = thread_globals =
          reinterpret_cast<Globals*>(abi::__cxa_get_globals());
    }
    Swap(*thread);
    return thread;
  }
  void Leave(void* token) { Swap(*static_cast<Globals*>(token)); }

 private:
  struct Globals {
    void* caught_exceptions = nullptr;
    unsigned int uncaught_exceptions = 0;
  };
  // Field by field: a whole-struct swap compiles to a 16-byte load of what
  // was just stored as 8 + 4 bytes, which stalls store-to-load forwarding
  // on every resume.
  void Swap(Globals& thread) {
    void* caught = thread.caught_exceptions;
    unsigned int uncaught = thread.uncaught_exceptions;
    thread.caught_exceptions = globals_.caught_exceptions;
    thread.uncaught_exceptions = globals_.uncaught_exceptions;
    globals_.caught_exceptions = caught;
    globals_.uncaught_exceptions = uncaught;
  }

  // The runtime's per-thread state, found once per thread: a thread_local
  // read is one instruction, __cxa_get_globals() is a call through the PLT.
  static inline thread_local constinit Globals* thread_globals = nullptr;

  Globals globals_;
};

#else  // Without exceptions there is no state to keep.

class ExceptionState {
 public:
  void* Enter() { return nullptr; }
  void Leave(void*) {}
};

#endif

}  // namespace fringe::generator_internal

#endif  // FRINGE_GENERATOR_INTERNAL_EXCEPTION_STATE_H_
