"""The one place fringe's third-party versions are written.

bazel/deps.bzl declares the repositories from it; tools/bazel prefetches the
same Debian source packages (it reads the `package = ..., version = ...`
pairs below, one repository per line: keep that shape); MODULE.bazel repeats
the versions for Bzlmod, and //tests:module_versions_test checks that it
agrees.
"""

THIRD_PARTY = [
    struct(name = "com_google_absl", package = "abseil", version = "20220623.1", bcr_module = "abseil-cpp", sha256 = "abfe2897f3a30edaa74bc34365afe3c2a3cd012091a97dc7e008f7016adcd5fe", strip_prefix = "abseil-20220623.1"),
    struct(name = "com_google_googletest", package = "googletest", version = "1.12.1", bcr_module = "googletest", sha256 = "81964fe578e9bd7c94dfdb09c8e4d6e6759e19967e397dbea48d1c10e45d0df2", strip_prefix = "googletest-release-1.12.1"),
    struct(name = "com_github_google_benchmark", package = "benchmark", version = "1.7.1", bcr_module = "google_benchmark", sha256 = "6430e4092653380d9dc4ccb45a1e2dc9259d581f4866dc0759713126056bc1d7", strip_prefix = "benchmark-1.7.1"),
]
