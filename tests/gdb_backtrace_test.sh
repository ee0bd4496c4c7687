#!/usr/bin/env bash
# Stops gdb inside code running on a fringe stack and checks that `bt` walks
# back through the switch into the frames that switched in, down to main,
# without "previous frame inner to this frame (corrupt stack?)".
#
#   gdb_backtrace_test.sh BINARY BREAK_FUNCTION EXPECTED_FRAME...
set -euo pipefail

binary="$1"
break_at="$2"
shift 2

out="$(gdb -nx -batch \
  -ex "set debuginfod enabled off" \
  -ex "break $break_at" -ex run -ex bt -ex continue \
  "$binary" 2>&1)"
echo "$out"

fail=0
for frame in "$@" main; do
  if ! grep -qE "#[0-9]+ .*\b$frame\b" <<<"$out"; then
    echo "FAIL: backtrace lacks frame '$frame'"
    fail=1
  fi
done
if grep -qiE "corrupt stack|Backtrace stopped" <<<"$out"; then
  echo "FAIL: gdb stopped the backtrace early"
  fail=1
fi
exit "$fail"
