"""linux_clang_toolchain(): Debian's clang for x86_64 Linux, on libstdc++."""

load("@bazel_tools//tools/cpp:unix_cc_toolchain_config.bzl", "cc_toolchain_config")
load(":gcc_cross.bzl", "gcc_toolchain")

def linux_clang_toolchain(name, version):
    """Declares `<name>_config`, `<name>_cc` and the toolchain `<name>`.

    Selected by platforms with //bazel/platforms:compiler = clang (see
    //bazel/platforms:linux_x86_64_clang and --config=clang); every other
    x86_64 platform keeps Bazel's auto-configured gcc.

    Args:
      version: the major version of Debian's clang-<version> package.
    """
    llvm = "/usr/lib/llvm-%s" % version
    cc_toolchain_config(
        name = name + "_config",
        cpu = "k8",
        compiler = "clang",
        toolchain_identifier = name,
        host_system_name = "x86_64-linux-gnu",
        target_system_name = "x86_64-linux-gnu",
        target_libc = "glibc",
        abi_version = "clang",
        abi_libc_version = "glibc",
        tool_paths = {
            "ar": "/usr/bin/ar",
            "cpp": "%s/bin/clang-cpp" % llvm,
            "dwp": "/usr/bin/dwp",
            "gcc": "%s/bin/clang" % llvm,
            "gcov": "/bin/false",
            "ld": "/usr/bin/ld",
            "llvm-cov": "/bin/false",
            "nm": "/usr/bin/nm",
            "objcopy": "/usr/bin/objcopy",
            "objdump": "/usr/bin/objdump",
            "strip": "/usr/bin/strip",
        },
        # clang compiles against gcc 12's libstdc++ and glibc's headers.
        cxx_builtin_include_directories = [
            "/usr/include/c++/12",
            "/usr/include/x86_64-linux-gnu/c++/12",
            "/usr/include/c++/12/backward",
            "%s/lib/clang/%s/include" % (llvm, version),
            "/usr/local/include",
            "/usr/include/x86_64-linux-gnu",
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
        link_flags = ["-Wl,-z,relro,-z,now"],
        link_libs = ["-lstdc++", "-lm", "-lpthread"],
        opt_link_flags = ["-Wl,--gc-sections"],
        # Reproducible outputs: no build timestamps.
        unfiltered_compile_flags = [
            "-Wno-builtin-macro-redefined",
            "-D__DATE__=\"redacted\"",
            "-D__TIMESTAMP__=\"redacted\"",
            "-D__TIME__=\"redacted\"",
        ],
        coverage_compile_flags = ["--coverage"],
        coverage_link_flags = ["--coverage"],
        supports_start_end_lib = False,
    )
    gcc_toolchain(
        name = name,
        config = ":" + name + "_config",
        identifier = name,
        constraints = [
            "@platforms//cpu:x86_64",
            "@platforms//os:linux",
            "//bazel/platforms:clang",
        ],
    )
