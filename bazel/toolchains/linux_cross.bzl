"""linux_cross_toolchain(): a Bazel C++ toolchain for one of Debian's cross gcc's."""

load("@bazel_tools//tools/cpp:unix_cc_toolchain_config.bzl", "cc_toolchain_config")

def linux_cross_toolchain(cpu, triple):
    """Declares `<cpu>_config`, `<cpu>_cc` and the toolchain `<cpu>`.

    Args:
      cpu: the @platforms//cpu constraint value (e.g. "aarch64").
      triple: the GNU triple of Debian's g++-<triple> package.
    """
    gcc = "/usr/bin/%s-" % triple
    cc_toolchain_config(
        name = cpu + "_config",
        cpu = cpu,
        compiler = "gcc",
        toolchain_identifier = triple,
        host_system_name = "x86_64-linux-gnu",
        target_system_name = triple,
        target_libc = "glibc",
        abi_version = "gcc",
        abi_libc_version = "glibc",
        tool_paths = {
            "ar": gcc + "ar",
            "cpp": gcc + "cpp",
            "dwp": gcc + "dwp",
            "gcc": gcc + "gcc",
            "gcov": gcc + "gcov",
            "ld": gcc + "ld",
            # Bazel 4.2.3's unix_cc_toolchain_config reads this key
            # unconditionally; gcc coverage (gcov) never runs it.
            "llvm-cov": "/bin/false",
            "nm": gcc + "nm",
            "objcopy": gcc + "objcopy",
            "objdump": gcc + "objdump",
            "strip": gcc + "strip",
        },
        cxx_builtin_include_directories = [
            "/usr/lib/gcc-cross/%s/12" % triple,
            "/usr/%s/include" % triple,
            "/usr/include",
        ],
        compile_flags = [
            "-fstack-protector",
            "-Wall",
            "-fno-omit-frame-pointer",
        ],
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
        unfiltered_compile_flags = [
            "-fno-canonical-system-headers",
            "-Wno-builtin-macro-redefined",
            "-D__DATE__=\"redacted\"",
            "-D__TIMESTAMP__=\"redacted\"",
            "-D__TIME__=\"redacted\"",
        ],
        coverage_compile_flags = ["--coverage"],
        coverage_link_flags = ["--coverage"],
        supports_start_end_lib = False,
    )
    native.cc_toolchain(
        name = cpu + "_cc",
        all_files = ":empty",
        ar_files = ":empty",
        as_files = ":empty",
        compiler_files = ":empty",
        dwp_files = ":empty",
        linker_files = ":empty",
        objcopy_files = ":empty",
        strip_files = ":empty",
        supports_param_files = 1,
        toolchain_config = ":" + cpu + "_config",
        toolchain_identifier = triple,
    )
    native.toolchain(
        name = cpu,
        target_compatible_with = [
            "@platforms//cpu:" + cpu,
            "@platforms//os:linux",
        ],
        toolchain = ":" + cpu + "_cc",
        toolchain_type = "@bazel_tools//tools/cpp:toolchain_type",
    )
