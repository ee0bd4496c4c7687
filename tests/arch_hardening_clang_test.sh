#!/usr/bin/env bash
# Builds one of the arch_hardening_{rvv,sve}.cc programs with Clang for a
# vector-extension target and runs it under qemu-user with that extension on.
#
# Why an sh_test that calls Clang directly rather than a cc_test: the
# project's cross toolchains are Debian's gcc 12, and gcc 12 can neither
# generate RISC-V vector code nor show Clang's SVE clobber problem. A Clang
# cross toolchain in Bazel would add a toolchain, a platform and a config for
# two small programs; Clang with --target uses the gcc cross sysroots that
# tools/bazel installs anyway. The program needs only fringe/arch.
#
# Usage: arch_hardening_clang_test.sh <program.cc> <arch .cc> <qemu> <qemu -cpu> \
#          <clang flags...>
set -euo pipefail

program="$1"
arch_source="$2"
qemu="$3"
qemu_cpu="$4"
shift 4

clang="${FRINGE_TEST_CLANG:-clang++-16}"
if ! command -v "$clang" >/dev/null; then
  echo "FAIL: $clang not found (tools/bazel installs clang-16)" >&2
  exit 1
fi

# The workspace root, where fringe/arch/switch.h is found by its full path.
root="${TEST_SRCDIR}/${TEST_WORKSPACE}"
out="${TEST_TMPDIR}/program"
echo "building: $clang $* $program $arch_source"
"$clang" "$@" -O2 -std=c++20 -I"$root" "$root/$program" "$root/$arch_source" \
  -o "$out"
sysroot="/usr/$("$clang" "$@" -print-target-triple | sed 's/-unknown//')"
echo "running: $qemu -cpu $qemu_cpu -L $sysroot $out"
"$qemu" -cpu "$qemu_cpu" -L "$sysroot" "$out"
