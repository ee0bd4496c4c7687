"""linux_cross_toolchain(): a Bazel C++ toolchain for one of Debian's cross gcc's."""

load("@bazel_tools//tools/cpp:unix_cc_toolchain_config.bzl", "cc_toolchain_config")
load(":gcc_cross.bzl", "GCC_UNFILTERED_COMPILE_FLAGS", "gcc_include_directories", "gcc_tool_paths", "gcc_toolchain")

def linux_cross_toolchain(name, constraint, triple, copts = []):
    """Declares `<name>_config`, `<name>_cc` and the toolchain `<name>`.

    Args:
      name: fringe's name for the CPU (bazel/platforms/cpus.bzl).
      constraint: its @platforms//cpu constraint value (e.g. "armv7").
      triple: the GNU triple of Debian's g++-<triple> package.
      copts: flags added to every compile for this CPU.
    """
    cc_toolchain_config(
        name = name + "_config",
        cpu = name,
        compiler = "gcc",
        toolchain_identifier = triple,
        host_system_name = "x86_64-linux-gnu",
        target_system_name = triple,
        target_libc = "glibc",
        abi_version = "gcc",
        abi_libc_version = "glibc",
        tool_paths = gcc_tool_paths(triple),
        cxx_builtin_include_directories = gcc_include_directories(triple),
        compile_flags = [
            "-fstack-protector",
            "-Wall",
            "-fno-omit-frame-pointer",
        ] + copts,
        opt_compile_flags = [
            "-g0",
            "-O2",
            "-D_FORTIFY_SOURCE=1",
            "-DNDEBUG",
            "-ffunction-sections",
            "-fdata-sections",
        ],
        dbg_compile_flags = ["-g"],
        cxx_flags = ["-std=c++20"],
        link_flags = ["-Wl,-z,relro,-z,now", "-pass-exit-codes"],
        link_libs = ["-lstdc++", "-lm", "-lpthread"],
        opt_link_flags = ["-Wl,--gc-sections"],
        unfiltered_compile_flags = GCC_UNFILTERED_COMPILE_FLAGS,
        coverage_compile_flags = ["--coverage"],
        coverage_link_flags = ["--coverage"],
        supports_start_end_lib = False,
    )
    gcc_toolchain(
        name = name,
        config = ":" + name + "_config",
        identifier = triple,
        constraints = [
            "@platforms//cpu:" + constraint,
            "@platforms//os:linux",
        ],
    )
