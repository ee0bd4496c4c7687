"""What fringe's C++ toolchains share (Debian's cross gcc's, clang, MinGW)."""

load("@bazel_tools//tools/cpp:unix_cc_toolchain_config.bzl", "cc_toolchain_config")

# Bazel's own defaults for a Linux gcc, which every fringe toolchain keeps.
BASE_COMPILE_FLAGS = [
    "-fstack-protector",
    "-Wall",
    "-fno-omit-frame-pointer",
]

HOSTED_OPT_COMPILE_FLAGS = [
    "-g0",
    "-O2",
    "-D_FORTIFY_SOURCE=1",
    "-DNDEBUG",
    "-ffunction-sections",
    "-fdata-sections",
]

HOSTED_LINK_LIBS = ["-lstdc++", "-lm", "-lpthread"]

def fringe_cc_toolchain_config(**kwargs):
    """cc_toolchain_config with what every fringe toolchain shares filled in.

    Each toolchain passes only what differs; anything it passes wins.
    """
    config = dict(
        host_system_name = "x86_64-linux-gnu",
        dbg_compile_flags = ["-g"],
        cxx_flags = ["-std=c++20"],
        opt_link_flags = ["-Wl,--gc-sections"],
        coverage_compile_flags = ["--coverage"],
        coverage_link_flags = ["--coverage"],
        supports_start_end_lib = False,
    )
    config.update(kwargs)
    cc_toolchain_config(**config)

# Reproducible outputs: no build timestamps, no absolute system header paths.
GCC_UNFILTERED_COMPILE_FLAGS = [
    "-fno-canonical-system-headers",
    "-Wno-builtin-macro-redefined",
    "-D__DATE__=\"redacted\"",
    "-D__TIMESTAMP__=\"redacted\"",
    "-D__TIME__=\"redacted\"",
]

def gcc_tool_paths(triple):
    """tool_paths for cc_toolchain_config: /usr/bin/<triple>-<tool>."""
    gcc = "/usr/bin/%s-" % triple
    paths = {
        tool: gcc + tool
        for tool in ["ar", "cpp", "dwp", "gcc", "gcov", "ld", "nm", "objcopy", "objdump", "strip"]
    }

    # Bazel 4.2.3's unix_cc_toolchain_config reads this key unconditionally;
    # gcc coverage (gcov) never runs it.
    paths["llvm-cov"] = "/bin/false"
    return paths

def gcc_include_directories(triple):
    """The cross compiler's built-in include directories."""
    return [
        "/usr/lib/gcc-cross/%s/12" % triple,
        "/usr/%s/include" % triple,
        "/usr/include",
    ]

def gcc_toolchain(name, config, identifier, constraints):
    """Declares `<name>_cc` (the cc_toolchain) and the toolchain `<name>`."""
    native.cc_toolchain(
        name = name + "_cc",
        all_files = ":empty",
        ar_files = ":empty",
        as_files = ":empty",
        compiler_files = ":empty",
        dwp_files = ":empty",
        linker_files = ":empty",
        objcopy_files = ":empty",
        strip_files = ":empty",
        supports_param_files = 1,
        toolchain_config = config,
        toolchain_identifier = identifier,
    )
    native.toolchain(
        name = name,
        target_compatible_with = constraints,
        toolchain = ":" + name + "_cc",
        toolchain_type = "@bazel_tools//tools/cpp:toolchain_type",
    )
