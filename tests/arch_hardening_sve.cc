// An SVE vector and predicate live across fringe's switch must survive the
// other side writing every z and p register and the FFR. Before anything
// else, this checks that Clang compiles fringe/arch/aarch64.h for an SVE
// target at all.
//
// Built with Clang by tests/arch_hardening_clang_test.sh, not as a cc_test:
// the SVE clobber list differs between GCC and Clang (Clang cannot name
// "ffr"), and the project's aarch64 toolchain is GCC.
// Exits 0 and prints PASS, or prints what went wrong and exits 1.

#include <arm_sve.h>

#include <cstdint>
#include <cstdio>

#include "fringe/arch/switch.h"

namespace {

using fringe::arch_internal::InitStack;
using fringe::arch_internal::StackPointer;
using fringe::arch_internal::Switch;
using fringe::arch_internal::SwitchAndLink;

alignas(16) unsigned char stack_memory[64 * 1024];

// Fills z0-z31 with all-ones, sets p0-p15 all-true and the FFR too.
[[noreturn]] void ScrambleSve(std::uintptr_t, StackPointer resumer, void*) {
  for (;;) {
    asm volatile(
        "ptrue p0.b\n\tptrue p1.b\n\tptrue p2.b\n\tptrue p3.b\n\t"
        "ptrue p4.b\n\tptrue p5.b\n\tptrue p6.b\n\tptrue p7.b\n\t"
        "ptrue p8.b\n\tptrue p9.b\n\tptrue p10.b\n\tptrue p11.b\n\t"
        "ptrue p12.b\n\tptrue p13.b\n\tptrue p14.b\n\tptrue p15.b\n\t"
        "setffr\n\t"
        "mov z0.b, #-1\n\tmov z1.b, #-1\n\tmov z2.b, #-1\n\tmov z3.b, #-1\n\t"
        "mov z4.b, #-1\n\tmov z5.b, #-1\n\tmov z6.b, #-1\n\tmov z7.b, #-1\n\t"
        "mov z8.b, #-1\n\tmov z9.b, #-1\n\tmov z10.b, #-1\n\t"
        "mov z11.b, #-1\n\tmov z12.b, #-1\n\tmov z13.b, #-1\n\t"
        "mov z14.b, #-1\n\tmov z15.b, #-1\n\tmov z16.b, #-1\n\t"
        "mov z17.b, #-1\n\tmov z18.b, #-1\n\tmov z19.b, #-1\n\t"
        "mov z20.b, #-1\n\tmov z21.b, #-1\n\tmov z22.b, #-1\n\t"
        "mov z23.b, #-1\n\tmov z24.b, #-1\n\tmov z25.b, #-1\n\t"
        "mov z26.b, #-1\n\tmov z27.b, #-1\n\tmov z28.b, #-1\n\t"
        "mov z29.b, #-1\n\tmov z30.b, #-1\n\tmov z31.b, #-1\n\t" ::
            : "z0", "z1", "z2", "z3", "z4", "z5", "z6", "z7", "z8", "z9", "z10",
              "z11", "z12", "z13", "z14", "z15", "z16", "z17", "z18", "z19",
              "z20", "z21", "z22", "z23", "z24", "z25", "z26", "z27", "z28",
              "z29", "z30", "z31", "p0", "p1", "p2", "p3", "p4", "p5", "p6",
              "p7", "p8", "p9", "p10", "p11", "p12", "p13", "p14", "p15");
    resumer = Switch(0, resumer).from;
  }
}

// Not inlined, so the vector and predicate live only in this function's
// registers. With 256-bit SVE a vector holds 8 int32 lanes; the predicate
// selects the first 5, so a predicate the other side set all-true shows in
// lanes 5-7.
__attribute__((noinline)) bool SveStateSurvivesSwitch(StackPointer* sp,
                                                      void* base, int round) {
  const int lanes = static_cast<int>(svcntw());
  std::int32_t in[64];
  for (int i = 0; i < lanes; ++i) in[i] = round + i;
  const svbool_t all = svptrue_b32();
  const svbool_t first5 = svwhilelt_b32(0, 5);
  svint32_t v = svld1_s32(all, in);
  *sp = SwitchAndLink(0, *sp, base).from;
  v = svadd_n_s32_m(first5, v, 100);
  std::int32_t out[64];
  svst1_s32(all, out, v);
  bool ok = true;
  for (int i = 0; i < lanes; ++i) {
    const std::int32_t want = in[i] + (i < 5 ? 100 : 0);
    if (out[i] != want) {
      std::printf("FAIL: round %d lane %d: got %d, want %d\n", round, i,
                  static_cast<int>(out[i]), static_cast<int>(want));
      ok = false;
    }
  }
  return ok;
}

}  // namespace

int main() {
  void* base = stack_memory + sizeof stack_memory;
  StackPointer sp = InitStack(base, ScrambleSve, nullptr);
  bool ok = true;
  for (int round = 0; round < 3; ++round) {
    ok = SveStateSurvivesSwitch(&sp, base, round * 10) && ok;
  }
  std::printf("%s (%d-bit SVE vectors)\n",
              ok ? "PASS: SVE state live across the switch survived"
                 : "FAIL: the switch lost live SVE state",
              static_cast<int>(svcntb() * 8));
  return ok ? 0 : 1;
}
