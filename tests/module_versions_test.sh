#!/usr/bin/env bash
# MODULE.bazel (Bzlmod, untestable with Bazel 4.2.3) must name the versions
# that bazel/versions.bzl gives the WORKSPACE build, module by module.
set -uo pipefail
versions="$1"
module="$2"
status=0
while read -r bcr_module version; do
  if grep -Eq "bazel_dep\(name = \"$bcr_module\", version = \"$version\"" "$module"; then
    echo "ok: $bcr_module $version"
  else
    echo "FAIL: MODULE.bazel does not depend on $bcr_module $version (bazel/versions.bzl)"
    status=1
  fi
done < <(sed -n 's/.*version = "\([^"]*\)", bcr_module = "\([^"]*\)".*/\2 \1/p' "$versions")
count="$(grep -c 'bcr_module = ' "$versions")"
if ((count != 3)); then
  echo "FAIL: expected 3 modules in $versions, read $count"
  status=1
fi
exit "$status"
