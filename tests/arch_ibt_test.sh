#!/usr/bin/env bash
# Proves, on a build made with -fcf-protection=full (arch_ibt.bzl), that
#  1. every indirect-jump target fringe's switch creates is an endbr64 (x86_64)
#     or endbr32 (i686): the resume label of every switch in the program
#     (found in the disassembly: the address the switch pushes before it
#     jumps), and the entry landing and resume addresses the program reports
#     at run time (arch_ibt_program.cc), which must be among them or inside
#     the entry trampoline;
#  2. fringe's switch object claims IBT but not SHSTK, while the program's
#     own code (the control) claims both, and linking the two together drops
#     SHSTK. That link is `ld -r`: Debian's crt1.o and crti.o carry no
#     property note at all, so a Debian executable never shows either.
#
#   arch_ibt_test.sh x86_64|i686 BINARY ARCH_ARCHIVE PROGRAM_ARCHIVE
set -euo pipefail

variant="$1"
binary="$2"
arch_archive="$3"
program_archive="$4"

case "$variant" in
  x86_64)
    objdump=objdump ld=(ld -m elf_x86_64) run=() endbr=endbr64
    trampoline=fringe_arch_x86_64_entry_trampoline
    ;;
  i686)
    objdump=i686-linux-gnu-objdump ld=(i686-linux-gnu-ld -m elf_i386)
    run=(qemu-i386 -L /usr/i686-linux-gnu) endbr=endbr32
    trampoline=fringe_arch_x86_32_entry_trampoline
    ;;
  *)
    echo "unknown variant $variant" >&2
    exit 2
    ;;
esac

fail=0
check() {  # check DESCRIPTION COMMAND...
  if "${@:2}"; then
    echo "ok:   $1"
  else
    echo "FAIL: $1"
    fail=1
  fi
}

# --- 1. Landing pads -------------------------------------------------------

reported="$("${run[@]}" "$binary")"
echo "$reported"

# Lists "site ADDRESS" for every switch's resume label, "trampoline START END"
# for the entry trampoline, then "check KIND ADDRESS INSTRUCTION" for each of
# those sites and each reported address.
analysis="$(
  "$objdump" -d -w --no-show-raw-insn "$binary" | awk -v variant="$variant" \
    -v trampoline="$trampoline" -v reported="$reported" '
    function hex(s,  v, i) {  # mawk has no strtonum
      v = 0
      for (i = 1; i <= length(s); i++) v = v * 16 + index("0123456789abcdef", substr(s, i, 1)) - 1
      return v
    }
    /^[0-9a-f]+ <.*>:$/ {
      name = $2; gsub(/[<>:]/, "", name)
      if (in_trampoline) { tramp_end = hex($1); in_trampoline = 0 }
      if (name == trampoline) { tramp_start = hex($1); in_trampoline = 1 }
      next
    }
    /^ *[0-9a-f]+:\t/ {
      split($0, f, "\t")
      a = f[1]; gsub(/[ :]/, "", a)
      n++; addr[n] = hex(a); insn[n] = f[2]; at[hex(a)] = f[2]
    }
    END {
      if (in_trampoline) tramp_end = addr[n] + 1
      for (i = 1; i < n; i++) {
        if (variant == "x86_64" && insn[i] ~ /^lea +-?0x[0-9a-f]+\(%rip\),%rax/ &&
            insn[i + 1] ~ /^push +%rax/) {
          match(insn[i], /# [0-9a-f]+/)
          sites[++s] = hex(substr(insn[i], RSTART + 2, RLENGTH - 2))
        }
        split(insn[i], c, / +/)
        if (variant == "i686" && c[1] == "call" && hex(c[2]) == addr[i + 1] &&
            insn[i + 1] ~ /^addl? +\$0x[0-9a-f]+,\(%esp\)/) {
          match(insn[i + 1], /\$0x[0-9a-f]+/)
          sites[++s] = addr[i + 1] + hex(substr(insn[i + 1], RSTART + 3, RLENGTH - 3))
        }
      }
      printf "trampoline %x %x\n", tramp_start, tramp_end
      for (i = 1; i <= s; i++) {
        is_site[sites[i]] = 1
        printf "check site %x %s\n", sites[i], at[sites[i]]
      }
      k = split(reported, r, "\n")
      for (i = 1; i <= k; i++) {
        split(r[i], w, " ")
        x = hex(w[2])
        where = is_site[x] ? "a switch site" : \
                (x > tramp_start && x < tramp_end ? "the entry trampoline" : "nowhere known")
        printf "check %s %x %s (%s)\n", w[1], x, at[x], where
      }
      printf "sites %d\n", s
    }')"
echo "$analysis"

sites="$(awk '$1 == "sites" { print $2 }' <<<"$analysis")"
# The program has a SwitchAndLink and a Switch; the trampolines none.
check "the disassembly shows the program's switches ($sites >= 2)" test "$sites" -ge 2
check "reports: an entry landing and two resume addresses" \
  test "$(grep -c '^entry ' <<<"$reported")/$(grep -c '^resume ' <<<"$reported")" = 1/2
while read -r _ kind address instruction rest; do
  check "$kind $address is an $endbr: '$instruction $rest'" \
    test "$instruction" = "$endbr"
  if [[ "$kind" == entry ]]; then
    check "entry $address lies inside $trampoline, past its first byte" \
      grep -q "(the entry trampoline)" <<<"$rest"
  elif [[ "$kind" == resume ]]; then
    check "resume $address is a switch site of the disassembly" \
      grep -q "(a switch site)" <<<"$rest"
  fi
done < <(grep '^check ' <<<"$analysis")

# --- 2. Property notes ------------------------------------------------------

features() {  # features FILE: the x86 feature lines of its property notes
  readelf -n "$1" | grep "x86 feature:" | sort -u
}
combined="${TEST_TMPDIR:-$(mktemp -d)}/combined.o"
"${ld[@]}" -r -o "$combined" --whole-archive "$program_archive" "$arch_archive"

echo "program's own objects: $(features "$program_archive" | tr '\n' ';')"
echo "fringe's switch object: $(features "$arch_archive" | tr '\n' ';')"
echo "both, linked (ld -r):   $(features "$combined" | tr '\n' ';')"
check "the program's own objects claim IBT and SHSTK (built with full)" \
  grep -q "IBT, SHSTK" <(features "$program_archive")
check "fringe's switch object claims IBT" grep -q "IBT" <(features "$arch_archive")
check "fringe's switch object claims no SHSTK" \
  bash -c '! grep -q SHSTK <<<"$1"' _ "$(features "$arch_archive")"
check "the linked program claims IBT" grep -q "IBT" <(features "$combined")
check "the linked program claims no SHSTK" \
  bash -c '! grep -q SHSTK <<<"$1"' _ "$(features "$combined")"

exit "$fail"
