"""target_compatible_with values shared by tests and benchmarks."""

def requires_exceptions():
    """Skips a target in builds without C++ exceptions (--config=noexcept)."""
    return select({
        "//bazel:exceptions_off": ["@platforms//:incompatible"],
        "//conditions:default": [],
    })

def not_windows():
    """Skips a target on Windows (--config=windows): POSIX-only code, and
    sh_tests, which --config=windows's --run_under would hand to Wine."""
    return select({
        "//bazel:os_windows": ["//bazel:not_on_windows"],
        "//conditions:default": [],
    })

def x86_64_with_exceptions():
    """For benchmarks against Boost, which exists only for x86_64 Linux here."""
    return ["@platforms//cpu:x86_64"] + requires_exceptions() + not_windows()

def x86_64_without_sanitizers():
    """For tests that run a tool (valgrind) that cannot host sanitizers."""
    return ["@platforms//cpu:x86_64"] + not_windows() + select({
        "//bazel:sanitize_address": ["@platforms//:incompatible"],
        "//bazel:sanitize_thread": ["@platforms//:incompatible"],
        "//conditions:default": [],
    })
