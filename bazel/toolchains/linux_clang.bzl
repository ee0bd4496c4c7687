"""linux_clang_toolchain(): Debian's clang for x86_64 Linux, on libstdc++."""

load(":gcc_cross.bzl", "BASE_COMPILE_FLAGS", "HOSTED_LINK_LIBS", "HOSTED_OPT_COMPILE_FLAGS", "fringe_cc_toolchain_config", "gcc_toolchain")

def linux_clang_toolchain(name, version):
    """Declares `<name>_config`, `<name>_cc` and the toolchain `<name>`.

    Selected by platforms with //bazel/platforms:compiler = clang (see
    //bazel/platforms:linux_x86_64_clang and --config=clang); every other
    x86_64 platform keeps Bazel's auto-configured gcc.

    Args:
      version: the major version of Debian's clang-<version> package.
    """
    llvm = "/usr/lib/llvm-%s" % version
    fringe_cc_toolchain_config(
        name = name + "_config",
        cpu = "k8",
        compiler = "clang",
        toolchain_identifier = name,
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
        compile_flags = BASE_COMPILE_FLAGS,
        opt_compile_flags = HOSTED_OPT_COMPILE_FLAGS,
        link_flags = ["-Wl,-z,relro,-z,now"],
        link_libs = HOSTED_LINK_LIBS,
        # Reproducible outputs: no build timestamps.
        unfiltered_compile_flags = [
            "-Wno-builtin-macro-redefined",
            "-D__DATE__=\"redacted\"",
            "-D__TIMESTAMP__=\"redacted\"",
            "-D__TIME__=\"redacted\"",
        ],
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
