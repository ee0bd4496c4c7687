"""linux_cross_toolchain(): a Bazel C++ toolchain for one of Debian's cross gcc's."""

load(":gcc_cross.bzl", "BASE_COMPILE_FLAGS", "GCC_UNFILTERED_COMPILE_FLAGS", "HOSTED_LINK_LIBS", "HOSTED_OPT_COMPILE_FLAGS", "fringe_cc_toolchain_config", "gcc_include_directories", "gcc_tool_paths", "gcc_toolchain")

def linux_cross_toolchain(name, constraint, triple, copts = []):
    """Declares `<name>_config`, `<name>_cc` and the toolchain `<name>`.

    Args:
      name: fringe's name for the CPU (bazel/platforms/cpus.bzl).
      constraint: its @platforms//cpu constraint value (e.g. "armv7").
      triple: the GNU triple of Debian's g++-<triple> package.
      copts: flags added to every compile for this CPU.
    """
    fringe_cc_toolchain_config(
        name = name + "_config",
        cpu = name,
        compiler = "gcc",
        toolchain_identifier = triple,
        target_system_name = triple,
        target_libc = "glibc",
        abi_version = "gcc",
        abi_libc_version = "glibc",
        tool_paths = gcc_tool_paths(triple),
        cxx_builtin_include_directories = gcc_include_directories(triple),
        compile_flags = BASE_COMPILE_FLAGS + copts,
        opt_compile_flags = HOSTED_OPT_COMPILE_FLAGS,
        link_flags = ["-Wl,-z,relro,-z,now", "-pass-exit-codes"],
        link_libs = HOSTED_LINK_LIBS,
        unfiltered_compile_flags = GCC_UNFILTERED_COMPILE_FLAGS,
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
