// Tests of the raw context switch in fringe/arch, on the CPU being built for.

#include <dlfcn.h>
#include <execinfo.h>
#include <unwind.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "fringe/arch/switch.h"
#include "gtest/gtest.h"

namespace fringe::arch_internal {
namespace {

// A stack for a test context: heap memory, 16-byte aligned base.
class TestStack {
 public:
  explicit TestStack(std::size_t size = 256 * 1024)
      : memory_(new std::uintptr_t[size / sizeof(std::uintptr_t)]),
        size_(size) {}
  void* base() const { return reinterpret_cast<char*>(memory_.get()) + size_; }

 private:
  std::unique_ptr<std::uintptr_t[]> memory_;
  std::size_t size_;
};

// Echo context: answers every word w with w + 1, forever.
[[noreturn]] void EchoPlusOne(std::uintptr_t arg, StackPointer resumer, void*) {
  for (;;) {
    Transfer t = Switch(arg + 1, resumer);
    arg = t.arg;
    resumer = t.from;
  }
}

TEST(ArchTest, WordsPassBothWaysAcrossManySwitches) {
  TestStack stack;
  StackPointer sp = InitStack(stack.base(), EchoPlusOne, nullptr);
  for (std::uintptr_t i = 0; i < 100000; ++i) {
    Transfer t = SwitchAndLink(i * 3, sp, stack.base());
    ASSERT_EQ(t.arg, i * 3 + 1);
    sp = t.from;
  }
}

TEST(ArchTest, EntryReceivesContextAndFirstWord) {
  struct Seen {
    std::uintptr_t arg = 0;
    void* context = nullptr;
  } seen;
  TestStack stack;
  StackPointer sp = InitStack(
      stack.base(),
      [](std::uintptr_t arg, StackPointer resumer, void* context) {
        auto* s = static_cast<Seen*>(context);
        s->arg = arg;
        s->context = context;
        Switch(0, resumer);
        __builtin_trap();  // Never resumed again.
      },
      &seen);
  SwitchAndLink(42, sp, stack.base());
  EXPECT_EQ(seen.arg, 42u);
  EXPECT_EQ(seen.context, &seen);
}

// Overwrites every general-purpose and vector register the ABI lets the
// switch clobber, then switches back; a value the compiler kept in a register
// across the switch would be destroyed if the clobber list missed it.
[[noreturn]] void Scrambler(std::uintptr_t, StackPointer resumer, void*) {
  for (;;) {
#if defined(__x86_64__)
    asm volatile(
        "movq $-1, %%rax\n\tmovq $-1, %%rbx\n\tmovq $-1, %%rcx\n\t"
        "movq $-1, %%rdx\n\tmovq $-1, %%rsi\n\tmovq $-1, %%r8\n\t"
        "movq $-1, %%r9\n\tmovq $-1, %%r10\n\tmovq $-1, %%r11\n\t"
        "movq $-1, %%r12\n\tmovq $-1, %%r13\n\tmovq $-1, %%r14\n\t"
        "movq $-1, %%r15\n\t"
        "pcmpeqd %%xmm0, %%xmm0\n\tpcmpeqd %%xmm1, %%xmm1\n\t"
        "pcmpeqd %%xmm2, %%xmm2\n\tpcmpeqd %%xmm3, %%xmm3\n\t"
        "pcmpeqd %%xmm4, %%xmm4\n\tpcmpeqd %%xmm5, %%xmm5\n\t"
        "pcmpeqd %%xmm6, %%xmm6\n\tpcmpeqd %%xmm7, %%xmm7\n\t"
        "pcmpeqd %%xmm8, %%xmm8\n\tpcmpeqd %%xmm9, %%xmm9\n\t"
        "pcmpeqd %%xmm10, %%xmm10\n\tpcmpeqd %%xmm11, %%xmm11\n\t"
        "pcmpeqd %%xmm12, %%xmm12\n\tpcmpeqd %%xmm13, %%xmm13\n\t"
        "pcmpeqd %%xmm14, %%xmm14\n\tpcmpeqd %%xmm15, %%xmm15\n\t" ::
            : "rax", "rbx", "rcx", "rdx", "rsi", "r8", "r9", "r10", "r11",
              "r12", "r13", "r14", "r15", "xmm0", "xmm1", "xmm2", "xmm3",
              "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11",
              "xmm12", "xmm13", "xmm14", "xmm15");
#elif defined(__i386__)
    // x87: fill all eight registers, then pop them (the stack must be empty
    // again at the end of the asm statement).
    asm volatile(
        "movl $-1, %%eax\n\tmovl $-1, %%ebx\n\tmovl $-1, %%ecx\n\t"
        "movl $-1, %%edx\n\tmovl $-1, %%esi\n\tmovl $-1, %%edi\n\t"
        "fld1\n\tfld1\n\tfld1\n\tfld1\n\tfld1\n\tfld1\n\tfld1\n\tfld1\n\t"
        "fstp %%st(0)\n\tfstp %%st(0)\n\tfstp %%st(0)\n\tfstp %%st(0)\n\t"
        "fstp %%st(0)\n\tfstp %%st(0)\n\tfstp %%st(0)\n\tfstp %%st(0)\n\t" ::
            : "eax", "ebx", "ecx", "edx", "esi", "edi", "st", "st(1)", "st(2)",
              "st(3)", "st(4)", "st(5)", "st(6)", "st(7)");
#if defined(__SSE__)
    asm volatile(
        "pcmpeqd %%xmm0, %%xmm0\n\tpcmpeqd %%xmm1, %%xmm1\n\t"
        "pcmpeqd %%xmm2, %%xmm2\n\tpcmpeqd %%xmm3, %%xmm3\n\t"
        "pcmpeqd %%xmm4, %%xmm4\n\tpcmpeqd %%xmm5, %%xmm5\n\t"
        "pcmpeqd %%xmm6, %%xmm6\n\tpcmpeqd %%xmm7, %%xmm7\n\t" ::
            : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7");
#endif
#elif defined(__aarch64__)
    // x18 too: on Linux it is an ordinary temporary, which the switch
    // clobbers (see fringe/arch/aarch64.h).
    asm volatile(
        "mov x0, #-1\n\tmov x1, #-1\n\tmov x2, #-1\n\tmov x3, #-1\n\t"
        "mov x4, #-1\n\tmov x5, #-1\n\tmov x6, #-1\n\tmov x7, #-1\n\t"
        "mov x8, #-1\n\tmov x9, #-1\n\tmov x10, #-1\n\tmov x11, #-1\n\t"
        "mov x12, #-1\n\tmov x13, #-1\n\tmov x14, #-1\n\tmov x15, #-1\n\t"
        "mov x16, #-1\n\tmov x17, #-1\n\tmov x18, #-1\n\tmov x19, #-1\n\t"
        "mov x20, #-1\n\tmov x21, #-1\n\tmov x22, #-1\n\tmov x23, #-1\n\t"
        "mov x24, #-1\n\tmov x25, #-1\n\tmov x26, #-1\n\tmov x27, #-1\n\t"
        "mov x28, #-1\n\t"
        "movi v0.16b, #0xff\n\tmovi v1.16b, #0xff\n\tmovi v2.16b, #0xff\n\t"
        "movi v3.16b, #0xff\n\tmovi v4.16b, #0xff\n\tmovi v5.16b, #0xff\n\t"
        "movi v6.16b, #0xff\n\tmovi v7.16b, #0xff\n\tmovi v8.16b, #0xff\n\t"
        "movi v9.16b, #0xff\n\tmovi v10.16b, #0xff\n\tmovi v11.16b, #0xff\n\t"
        "movi v12.16b, #0xff\n\tmovi v13.16b, #0xff\n\tmovi v14.16b, #0xff\n\t"
        "movi v15.16b, #0xff\n\tmovi v16.16b, #0xff\n\tmovi v17.16b, #0xff\n\t"
        "movi v18.16b, #0xff\n\tmovi v19.16b, #0xff\n\tmovi v20.16b, #0xff\n\t"
        "movi v21.16b, #0xff\n\tmovi v22.16b, #0xff\n\tmovi v23.16b, #0xff\n\t"
        "movi v24.16b, #0xff\n\tmovi v25.16b, #0xff\n\tmovi v26.16b, #0xff\n\t"
        "movi v27.16b, #0xff\n\tmovi v28.16b, #0xff\n\tmovi v29.16b, #0xff\n\t"
        "movi v30.16b, #0xff\n\tmovi v31.16b, #0xff\n\t" ::
            : "x0", "x1", "x2", "x3", "x4", "x5", "x6", "x7", "x8", "x9", "x10",
              "x11", "x12", "x13", "x14", "x15", "x16", "x17", "x18", "x19",
              "x20", "x21", "x22", "x23", "x24", "x25", "x26", "x27", "x28",
              "v0", "v1", "v2", "v3", "v4", "v5", "v6", "v7", "v8", "v9", "v10",
              "v11", "v12", "v13", "v14", "v15", "v16", "v17", "v18", "v19",
              "v20", "v21", "v22", "v23", "v24", "v25", "v26", "v27", "v28",
              "v29", "v30", "v31");
#elif defined(__arm__)
    // r0-r12 and lr except the frame pointer (r7 in Thumb code, r11 in ARM
    // code), and the VFP registers.
#if defined(__thumb__)
#define FRINGE_TEST_ARM32_NOT_FP "r11"
#else
#define FRINGE_TEST_ARM32_NOT_FP "r7"
#endif
    asm volatile(
        "mov r0, #-1\n\tmov r1, #-1\n\tmov r2, #-1\n\tmov r3, #-1\n\t"
        "mov r4, #-1\n\tmov r5, #-1\n\tmov r6, #-1\n\tmov r8, #-1\n\t"
        "mov r9, #-1\n\tmov r10, #-1\n\tmov r12, #-1\n\tmov lr, #-1\n\t"
        "mov " FRINGE_TEST_ARM32_NOT_FP
        ", #-1\n\t"
        "vmov d0, r0, r0\n\tvmov d1, r0, r0\n\tvmov d2, r0, r0\n\t"
        "vmov d3, r0, r0\n\tvmov d4, r0, r0\n\tvmov d5, r0, r0\n\t"
        "vmov d6, r0, r0\n\tvmov d7, r0, r0\n\tvmov d8, r0, r0\n\t"
        "vmov d9, r0, r0\n\tvmov d10, r0, r0\n\tvmov d11, r0, r0\n\t"
        "vmov d12, r0, r0\n\tvmov d13, r0, r0\n\tvmov d14, r0, r0\n\t"
        "vmov d15, r0, r0\n\t" ::
            : "r0", "r1", "r2", "r3", "r4", "r5", "r6", "r8", "r9", "r10",
              "r12", "lr", FRINGE_TEST_ARM32_NOT_FP, "d0", "d1", "d2", "d3",
              "d4", "d5", "d6", "d7", "d8", "d9", "d10", "d11", "d12", "d13",
              "d14", "d15");
#undef FRINGE_TEST_ARM32_NOT_FP
#elif defined(__powerpc64__)
    // Every GPR except r1 (sp), r2 (TOC), r13 (thread) and r31 (the frame
    // pointer), every FPR and VR (together, VSX's vs0-vs63) and CR.
    asm volatile(
        "li 0, -1\n\tli 3, -1\n\tli 4, -1\n\tli 5, -1\n\tli 6, -1\n\t"
        "li 7, -1\n\tli 8, -1\n\tli 9, -1\n\tli 10, -1\n\tli 11, -1\n\t"
        "li 12, -1\n\tli 14, -1\n\tli 15, -1\n\tli 16, -1\n\t"
        "li 17, -1\n\tli 18, -1\n\tli 19, -1\n\tli 20, -1\n\t"
        "li 21, -1\n\tli 22, -1\n\tli 23, -1\n\tli 24, -1\n\t"
        "li 25, -1\n\tli 26, -1\n\tli 27, -1\n\tli 28, -1\n\t"
        "li 29, -1\n\tli 30, -1\n\tmtcrf 0xff, 0\n\t"
        "mtvsrd 0, 0\n\txxspltd 0, 0, 0\n\t"
        "xxlor 1, 0, 0\n\txxlor 2, 0, 0\n\txxlor 3, 0, 0\n\t"
        "xxlor 4, 0, 0\n\txxlor 5, 0, 0\n\txxlor 6, 0, 0\n\t"
        "xxlor 7, 0, 0\n\txxlor 8, 0, 0\n\txxlor 9, 0, 0\n\t"
        "xxlor 10, 0, 0\n\txxlor 11, 0, 0\n\txxlor 12, 0, 0\n\t"
        "xxlor 13, 0, 0\n\txxlor 14, 0, 0\n\txxlor 15, 0, 0\n\t"
        "xxlor 16, 0, 0\n\txxlor 17, 0, 0\n\txxlor 18, 0, 0\n\t"
        "xxlor 19, 0, 0\n\txxlor 20, 0, 0\n\txxlor 21, 0, 0\n\t"
        "xxlor 22, 0, 0\n\txxlor 23, 0, 0\n\txxlor 24, 0, 0\n\t"
        "xxlor 25, 0, 0\n\txxlor 26, 0, 0\n\txxlor 27, 0, 0\n\t"
        "xxlor 28, 0, 0\n\txxlor 29, 0, 0\n\txxlor 30, 0, 0\n\t"
        "xxlor 31, 0, 0\n\txxlor 52, 0, 0\n\txxlor 53, 0, 0\n\t"
        "xxlor 54, 0, 0\n\txxlor 55, 0, 0\n\txxlor 56, 0, 0\n\t"
        "xxlor 57, 0, 0\n\txxlor 58, 0, 0\n\txxlor 59, 0, 0\n\t"
        "xxlor 60, 0, 0\n\txxlor 61, 0, 0\n\txxlor 62, 0, 0\n\t"
        "xxlor 63, 0, 0\n\t" ::
            : "r0", "r3", "r4", "r5", "r6", "r7", "r8", "r9", "r10", "r11",
              "r12", "r14", "r15", "r16", "r17", "r18", "r19", "r20", "r21",
              "r22", "r23", "r24", "r25", "r26", "r27", "r28", "r29", "r30",
              "cr0", "cr1", "cr2", "cr3", "cr4", "cr5", "cr6", "cr7", "fr0",
              "fr1", "fr2", "fr3", "fr4", "fr5", "fr6", "fr7", "fr8", "fr9",
              "fr10", "fr11", "fr12", "fr13", "fr14", "fr15", "fr16", "fr17",
              "fr18", "fr19", "fr20", "fr21", "fr22", "fr23", "fr24", "fr25",
              "fr26", "fr27", "fr28", "fr29", "fr30", "fr31", "v20", "v21",
              "v22", "v23", "v24", "v25", "v26", "v27", "v28", "v29", "v30",
              "v31");
#elif defined(__s390x__)
    // Every GPR except r11 (the frame pointer), r12 (the GOT pointer) and
    // r15 (sp), and every FPR.
    asm volatile(
        "lghi %%r0, -1\n\tlghi %%r1, -1\n\tlghi %%r2, -1\n\t"
        "lghi %%r3, -1\n\tlghi %%r4, -1\n\tlghi %%r5, -1\n\t"
        "lghi %%r6, -1\n\tlghi %%r7, -1\n\tlghi %%r8, -1\n\t"
        "lghi %%r9, -1\n\tlghi %%r10, -1\n\tlghi %%r13, -1\n\t"
        "lghi %%r14, -1\n\t"
        "ldgr %%f0, %%r0\n\tldgr %%f1, %%r0\n\tldgr %%f2, %%r0\n\t"
        "ldgr %%f3, %%r0\n\tldgr %%f4, %%r0\n\tldgr %%f5, %%r0\n\t"
        "ldgr %%f6, %%r0\n\tldgr %%f7, %%r0\n\tldgr %%f8, %%r0\n\t"
        "ldgr %%f9, %%r0\n\tldgr %%f10, %%r0\n\tldgr %%f11, %%r0\n\t"
        "ldgr %%f12, %%r0\n\tldgr %%f13, %%r0\n\tldgr %%f14, %%r0\n\t"
        "ldgr %%f15, %%r0\n\t" ::
            : "r0", "r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8", "r9", "r10",
              "r13", "r14", "f0", "f1", "f2", "f3", "f4", "f5", "f6", "f7",
              "f8", "f9", "f10", "f11", "f12", "f13", "f14", "f15");
#elif defined(__mips64)
    // Every GPR except $zero, $at, $k0/$k1, $gp, $sp and $fp, and every FPR.
    asm volatile(
        "li $2, -1\n\tli $3, -1\n\tli $4, -1\n\tli $5, -1\n\t"
        "li $6, -1\n\tli $7, -1\n\tli $8, -1\n\tli $9, -1\n\t"
        "li $10, -1\n\tli $11, -1\n\tli $12, -1\n\tli $13, -1\n\t"
        "li $14, -1\n\tli $15, -1\n\tli $16, -1\n\tli $17, -1\n\t"
        "li $18, -1\n\tli $19, -1\n\tli $20, -1\n\tli $21, -1\n\t"
        "li $22, -1\n\tli $23, -1\n\tli $24, -1\n\tli $25, -1\n\t"
        "li $31, -1\n\t"
        "dmtc1 $2, $f0\n\tdmtc1 $2, $f1\n\tdmtc1 $2, $f2\n\t"
        "dmtc1 $2, $f3\n\tdmtc1 $2, $f4\n\tdmtc1 $2, $f5\n\t"
        "dmtc1 $2, $f6\n\tdmtc1 $2, $f7\n\tdmtc1 $2, $f8\n\t"
        "dmtc1 $2, $f9\n\tdmtc1 $2, $f10\n\tdmtc1 $2, $f11\n\t"
        "dmtc1 $2, $f12\n\tdmtc1 $2, $f13\n\tdmtc1 $2, $f14\n\t"
        "dmtc1 $2, $f15\n\tdmtc1 $2, $f16\n\tdmtc1 $2, $f17\n\t"
        "dmtc1 $2, $f18\n\tdmtc1 $2, $f19\n\tdmtc1 $2, $f20\n\t"
        "dmtc1 $2, $f21\n\tdmtc1 $2, $f22\n\tdmtc1 $2, $f23\n\t"
        "dmtc1 $2, $f24\n\tdmtc1 $2, $f25\n\tdmtc1 $2, $f26\n\t"
        "dmtc1 $2, $f27\n\tdmtc1 $2, $f28\n\tdmtc1 $2, $f29\n\t"
        "dmtc1 $2, $f30\n\tdmtc1 $2, $f31\n\t" ::
            : "$2", "$3", "$4", "$5", "$6", "$7", "$8", "$9", "$10", "$11",
              "$12", "$13", "$14", "$15", "$16", "$17", "$18", "$19", "$20",
              "$21", "$22", "$23", "$24", "$25", "$31", "$f0", "$f1", "$f2",
              "$f3", "$f4", "$f5", "$f6", "$f7", "$f8", "$f9", "$f10", "$f11",
              "$f12", "$f13", "$f14", "$f15", "$f16", "$f17", "$f18", "$f19",
              "$f20", "$f21", "$f22", "$f23", "$f24", "$f25", "$f26", "$f27",
              "$f28", "$f29", "$f30", "$f31");
#elif defined(__riscv)
    // Every x register except zero, sp, gp, tp and s0 (the frame pointer).
    asm volatile(
        "li ra, -1\n\tli t0, -1\n\tli t1, -1\n\tli t2, -1\n\tli t3, -1\n\t"
        "li t4, -1\n\tli t5, -1\n\tli t6, -1\n\tli a0, -1\n\tli a1, -1\n\t"
        "li a2, -1\n\tli a3, -1\n\tli a4, -1\n\tli a5, -1\n\tli a6, -1\n\t"
        "li a7, -1\n\tli s1, -1\n\tli s2, -1\n\tli s3, -1\n\tli s4, -1\n\t"
        "li s5, -1\n\tli s6, -1\n\tli s7, -1\n\tli s8, -1\n\tli s9, -1\n\t"
        "li s10, -1\n\tli s11, -1\n\t"
        "fmv.d.x f0, t0\n\tfmv.d.x f1, t0\n\tfmv.d.x f2, t0\n\t"
        "fmv.d.x f3, t0\n\tfmv.d.x f4, t0\n\tfmv.d.x f5, t0\n\t"
        "fmv.d.x f6, t0\n\tfmv.d.x f7, t0\n\tfmv.d.x f8, t0\n\t"
        "fmv.d.x f9, t0\n\tfmv.d.x f10, t0\n\tfmv.d.x f11, t0\n\t"
        "fmv.d.x f12, t0\n\tfmv.d.x f13, t0\n\tfmv.d.x f14, t0\n\t"
        "fmv.d.x f15, t0\n\tfmv.d.x f16, t0\n\tfmv.d.x f17, t0\n\t"
        "fmv.d.x f18, t0\n\tfmv.d.x f19, t0\n\tfmv.d.x f20, t0\n\t"
        "fmv.d.x f21, t0\n\tfmv.d.x f22, t0\n\tfmv.d.x f23, t0\n\t"
        "fmv.d.x f24, t0\n\tfmv.d.x f25, t0\n\tfmv.d.x f26, t0\n\t"
        "fmv.d.x f27, t0\n\tfmv.d.x f28, t0\n\tfmv.d.x f29, t0\n\t"
        "fmv.d.x f30, t0\n\tfmv.d.x f31, t0\n\t" ::
            : "ra", "t0", "t1", "t2", "t3", "t4", "t5", "t6", "a0", "a1", "a2",
              "a3", "a4", "a5", "a6", "a7", "s1", "s2", "s3", "s4", "s5", "s6",
              "s7", "s8", "s9", "s10", "s11", "f0", "f1", "f2", "f3", "f4",
              "f5", "f6", "f7", "f8", "f9", "f10", "f11", "f12", "f13", "f14",
              "f15", "f16", "f17", "f18", "f19", "f20", "f21", "f22", "f23",
              "f24", "f25", "f26", "f27", "f28", "f29", "f30", "f31");
#endif
    resumer = Switch(0, resumer).from;
  }
}

// Not inlined, so that values live in the test across the call must sit in
// callee-saved registers or the test's frame: the switch inside clobbers the
// former, so this function must save them.
__attribute__((noinline)) StackPointer RoundTrip(StackPointer sp, void* base) {
  return SwitchAndLink(0, sp, base).from;
}

TEST(ArchTest, CalleeSavedRegistersSurviveASwitchInACallee) {
  TestStack stack;
  StackPointer sp = InitStack(stack.base(), Scrambler, nullptr);
  volatile std::uint64_t seed = 0x9e3779b97f4a7c15;
  std::uint64_t a = seed, b = a * 3, c = b ^ 7, d = c + 11, e = d * 13,
                f = e ^ 17;
  for (int i = 0; i < 100; ++i) {
    sp = RoundTrip(sp, stack.base());
    a += 1, b += 2, c += 3, d += 4, e += 5, f += 6;
  }
  std::uint64_t s = seed;
  EXPECT_EQ(a, s + 100);
  EXPECT_EQ(b, s * 3 + 200);
  EXPECT_EQ(c, ((s * 3) ^ 7) + 300);
  EXPECT_EQ(d, ((s * 3) ^ 7) + 11 + 400);
  EXPECT_EQ(e, (((s * 3) ^ 7) + 11) * 13 + 500);
  EXPECT_EQ(f, ((((s * 3) ^ 7) + 11) * 13 ^ 17) + 600);
}

TEST(ArchTest, FloatingPointValuesLiveAcrossAnInlinedSwitchSurvive) {
  TestStack stack;
  StackPointer sp = InitStack(stack.base(), Scrambler, nullptr);
  volatile double seed = 1.25;
  double v[12];
  for (int k = 0; k < 12; ++k) v[k] = seed * (k + 1);
  double x0 = v[0], x1 = v[1], x2 = v[2], x3 = v[3], x4 = v[4], x5 = v[5],
         x6 = v[6], x7 = v[7], x8 = v[8], x9 = v[9], x10 = v[10], x11 = v[11];
  for (int i = 0; i < 50; ++i) {
    sp = SwitchAndLink(0, sp, stack.base()).from;
    x0 += 1, x1 += 1, x2 += 1, x3 += 1, x4 += 1, x5 += 1;
    x6 += 1, x7 += 1, x8 += 1, x9 += 1, x10 += 1, x11 += 1;
  }
  double got[12] = {x0, x1, x2, x3, x4, x5, x6, x7, x8, x9, x10, x11};
  for (int k = 0; k < 12; ++k) EXPECT_EQ(got[k], 1.25 * (k + 1) + 50) << k;
}

TEST(ArchTest, NewStackIsSixteenByteAlignedAtEntryAndAcrossSwitches) {
  TestStack stack;
  std::uintptr_t misaligned = 0;
  StackPointer sp = InitStack(
      stack.base(),
      [](std::uintptr_t, StackPointer resumer, void* context) {
        auto* misaligned = static_cast<std::uintptr_t*>(context);
        for (;;) {
          // The compiler places `slot` relying on the ABI's alignment at
          // entry, so a misaligned stack shows in its address.
          alignas(16) float slot[4];
#if defined(__x86_64__) || defined(__i386__)
          // movaps faults on an address that is not 16-byte aligned. (i386
          // compilers without SSE code generation reject xmm0 as a clobber,
          // and keep nothing in it.)
          asm volatile("xorps %%xmm0, %%xmm0\n\tmovaps %%xmm0, %0"
                       : "=m"(slot)
                       :
#if defined(__SSE__)
                       : "xmm0"
#endif
          );
#else
          // Check sp itself too (read after this function's prologue, which
          // moves it by multiples of 16).
          std::uintptr_t sp;
#if defined(__aarch64__) || defined(__arm__)
          asm volatile("mov %0, sp" : "=r"(sp));
#elif defined(__riscv)
          asm volatile("mv %0, sp" : "=r"(sp));
#elif defined(__powerpc64__)
          asm volatile("mr %0, 1" : "=r"(sp));
#elif defined(__s390x__)
          asm volatile("lgr %0, %%r15" : "=r"(sp));
#elif defined(__mips64)
          asm volatile("move %0, $sp" : "=r"(sp));
#endif
#if defined(__arm__) || defined(__s390x__)
          // AAPCS and the s390x ABI keep sp 8-byte aligned at calls; fringe
          // starts entry at 16, but the frames below may be multiples of 8.
          *misaligned |= sp % 8;
#else
          *misaligned |= sp % 16;
#endif
          asm volatile("" : : "r"(&slot) : "memory");  // Keeps `slot` real.
#endif
          *misaligned |= reinterpret_cast<std::uintptr_t>(&slot) % 16;
          resumer = Switch(0, resumer).from;
        }
      },
      &misaligned);
  for (int i = 0; i < 3; ++i) sp = SwitchAndLink(0, sp, stack.base()).from;
  EXPECT_EQ(misaligned, 0u);
}

// Unwinding from the new stack: the caller that switched must appear.
std::vector<std::string> SymbolsOf(void* const* pcs, int n) {
  std::vector<std::string> names;
  for (int i = 0; i < n; ++i) {
    Dl_info info;
    if (dladdr(pcs[i], &info) && info.dli_sname) {
      names.push_back(info.dli_sname);
    }
  }
  return names;
}

bool Contains(const std::vector<std::string>& v, const std::string& s) {
  for (const auto& x : v) {
    if (x == s) return true;
  }
  return false;
}

// Contexts whose code is in another module (tests/arch_other_module.cc: on
// ppc64le another TOC; on arm32 ARM code, while this file is Thumb-2) and
// this file's switch to each other in every combination.
extern "C" [[noreturn]] void FringeTestOtherModuleEchoPlusTwo(std::uintptr_t,
                                                              StackPointer,
                                                              void*);
extern "C" std::uintptr_t FringeTestOtherModuleRoundTrip(StackPointer* sp,
                                                         void* base,
                                                         std::uintptr_t arg);
extern "C" [[noreturn]] void FringeTestOtherModuleBacktrace(std::uintptr_t,
                                                            StackPointer,
                                                            void*);
extern "C" std::uintptr_t FringeTestOtherModuleEchoSwitches();

TEST(ArchTest, ContextsInAnotherModuleAndThisOneSwitchToEachOther) {
#if defined(__arm__)
  // Bit 0 of a function's address is its instruction set: 1 for Thumb.
  ASSERT_EQ(reinterpret_cast<std::uintptr_t>(&EchoPlusOne) & 1, 1u)
      << "arch_test.cc is not Thumb code";
  ASSERT_EQ(
      reinterpret_cast<std::uintptr_t>(&FringeTestOtherModuleEchoPlusTwo) & 1,
      0u)
      << "arch_other_module.cc is not ARM code";
#endif
  TestStack this_stack, other_stack;
  StackPointer here = InitStack(this_stack.base(), EchoPlusOne, nullptr);
  StackPointer other =
      InitStack(other_stack.base(), FringeTestOtherModuleEchoPlusTwo, nullptr);
  for (std::uintptr_t i = 0; i < 1000; ++i) {
    // This module -> the other; the other -> this one and itself.
    Transfer t = SwitchAndLink(i, other, other_stack.base());
    ASSERT_EQ(t.arg, i + 2);
    other = t.from;
    ASSERT_EQ(FringeTestOtherModuleRoundTrip(&here, this_stack.base(), i),
              i + 1);
    ASSERT_EQ(FringeTestOtherModuleRoundTrip(&other, other_stack.base(), i),
              i + 2);
  }
  // The other module's code read and wrote its own global after every
  // switch back into it (through its own TOC on ppc64le).
  EXPECT_EQ(FringeTestOtherModuleEchoSwitches(), 1999u);
}

TEST(ArchTest, BacktraceFromAnotherModuleReachesTheCaller) {
  void* out[64] = {};
  TestStack stack;
  StackPointer sp =
      InitStack(stack.base(), FringeTestOtherModuleBacktrace, out);
  SwitchAndLink(0, sp, stack.base());
  int n = static_cast<int>(reinterpret_cast<std::intptr_t>(out[0]));
  std::vector<std::string> names = SymbolsOf(out + 1, n);
  EXPECT_TRUE(Contains(names, "FringeTestOtherModuleBacktrace"))
      << ::testing::PrintToString(names);
  EXPECT_TRUE(Contains(names, "main")) << ::testing::PrintToString(names);
}

struct Backtraces {
  std::vector<std::string> from_backtrace;
  std::vector<std::string> from_unwind;
};

_Unwind_Reason_Code CollectPc(_Unwind_Context* context, void* arg) {
  auto* pcs = static_cast<std::vector<void*>*>(arg);
  pcs->push_back(reinterpret_cast<void*>(_Unwind_GetIP(context)));
  return pcs->size() < 64 ? _URC_NO_REASON : _URC_END_OF_STACK;
}

[[noreturn]] void TakeBacktraces(std::uintptr_t, StackPointer resumer,
                                 void* context) {
  auto* out = static_cast<Backtraces*>(context);
  void* pcs[64];
  int n = backtrace(pcs, 64);
  out->from_backtrace = SymbolsOf(pcs, n);
  std::vector<void*> unwound;
  _Unwind_Backtrace(CollectPc, &unwound);
  out->from_unwind =
      SymbolsOf(unwound.data(), static_cast<int>(unwound.size()));
  Switch(0, resumer);
  __builtin_trap();
}

extern "C" __attribute__((noinline)) void FringeTestSwitchIntoBacktracer(
    Backtraces* out) {
  TestStack stack;
  StackPointer sp = InitStack(stack.base(), TakeBacktraces, out);
  SwitchAndLink(0, sp, stack.base());
  asm volatile("");  // Keeps the call above from being a tail call.
}

TEST(ArchTest, BacktraceOnNewStackReachesTheSwitchingCaller) {
  Backtraces traces;
  FringeTestSwitchIntoBacktracer(&traces);
  EXPECT_TRUE(Contains(traces.from_backtrace, "FringeTestSwitchIntoBacktracer"))
      << ::testing::PrintToString(traces.from_backtrace);
  EXPECT_TRUE(Contains(traces.from_backtrace, "main"))
      << ::testing::PrintToString(traces.from_backtrace);
  EXPECT_TRUE(Contains(traces.from_unwind, "FringeTestSwitchIntoBacktracer"))
      << ::testing::PrintToString(traces.from_unwind);
  EXPECT_TRUE(Contains(traces.from_unwind, "main"))
      << ::testing::PrintToString(traces.from_unwind);
}

TEST(ArchTest, BacktraceCrossesNestedStacks) {
  // The outer context switches into an inner one, which takes the trace: it
  // must walk inner -> outer -> the test's own frames.
  struct Nest {
    TestStack inner_stack;
    Backtraces traces;
  } nest;
  TestStack outer_stack;
  StackPointer sp = InitStack(
      outer_stack.base(),
      [](std::uintptr_t, StackPointer resumer, void* context) {
        auto* nest = static_cast<Nest*>(context);
        StackPointer inner =
            InitStack(nest->inner_stack.base(), TakeBacktraces, &nest->traces);
        SwitchAndLink(0, inner, nest->inner_stack.base());
        Switch(0, resumer);
        __builtin_trap();
      },
      &nest);
  SwitchAndLink(0, sp, outer_stack.base());
  EXPECT_TRUE(Contains(nest.traces.from_unwind, "main"))
      << ::testing::PrintToString(nest.traces.from_unwind);
}

#if defined(__cpp_exceptions)
TEST(ArchTest, ExceptionThrownAndCaughtOnNewStackWorks) {
  struct Result {
    std::string message;
    int caught = 0;
  } result;
  TestStack stack;
  StackPointer sp = InitStack(
      stack.base(),
      [](std::uintptr_t, StackPointer resumer, void* context) {
        auto* result = static_cast<Result*>(context);
        for (int i = 0; i < 3; ++i) {
          try {
            throw std::runtime_error("thrown on the new stack #" +
                                     std::to_string(i));
          } catch (const std::runtime_error& e) {
            result->message = e.what();
            ++result->caught;
          }
          resumer = Switch(0, resumer).from;
        }
        __builtin_trap();
      },
      &result);
  for (int i = 0; i < 3; ++i) sp = SwitchAndLink(0, sp, stack.base()).from;
  EXPECT_EQ(result.caught, 3);
  EXPECT_EQ(result.message, "thrown on the new stack #2");
}
#endif  // defined(__cpp_exceptions)

}  // namespace
}  // namespace fringe::arch_internal
