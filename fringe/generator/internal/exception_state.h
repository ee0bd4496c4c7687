// fringe/generator/internal/exception_state.h
//
// The C++ runtime keeps its exception state (the stack of exceptions being
// handled, for `throw;` and std::current_exception, and the count behind
// std::uncaught_exceptions) per thread. A generator suspended inside a catch
// block, or inside a destructor run by unwinding, would otherwise leak that
// state into its resumer, or lose it. ExceptionState holds one generator's
// state while it is suspended; Resume moves states around the switch so that
// the thread's state always belongs to whoever runs.
//
// Almost always both sides' states are empty, and then nothing is copied:
// Enter and Leave only look (a few loads and branches per resume; swapping
// unconditionally cost ~1.3 ns per resume and ~4 ns per iteration step here).
//
// The layout is the Itanium C++ ABI's __cxa_eh_globals, shared by libstdc++
// and libc++abi on every CPU fringe supports (only 32-bit ARM EHABI adds a
// field, and fringe does not support 32-bit ARM).

#ifndef FRINGE_GENERATOR_INTERNAL_EXCEPTION_STATE_H_
#define FRINGE_GENERATOR_INTERNAL_EXCEPTION_STATE_H_

#include <cstdint>

namespace fringe::generator_internal {

#if defined(__cpp_exceptions)

class ExceptionState {
  struct Globals {
    void* caught_exceptions;
    unsigned int uncaught_exceptions;

    bool Empty() const {
      return caught_exceptions == nullptr && uncaught_exceptions == 0;
    }
    // Field by field: a whole-struct copy compiles to a 16-byte load of what
    // was just stored as 8 + 4 bytes, which stalls store-to-load forwarding.
    void MoveTo(Globals& to) {
      to.caught_exceptions = caught_exceptions;
      to.uncaught_exceptions = uncaught_exceptions;
      caught_exceptions = nullptr;
      uncaught_exceptions = 0;
    }
  };

 public:
  // The resumer's state, kept across one switch on the resumer's stack.
  struct Token {
    Globals* thread;
    bool resumer_had_state;
    Globals resumer;  // Set only if resumer_had_state.
  };

  // The generator's resumes run on another thread from now on (its first,
  // or a migratable one's move): looks up that thread's state. Generator
  // calls it whenever the thread pointer differs from the last resume's, so
  // Enter need not compare again.
  void AdoptThread() { thread_globals_ = LookUpThreadGlobals(); }

  // Before switching into the generator: puts the resumer's state aside and
  // installs the generator's.
  Token Enter() {
    Token token;
    token.thread = thread_globals_;
    token.resumer_had_state = !token.thread->Empty();
    if (__builtin_expect(token.resumer_had_state, 0)) {
      token.thread->MoveTo(token.resumer);
    }
    if (__builtin_expect(has_saved_, 0)) {
      saved_.MoveTo(*token.thread);
      has_saved_ = false;
    }
    return token;
  }

  // After the generator switched back (on the same thread): keeps the
  // generator's state and gives the resumer its own back.
  void Leave(Token& token) {
    if (__builtin_expect(!token.thread->Empty(), 0)) {
      token.thread->MoveTo(saved_);
      has_saved_ = true;
    }
    if (__builtin_expect(token.resumer_had_state, 0)) {
      token.resumer.MoveTo(*token.thread);
    }
  }

#if defined(__GLIBCXX__)
  // After the body ended with the thread's exit or cancellation in flight
  // (abi::__forced_unwind, caught but not finished in the generator's
  // entry): carries on with that unwinding here, on the resumer's stack.
  // The rethrow resumes glibc's forced unwind, with its own stop function,
  // from the caller's frame.
  [[noreturn]] void ContinueThreadExit() {
    Globals* thread = thread_globals_;
    thread->caught_exceptions = saved_.caught_exceptions;
    thread->uncaught_exceptions = saved_.uncaught_exceptions;
    has_saved_ = false;
    saved_ = Globals{};
    throw;
  }
#endif

 private:
  // The runtime's per-thread state, looked up per generator and thread
  // (AdoptThread). A thread_local (or __cxa_get_globals(), which cxxabi.h
  // declares `const`) would let the compiler reuse one thread's address on
  // another: code that resumes this generator from a body that migrates
  // between threads can be inlined into that body, across its Suspend().
  // The thread pointer is read opaquely (see fringe/arch/cpu_state.h), and
  // the lookup is out of line, so neither can be reused. (A thread that
  // reuses an exited thread's pointer reuses its static TLS block too, where
  // libstdc++ keeps these globals.) Keyed on Generator's own pinning check,
  // which saves a second compare of the thread pointer per resume.
  [[gnu::noinline]] static Globals* LookUpThreadGlobals();

  bool has_saved_ = false;
  Globals saved_;  // The generator's state while suspended, if has_saved_.
  Globals* thread_globals_ = nullptr;
};

#else  // Without exceptions there is no state to keep.

class ExceptionState {
 public:
  struct Token {};
  void AdoptThread() {}
  Token Enter() { return {}; }
  void Leave(Token&) {}
};

#endif

}  // namespace fringe::generator_internal

#endif  // FRINGE_GENERATOR_INTERNAL_EXCEPTION_STATE_H_
