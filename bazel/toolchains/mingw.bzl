"""mingw_toolchain(): Debian's MinGW-w64 gcc (posix threads) for Windows x86_64."""

load(":gcc_cross.bzl", "GCC_UNFILTERED_COMPILE_FLAGS", "fringe_cc_toolchain_config", "gcc_tool_paths")

def mingw_toolchain(name):
    """Declares `<name>_config`, `<name>_cc` and the toolchain `<name>`.

    Selected by platforms with @platforms//os:windows and cpu x86_64 (see
    //bazel/platforms:windows_x86_64 and --config=windows). Programs link
    statically (libstdc++, libgcc, winpthreads), so that Wine, or a Windows
    machine, runs a test binary without any MinGW DLL next to it.

    Args:
      name: the toolchain's name.
    """
    triple = "x86_64-w64-mingw32"
    tool_paths = gcc_tool_paths(triple)

    # The "-posix" variants use winpthreads: std::thread, std::mutex and
    # thread_local work (the "-win32" ones have no std::thread in gcc 12).
    for tool in ["cpp", "gcov"]:
        tool_paths[tool] = "/usr/bin/%s-%s-posix" % (triple, tool)

    # Relative to this package: names executables the way Bazel expects.
    tool_paths["gcc"] = "mingw_gcc.sh"
    gcc_dir = "/usr/lib/gcc/%s/12-posix" % triple
    fringe_cc_toolchain_config(
        name = name + "_config",
        cpu = "x64_windows",
        compiler = "mingw-gcc",
        toolchain_identifier = triple,
        target_system_name = triple,
        target_libc = "msvcrt",
        abi_version = "gcc",
        abi_libc_version = "msvcrt",
        tool_paths = tool_paths,
        cxx_builtin_include_directories = [
            gcc_dir + "/include",
            gcc_dir + "/include-fixed",
            "/usr/%s/include" % triple,
            "/usr/share/mingw-w64/include",
        ],
        compile_flags = [
            # C99 printf (%zu, %lld) instead of msvcrt's.
            "-D__USE_MINGW_ANSI_STDIO=1",
            "-Wall",
            # Abseil's `#pragma comment(lib, ...)`: see link_libs.
            "-Wno-unknown-pragmas",
            "-fno-omit-frame-pointer",
        ],
        opt_compile_flags = [
            "-g0",
            "-O2",
            "-DNDEBUG",
            "-ffunction-sections",
            "-fdata-sections",
        ],
        link_flags = ["-static", "-pass-exit-codes"],
        # Abseil names the Windows libraries it needs with MSVC's
        # `#pragma comment(lib, ...)`, which gcc ignores: named here.
        link_libs = [
            "-lstdc++",
            "-lm",
            "-lpthread",
            "-ldbghelp",
            "-ladvapi32",
            "-lbcrypt",
        ],
        unfiltered_compile_flags = GCC_UNFILTERED_COMPILE_FLAGS,
    )
    native.filegroup(name = name + "_driver", srcs = ["mingw_gcc.sh"])
    driver = ":" + name + "_driver"
    native.cc_toolchain(
        name = name + "_cc",
        all_files = driver,
        ar_files = ":empty",
        as_files = driver,
        compiler_files = driver,
        dwp_files = ":empty",
        linker_files = driver,
        objcopy_files = ":empty",
        strip_files = ":empty",
        supports_param_files = 1,
        toolchain_config = ":" + name + "_config",
        toolchain_identifier = triple,
    )
    native.toolchain(
        name = name,
        target_compatible_with = [
            "@platforms//cpu:x86_64",
            "@platforms//os:windows",
        ],
        toolchain = ":" + name + "_cc",
        toolchain_type = "@bazel_tools//tools/cpp:toolchain_type",
    )
