// fringe/generator/internal/stack_record.h
//
// What tools that find a generator's stack from an address (the
// stack-overflow handler in fringe/debug, the gdb extension in tools/gdb)
// read to learn about the generator running on it. Every generator writes a
// StackRecord at the very top of its stack, just below the stack's base(),
// when it is created; its ToolState lives in the control block below. The
// layout is fixed: tools/gdb/fringe.py reads it too (keep them in step).
//
//   base - 16  magic         kStackRecordMagic
//   base -  8  state         ToolState* (the control block's)
//
// Internal to fringe; needs nothing but <cstdint>.

#ifndef FRINGE_GENERATOR_INTERNAL_STACK_RECORD_H_
#define FRINGE_GENERATOR_INTERNAL_STACK_RECORD_H_

#include <cstddef>
#include <cstdint>

namespace fringe::generator_internal {

// The word a recovered overflow hands to the resumer in place of a value
// (see fringe/debug/stack_overflow.cc).
inline constexpr std::uintptr_t kOverflowedWord = 4;

struct ToolState {
  void* limit;        // The stack's lowest usable address.
  void* frames_base;  // Where the body's frames start (InitStack's base).
  // The body's context while it is suspended (its stack pointer, as the
  // switch left it); nullptr while it runs or before it started.
  void* suspended;
};

struct StackRecord {
  std::uint64_t magic;
  ToolState* state;
};

inline constexpr std::uint64_t kStackRecordMagic =
    0x6672696e67652d31;  // "fringe-1"

inline StackRecord* RecordOf(void* base) {
  return reinterpret_cast<StackRecord*>(static_cast<char*>(base) -
                                        sizeof(StackRecord));
}

}  // namespace fringe::generator_internal

#endif  // FRINGE_GENERATOR_INTERNAL_STACK_RECORD_H_
