"""bare_metal_toolchain(): Debian's aarch64 gcc in freestanding mode, for os:none."""

load(":gcc_cross.bzl", "GCC_UNFILTERED_COMPILE_FLAGS", "fringe_cc_toolchain_config", "gcc_include_directories", "gcc_tool_paths", "gcc_toolchain")

def bare_metal_toolchain(name, cpu, triple):
    """Declares `<name>_config`, `<name>_cc` and the toolchain `<name>`.

    No libc, no C++ runtime, no exceptions, no RTTI: programs bring their own
    start-up code and linker script (see examples/bare_metal).
    """
    fringe_cc_toolchain_config(
        name = name + "_config",
        cpu = cpu,
        compiler = "gcc",
        toolchain_identifier = name,
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
        # One RWX segment is fine for a 6 KB image booted by an emulator.
        link_flags = ["-nostdlib", "-static", "-Wl,--build-id=none", "-Wl,--no-warn-rwx-segments"],
        link_libs = ["-lgcc"],
        unfiltered_compile_flags = GCC_UNFILTERED_COMPILE_FLAGS,
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
