#!/usr/bin/env bash
# x32 (-mx32) defines __x86_64__ with 4-byte pointers: fringe/arch/switch.h
# must reject it with its own #error, even where no x32 libc headers are
# installed (as here), so that error must come before any #include.
#
#   arch_x32_test.sh SWITCH_H COMPILER...
set -euo pipefail

switch_h="$1"
shift
# switch.h includes fringe/arch/<cpu>.h by its workspace path.
root="$(cd "$(dirname "$switch_h")/../.." && pwd)"

fail=0
for compiler in "$@"; do
  out="$("$compiler" -mx32 -std=c++20 -fsyntax-only -x c++ -I "$root" \
    "$switch_h" 2>&1 || true)"
  echo "--- $compiler -mx32:"
  echo "$out"
  if grep -q '#error "fringe: x32 (-mx32) is not supported' <<<"$out"; then
    echo "ok:   $compiler reports fringe's x32 #error"
  else
    echo "FAIL: $compiler does not report fringe's x32 #error"
    fail=1
  fi
done
exit "$fail"
