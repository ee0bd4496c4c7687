#!/usr/bin/env bash
# Runs a Windows program under Wine: what --config=windows puts in
# --run_under, so `bazel test` and `bazel run` run the .exe files it builds.
#
# Each run gets a Wine prefix of its own (in the test's TEST_TMPDIR, so it is
# cleaned with it): tests then share no wineserver and no registry, and run in
# parallel. Creating a prefix costs ~4 s per test.
set -euo pipefail

wine=/usr/lib/wine/wine64
if [[ ! -x "$wine" ]]; then
  echo "fringe: $wine is missing; install Debian's wine64 (tools/bazel does)" >&2
  exit 1
fi
if [[ -n "${TEST_TMPDIR:-}" ]]; then
  prefix="$TEST_TMPDIR/wineprefix"
else
  prefix="$(mktemp -d)"
  trap 'WINEPREFIX="$prefix" /usr/lib/wine/wineserver -k 2>/dev/null || true; rm -rf "$prefix"' EXIT
fi
export WINEPREFIX="$prefix" WINEDEBUG=-all
# No desktop integration, no Mono or Gecko installer dialogs in a headless run.
export WINEDLLOVERRIDES="mscoree,mshtml=;winemenubuilder.exe=d"
# Paths Bazel hands a test (gtest writes its XML report to XML_OUTPUT_FILE),
# as the Windows program sees them: Wine maps the root directory to Z:.
for var in XML_OUTPUT_FILE TEST_TMPDIR TEST_UNDECLARED_OUTPUTS_DIR \
  TEST_PREMATURE_EXIT_FILE TEST_SHARD_STATUS_FILE TEST_INFRASTRUCTURE_FAILURE_FILE; do
  if [[ "${!var:-}" == /* ]]; then
    value="${!var}"
    export "$var=Z:${value//\//\\}"
  fi
done
status=0
"$wine" "$@" || status=$?
# The prefix's wineserver would linger for a few seconds; stop it now.
/usr/lib/wine/wineserver -k 2>/dev/null || true
exit "$status"
