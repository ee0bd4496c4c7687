#!/usr/bin/env bash
# Runs a test binary under valgrind memcheck and fails on any error, any
# definitely lost block, or valgrind's "client switching stacks?" warning
# (which means a generator stack was not registered).
#
#   valgrind_test.sh BINARY [ARGS...]
set -euo pipefail

log="${TEST_TMPDIR:-/tmp}/valgrind.log"
status=0
valgrind --tool=memcheck --error-exitcode=99 --leak-check=full \
  --errors-for-leak-kinds=definite --show-leak-kinds=definite \
  --log-file="$log" "$@" || status=$?
cat "$log"

if ((status != 0)); then
  echo "FAIL: exit status $status under valgrind"
  exit 1
fi
if grep -q "client switching stacks" "$log"; then
  echo "FAIL: valgrind saw an unregistered stack switch"
  exit 1
fi
# One summary per process (death tests fork): every one must be clean.
if ! grep -q "ERROR SUMMARY:" "$log" ||
  grep "ERROR SUMMARY:" "$log" | grep -vq "ERROR SUMMARY: 0 errors"; then
  echo "FAIL: valgrind reported errors"
  exit 1
fi
echo "valgrind: clean"
