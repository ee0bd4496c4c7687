// A RISC-V vector (RVV) value live across fringe's switch must survive the
// other side writing every vector register and changing vl/vtype.
//
// Built with Clang by tests/arch_hardening_clang_test.sh, not as a cc_test:
// Debian's riscv64 gcc 12 generates no vector code at all, so only Clang can
// keep a vector live across the switch (see fringe/arch/riscv64.h).
// Exits 0 and prints PASS, or prints what went wrong and exits 1.

#include <riscv_vector.h>

#include <cstdint>
#include <cstdio>

#include "fringe/arch/switch.h"

namespace {

using fringe::arch_internal::InitStack;
using fringe::arch_internal::StackPointer;
using fringe::arch_internal::Switch;
using fringe::arch_internal::SwitchAndLink;

alignas(16) unsigned char stack_memory[64 * 1024];

// Fills v0-v31 with all-ones and leaves vl/vtype at e64, m1, vl = 1: a
// resumer that assumed its own vtype still held would compute on one
// 64-bit element.
[[noreturn]] void ScrambleVectors(std::uintptr_t, StackPointer resumer, void*) {
  for (;;) {
    asm volatile(
        "vsetvli t0, zero, e8, m8, ta, ma\n\t"
        "vmv.v.i v0, -1\n\tvmv.v.i v8, -1\n\t"
        "vmv.v.i v16, -1\n\tvmv.v.i v24, -1\n\t"
        "vsetivli zero, 1, e64, m1, ta, ma\n\t" ::
            : "t0", "v0", "v1", "v2", "v3", "v4", "v5", "v6", "v7", "v8", "v9",
              "v10", "v11", "v12", "v13", "v14", "v15", "v16", "v17", "v18",
              "v19", "v20", "v21", "v22", "v23", "v24", "v25", "v26", "v27",
              "v28", "v29", "v30", "v31");
    resumer = Switch(0, resumer).from;
  }
}

// Not inlined, so the vector lives only in this function's registers.
__attribute__((noinline)) bool VectorSurvivesSwitch(StackPointer* sp,
                                                    void* base, int round) {
  std::int32_t in[4] = {round, round + 1, round + 2, round + 3};
  const std::size_t vl = __riscv_vsetvl_e32m1(4);
  vint32m1_t v = __riscv_vle32_v_i32m1(in, vl);
  *sp = SwitchAndLink(0, *sp, base).from;
  v = __riscv_vadd_vx_i32m1(v, 100, vl);
  std::int32_t out[4] = {0, 0, 0, 0};
  __riscv_vse32_v_i32m1(out, v, vl);
  bool ok = true;
  for (int i = 0; i < 4; ++i) {
    if (out[i] != in[i] + 100) {
      std::printf("FAIL: round %d lane %d: got %d, want %d\n", round, i,
                  static_cast<int>(out[i]), static_cast<int>(in[i] + 100));
      ok = false;
    }
  }
  return ok;
}

}  // namespace

int main() {
  void* base = stack_memory + sizeof stack_memory;
  StackPointer sp = InitStack(base, ScrambleVectors, nullptr);
  bool ok = true;
  for (int round = 0; round < 3; ++round) {
    ok = VectorSurvivesSwitch(&sp, base, round * 10) && ok;
  }
  std::puts(ok ? "PASS: a vector live across the switch survived"
               : "FAIL: the switch lost a live vector");
  return ok ? 0 : 1;
}
