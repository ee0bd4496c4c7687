"""fringe_dependencies(): every external repository fringe needs, offline.

A consuming workspace calls it once:

    local_repository(name = "fringe", path = "...")
    load("@fringe//bazel:deps.bzl", "fringe_dependencies")
    fringe_dependencies()

Repositories the caller already declared are left alone, so a workspace with
internet access can declare `com_google_absl` & co. as `http_archive`s first.
"""

load("@bazel_tools//tools/build_defs/repo:utils.bzl", "maybe")
load(":repositories.bzl", "debian_source_archive", "offline_repository")

def _offline(name, files):
    maybe(
        offline_repository,
        name = name,
        files = {Label("//bazel/offline:" + src): dest for src, dest in files.items()},
    )

def fringe_dependencies():
    """Declares Bazel's helper repositories and fringe's third-party deps."""

    # Bazel 4.2.3 would download these four; small local stand-ins suffice.
    _offline("platforms", {
        "platforms.BUILD": "BUILD",
        "platforms_cpu.BUILD": "cpu/BUILD",
        "platforms_os.BUILD": "os/BUILD",
    })
    _offline("rules_cc", {
        "empty.BUILD": "BUILD",
        "rules_cc_cc.BUILD": "cc/BUILD",
        "rules_cc_defs.bzl": "cc/defs.bzl",
    })
    _offline("rules_java", {
        "empty.BUILD": "BUILD",
        "rules_java_java.BUILD": "java/BUILD",
        "rules_java_defs.bzl": "java/defs.bzl",
    })
    _offline("remote_coverage_tools", {
        "remote_coverage_tools.BUILD": "BUILD",
    })

    # Debian's bazel-skylib package (Abseil loads it).
    maybe(
        native.local_repository,
        name = "bazel_skylib",
        path = "/usr/share/bazel/tools/skylib",
    )

    # Upstream sources as Debian ships them, under their upstream names.
    maybe(
        debian_source_archive,
        name = "com_google_absl",
        package = "abseil",
        version = "20220623.1",
        sha256 = "abfe2897f3a30edaa74bc34365afe3c2a3cd012091a97dc7e008f7016adcd5fe",
        strip_prefix = "abseil-20220623.1",
    )
    maybe(
        debian_source_archive,
        name = "com_google_googletest",
        package = "googletest",
        version = "1.12.1",
        sha256 = "81964fe578e9bd7c94dfdb09c8e4d6e6759e19967e397dbea48d1c10e45d0df2",
        strip_prefix = "googletest-release-1.12.1",
    )
    maybe(
        debian_source_archive,
        name = "com_github_google_benchmark",
        package = "benchmark",
        version = "1.7.1",
        sha256 = "6430e4092653380d9dc4ccb45a1e2dc9259d581f4866dc0759713126056bc1d7",
        strip_prefix = "benchmark-1.7.1",
    )

def fringe_dev_dependencies():
    """Repositories only fringe's own benchmarks need (not its users)."""

    # Boost.Context and Boost.Coroutine2 from Debian's libboost-context-dev,
    # for side-by-side benchmarks (the label follows rules_boost: @boost//:context).
    maybe(
        native.new_local_repository,
        name = "boost",
        path = "/usr/include/boost",
        build_file = "@fringe//bazel/third_party:boost.BUILD",
    )
