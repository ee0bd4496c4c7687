#!/usr/bin/env bash
# Prints the path of Debian's upstream ("orig") tarball for a source package,
# downloading it with apt once into a per-user cache.
#
#   fetch_debian_source.sh PACKAGE UPSTREAM_VERSION
#
# Only Debian's own package registry is contacted, with the deb-src entries
# derived from this machine's apt sources, and with private apt state so the
# system's package lists are left untouched.
set -euo pipefail

package="$1"
version="$2"
cache="${FRINGE_SOURCE_CACHE:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/fringe/debian-sources}"
mkdir -p "$cache"

find_tarball() {
  compgen -G "$cache/${package}_${version}.orig.tar.*" | head -n 1 || true
}

tarball="$(find_tarball)"
if [[ -z "$tarball" ]]; then
  state="$(mktemp -d)"
  trap 'rm -rf "$state"' EXIT
  mkdir -p "$state/lists/partial" "$state/sources"
  # deb-src twins of the machine's own deb entries (deb822 and one-line forms).
  shopt -s nullglob
  for f in /etc/apt/sources.list.d/*.sources; do
    sed 's/^Types:.*/Types: deb-src/' "$f" >"$state/sources/$(basename "$f")"
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [[ -f "$f" ]] && sed -n 's/^deb /deb-src /p' "$f" >>"$state/sources/fringe.list"
  done
  apt_opts=(-o "Dir::State::Lists=$state/lists"
    -o "Dir::Etc::SourceParts=$state/sources"
    -o "Dir::Etc::SourceList=/dev/null"
    -o "APT::Sandbox::User=root")
  if ! apt-get "${apt_opts[@]}" -qq update >"$state/log" 2>&1; then
    cat "$state/log" >&2
    echo "fringe: 'apt-get update' for Debian source packages failed (see above)." >&2
    exit 1
  fi
  if ! (cd "$cache" && apt-get "${apt_opts[@]}" -qq source --download-only "$package") >"$state/log" 2>&1; then
    cat "$state/log" >&2
    echo "fringe: could not download the Debian source package '$package' (see above)." >&2
    exit 1
  fi
  tarball="$(find_tarball)"
  if [[ -z "$tarball" ]]; then
    echo "fringe: Debian's '$package' source package is not upstream version $version" \
      "(got: $(cd "$cache" && ls "${package}"_*.orig.tar.* 2>/dev/null | tr '\n' ' '))." >&2
    exit 1
  fi
fi
echo "$tarball"
