"""bare_metal_toolchain(): Debian's aarch64 gcc in freestanding mode, for os:none."""

load("@bazel_tools//tools/cpp:unix_cc_toolchain_config.bzl", "cc_toolchain_config")

def bare_metal_toolchain(name, cpu, triple):
    """Declares `<name>_config`, `<name>_cc` and the toolchain `<name>`.

    No libc, no C++ runtime, no exceptions, no RTTI: programs bring their own
    start-up code and linker script (see examples/bare_metal).
    """
    gcc = "/usr/bin/%s-" % triple
    cc_toolchain_config(
        name = name + "_config",
        cpu = cpu,
        compiler = "gcc",
        toolchain_identifier = name,
        host_system_name = "x86_64-linux-gnu",
        target_system_name = cpu + "-none-elf",
        target_libc = "none",
        abi_version = "gcc",
        abi_libc_version = "none",
        tool_paths = {
            "ar": gcc + "ar",
            "cpp": gcc + "cpp",
            "dwp": gcc + "dwp",
            "gcc": gcc + "gcc",
            "gcov": gcc + "gcov",
            "ld": gcc + "ld",
            "llvm-cov": "/bin/false",  # Required key; gcc has no llvm-cov.
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
            "-ffreestanding",
            "-fno-exceptions",
            "-fno-rtti",
            "-fno-stack-protector",
            "-fno-threadsafe-statics",
            "-Wall",
            "-fno-omit-frame-pointer",
        ],
        opt_compile_flags = ["-O2", "-DNDEBUG", "-ffunction-sections", "-fdata-sections"],
        dbg_compile_flags = ["-g"],
        cxx_flags = ["-std=c++20"],
        link_flags = ["-nostdlib", "-static", "-Wl,--build-id=none"],
        link_libs = ["-lgcc"],
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
        toolchain_config = ":" + name + "_config",
        toolchain_identifier = name,
    )
    native.toolchain(
        name = name,
        target_compatible_with = [
            "@platforms//cpu:" + cpu,
            "@platforms//os:none",
        ],
        toolchain = ":" + name + "_cc",
        toolchain_type = "@bazel_tools//tools/cpp:toolchain_type",
    )
