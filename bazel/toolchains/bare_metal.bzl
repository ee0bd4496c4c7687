"""bare_metal_toolchain(): Debian's aarch64 gcc in freestanding mode, for os:none."""

load("@bazel_tools//tools/cpp:unix_cc_toolchain_config.bzl", "cc_toolchain_config")
load(":gcc_cross.bzl", "GCC_UNFILTERED_COMPILE_FLAGS", "gcc_include_directories", "gcc_tool_paths", "gcc_toolchain")

def bare_metal_toolchain(name, cpu, triple):
    """Declares `<name>_config`, `<name>_cc` and the toolchain `<name>`.

    No libc, no C++ runtime, no exceptions, no RTTI: programs bring their own
    start-up code and linker script (see examples/bare_metal).
    """
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
        tool_paths = gcc_tool_paths(triple),
        cxx_builtin_include_directories = gcc_include_directories(triple),
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
        # One RWX segment is fine for a 6 KB image booted by an emulator.
        link_flags = ["-nostdlib", "-static", "-Wl,--build-id=none", "-Wl,--no-warn-rwx-segments"],
        link_libs = ["-lgcc"],
        opt_link_flags = ["-Wl,--gc-sections"],
        unfiltered_compile_flags = GCC_UNFILTERED_COMPILE_FLAGS,
        coverage_compile_flags = ["--coverage"],
        coverage_link_flags = ["--coverage"],
        supports_start_end_lib = False,
    )
    gcc_toolchain(
        name = name,
        config = ":" + name + "_config",
        identifier = name,
        constraints = [
            "@platforms//cpu:" + cpu,
            "@platforms//os:none",
        ],
    )
