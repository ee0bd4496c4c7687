"""Compile flags for fringe's own code (not for third-party dependencies)."""

# -fstack-clash-protection: a frame bigger than a page is allocated with a
# probe every page (AArch64: every 64 KiB, which is why fringe's guards are
# at least that big on 64-bit CPUs), so that fringe's own frames always hit a
# stack's guard instead of jumping it. gcc 12 accepts the flag for riscv64
# but probes nothing there (support arrived in gcc 14); the guard size is what
# protects riscv64 code. Applies to the .cc files of each target only: code
# in fringe's headers is compiled with the user's flags (README, "Stacks").
FRINGE_COPTS = ["-fstack-clash-protection"]
