#!/bin/sh
# MinGW-w64's gcc, as the Windows toolchain's compiler and linker driver.
# The MinGW linker appends ".exe" to an output named without an extension,
# and Bazel expects a cc_binary's or cc_test's executable under its plain name:
# after linking one, rename it back. (Wine and Windows run a PE file whatever
# its name.)
out=
prev=
for arg in "$@"; do
  [ "$prev" = "-o" ] && out="$arg"
  prev="$arg"
  # Bazel passes a link's arguments in a parameter file, one per line.
  case "$arg" in
    @*) [ -f "${arg#@}" ] && out="$(sed -n '/^-o$/{n;p;q}' "${arg#@}")" ;;
  esac
done
/usr/bin/x86_64-w64-mingw32-gcc-posix "$@" || exit $?
case "$out" in
  *.*) ;;
  ?*) if [ -f "$out.exe" ]; then mv -f "$out.exe" "$out"; fi ;;
esac
