#!/usr/bin/env bash
# Usage: compile_fail_test.sh SOURCE EXPECTED_REGEX [STD]
# Passes if compiling SOURCE (as C++ STD, default c++20) fails with an error
# matching EXPECTED_REGEX, and with no other error.
# fringe's freestanding core (-ffreestanding: no Abseil) is enough for what
# these sources check, so the host compiler runs on the files in runfiles.
set -uo pipefail
source_file="$1"
expected="$2"
std="${3:-c++20}"
log="$(mktemp)"
if "${CXX:-g++}" -std="$std" -ffreestanding -fsyntax-only -I. "$source_file" \
  >"$log" 2>&1; then
  echo "FAIL: $source_file compiled, but must be rejected ($expected)"
  exit 1
fi
if ! grep -Eq "$expected" "$log"; then
  echo "FAIL: $source_file was rejected, but not with: $expected"
  cat "$log"
  exit 1
fi
errors="$(grep -c ": error:" "$log")"
if ((errors != 1)); then
  echo "FAIL: $source_file was rejected with $errors errors, not one:"
  cat "$log"
  exit 1
fi
echo "PASS: $source_file rejected with: $(grep -Em1 "$expected" "$log")"
