#!/usr/bin/env bash
# Loads tools/gdb/fringe.py into gdb, stops tests/generator_gdb_list_target
# while two generators are suspended, one has never run and one is gone, and
# checks that `fringe generators` lists exactly the three live ones with their
# states, and that `fringe bt` of the suspended ones shows their frames (the
# named functions for one) and leaves the thread's registers as they were.
#
#   gdb_generators_test.sh BINARY FRINGE_PY
set -euo pipefail
# LeakSanitizer cannot run under ptrace: under --config=asan the program
# would otherwise fail at exit, which this test checks for.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"

binary="$1"
script="$2"

out="$(gdb -nx -batch \
  -ex "set debuginfod enabled off" \
  -ex "source $script" \
  -ex "break FringeGdbAllSuspended" -ex run \
  -ex "fringe generators" \
  -ex "fringe bt 1" -ex "fringe bt 2" -ex "fringe bt 3" \
  -ex "echo after:\n" -ex bt \
  -ex continue \
  "$binary" 2>&1)"
echo "$out"

fail=0
check() {  # check DESCRIPTION EXTENDED-REGEX
  if ! grep -qE -- "$2" <<<"$out"; then
    echo "FAIL: $1 (no line matches: $2)"
    fail=1
  fi
}

range_of() { sed -nE "s/^$1 stack (\[0x[0-9a-f]+, 0x[0-9a-f]+\))$/\1/p" <<<"$out"; }
named="$(range_of named)"
pooled="$(range_of pooled)"
fresh="$(range_of fresh)"
released="$(range_of released)"
if [[ -z "$named" || -z "$pooled" || -z "$fresh" || -z "$released" ]]; then
  echo "FAIL: the target did not print its stacks' ranges"
  exit 1
fi
listing="$(sed -n '/^ *# *stack \[limit, base)/,/^Generator\|^Breakpoint\|^after:/p' <<<"$out")"

# The listing: one line per live generator, with its state.
hex='0x[0-9a-f]+'
in_listing() {  # in_listing DESCRIPTION REGEX
  if ! grep -qE -- "$2" <<<"$listing"; then
    echo "FAIL: $1 (listing has no line matching: $2)"
    fail=1
  fi
}
esc() { sed 's/[][()]/\\&/g' <<<"$1"; }
in_listing "OsStack generator listed as suspended" \
  "^ +[0-9]+  $(esc "$named") +65536  $hex +suspended$"
in_listing "pooled generator listed as suspended" \
  "^ +[0-9]+  $(esc "$pooled") +65536  $hex +suspended$"
in_listing "never-resumed generator listed, not suspended" \
  "^ +[0-9]+  $(esc "$fresh") +65536  - +new, or running"
if grep -qF -- "$released" <<<"$listing"; then
  echo "FAIL: the released generator's stack is listed"
  fail=1
fi
if [[ "$(grep -cE '^ +[0-9]+  \[' <<<"$listing")" != 3 ]]; then
  echo "FAIL: the listing does not have exactly 3 generators"
  fail=1
fi

# The suspended generators' backtraces: from the switch inside Suspend, up
# through the named functions, to the first frame on the generator's stack.
backtraces="$(sed -n '/^Generator [0-9]/,/^after:/p' <<<"$out")"
in_backtraces() {  # in_backtraces DESCRIPTION REGEX [COUNT]
  if [[ "$(grep -cE -- "$2" <<<"$backtraces")" != "${3:-1}" ]]; then
    echo "FAIL: $1 (not ${3:-1} line(s) of fringe bt match: $2)"
    fail=1
  fi
}
in_backtraces "a backtrace shows FringeGdbSuspendedHere" \
  "^#[0-9]+ .*\bFringeGdbSuspendedHere\b"
in_backtraces "FringeGdbSuspendedOuter calls it" \
  "^#[0-9]+ .*\bFringeGdbSuspendedOuter\b"
in_backtraces "both backtraces start at the generator's switch" \
  "^#0 .*\bSwitch\b" 2
in_backtraces "both end in the generator's entry trampoline" \
  "^#[0-9]+ .*entry_trampoline" 2
in_backtraces "both are cut at the generator's first frame" \
  "^\(the generator's first frame" 2
if grep -qE '^#[0-9]+ +(0x[0-9a-f]+ in )?main \(' <<<"$backtraces"; then
  echo "FAIL: fringe bt went on into stale resumer frames"
  fail=1
fi
check "fringe bt refuses a generator that is not suspended" \
  "fringe bt: generator [0-9] is not suspended"
if grep -qiE "corrupt stack|Backtrace stopped|Python Exception|Error occurred in Python" <<<"$out"; then
  echo "FAIL: gdb or the extension reported an error"
  fail=1
fi

# The thread's own registers are back: its backtrace is the breakpoint's,
# and the program then runs to completion with both generators intact.
after="$(sed -n '/^after:/,$p' <<<"$out")"
if ! grep -qE '^#0 .*FringeGdbAllSuspended' <<<"$after" ||
  ! grep -qE '^#1 .*\bmain\b' <<<"$after"; then
  echo "FAIL: the thread's backtrace after fringe bt is not the breakpoint's"
  fail=1
fi
check "the program finished normally after fringe bt" \
  "exited normally"
exit "$fail"
