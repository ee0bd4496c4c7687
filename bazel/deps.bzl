"""fringe_dependencies(): every external repository fringe needs, offline.

A consuming workspace calls it once:

    local_repository(name = "fringe", path = "...")
    load("@fringe//bazel:deps.bzl", "fringe_dependencies")
    fringe_dependencies()

Repositories the caller already declared are left alone, so a workspace with
internet access can declare `com_google_absl` & co. as `http_archive`s first.
"""

load("@bazel_tools//tools/build_defs/repo:utils.bzl", "maybe")
load("//bazel/offline:repositories.bzl", "debian_source_archive", "offline_repository")
load(":versions.bzl", "THIRD_PARTY")

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
    for dep in THIRD_PARTY:
        maybe(
            debian_source_archive,
            name = dep.name,
            package = dep.package,
            version = dep.version,
            sha256 = dep.sha256,
            strip_prefix = dep.strip_prefix,
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
