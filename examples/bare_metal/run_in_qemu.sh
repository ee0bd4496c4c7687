#!/usr/bin/env bash
# Boots the bare-metal example ELF under qemu-system-aarch64, checks what it
# prints on the UART and its semihosting exit code, and checks with nm that it
# references nothing of an OS, a heap or a C++ runtime.
#
#   run_in_qemu.sh ELF
set -euo pipefail

elf="$1"

forbidden="$(aarch64-linux-gnu-nm "$elf" |
  grep -E ' (malloc|calloc|realloc|free|_Zn[wa]m($|St|RKSt)|_Zd[la]Pv($|m|St|RKSt)|__cxa_|syscall|_Unwind_|abort|__stack_chk)' || true)"
undefined="$(aarch64-linux-gnu-nm --undefined-only "$elf" || true)"
if [[ -n "$forbidden" || -n "$undefined" ]]; then
  echo "FAIL: the bare-metal ELF references runtime symbols:"
  echo "$forbidden"
  echo "$undefined"
  exit 1
fi
echo "nm: no malloc, allocating operator new/delete, __cxa_*, _Unwind_*, syscall or undefined symbols"

status=0
out="$(timeout 60 qemu-system-aarch64 -M virt -cpu cortex-a57 -nographic \
  -semihosting -net none -kernel "$elf" </dev/null 2>&1)" || status=$?
echo "--- UART output (qemu-system-aarch64 -M virt -cpu cortex-a57) ---"
echo "$out"
echo "--- exit status: $status ---"

expected="fringe bare-metal demo: aarch64, no OS, no heap, no exceptions
fibonacci: 0 1 1 2 3 5 8 13 21 34
echo (doubles its input): 2 4 42 (done)
nested: 0 1 2 10 11 12 20 21 22
result: ok"
if [[ "$status" != 0 ]]; then
  echo "FAIL: the program exited with $status"
  exit 1
fi
if [[ "$(tr -d '\r' <<<"$out")" != "$expected" ]]; then
  echo "FAIL: unexpected UART output; expected:"
  echo "$expected"
  exit 1
fi
echo "bare metal: ok"
