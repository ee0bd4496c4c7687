"""The Linux CPUs fringe supports: one line per CPU (fringe/arch/README.md).

fringe's name (the --config and fringe/arch/<name>.{h,cc}) -> the
@platforms//cpu constraint value and, for the cross-compiled ones, the GNU
triple of Debian's g++-<triple> and of qemu-user's sysroot /usr/<triple>,
and any compiler flags the CPU's toolchain adds.
"""

LINUX_CPUS = {
    "x86_64": struct(constraint = "x86_64", triple = None),  # the host
    "x86_32": struct(constraint = "x86_32", triple = "i686-linux-gnu"),
    "aarch64": struct(constraint = "aarch64", triple = "aarch64-linux-gnu"),
    "riscv64": struct(constraint = "riscv64", triple = "riscv64-linux-gnu"),
    # -Wno-psabi: GCC notes on every std::vector<double> iterator that GCC
    # 7.1 changed how such arguments are passed; fringe mixes no such code.
    "arm32": struct(constraint = "armv7", triple = "arm-linux-gnueabihf", copts = ["-Wno-psabi"]),
    # This @platforms release has one PowerPC constraint, "ppc".
    "ppc64le": struct(constraint = "ppc", triple = "powerpc64le-linux-gnu", copts = ["-Wno-psabi"]),
    "s390x": struct(constraint = "s390x", triple = "s390x-linux-gnu", copts = ["-Wno-psabi"]),
    # This @platforms release has one 64-bit MIPS constraint, "mips64".
    "mips64el": struct(constraint = "mips64", triple = "mips64el-linux-gnuabi64", copts = ["-Wno-psabi"]),
}
