"""Repository rules that let fringe build with no network but Debian's apt.

`debian_source_archive` unpacks the upstream tarball that Debian ships for a
source package (downloaded once by fetch_debian_source.sh), so the upstream
project builds with its own BUILD.bazel files under its upstream repository
name. `offline_repository` assembles one of Bazel's own helper repositories
(rules_cc, platforms, ...) from small files kept in //bazel/offline.
"""

def _debian_source_archive_impl(ctx):
    script = ctx.path(Label("//bazel/offline:fetch_debian_source.sh"))
    result = ctx.execute(["bash", str(script), ctx.attr.package, ctx.attr.version], timeout = 600)
    if result.return_code != 0:
        fail("fringe: fetching Debian source package '%s' failed:\n%s%s" %
             (ctx.attr.package, result.stdout, result.stderr))
    tarball = ctx.path(result.stdout.strip())
    digest = ctx.execute(["sha256sum", str(tarball)]).stdout.split(" ")[0]
    if ctx.attr.sha256 and digest != ctx.attr.sha256:
        fail("fringe: %s has sha256 %s, expected %s" % (tarball, digest, ctx.attr.sha256))
    ctx.extract(tarball, stripPrefix = ctx.attr.strip_prefix)

debian_source_archive = repository_rule(
    implementation = _debian_source_archive_impl,
    attrs = {
        "package": attr.string(mandatory = True, doc = "Debian source package name."),
        "version": attr.string(mandatory = True, doc = "Upstream version of its orig tarball."),
        "sha256": attr.string(doc = "Expected sha256 of the orig tarball."),
        "strip_prefix": attr.string(),
    },
    environ = ["FRINGE_SOURCE_CACHE", "XDG_CACHE_HOME", "HOME"],
)

def _offline_repository_impl(ctx):
    ctx.file("WORKSPACE", 'workspace(name = "%s")\n' % ctx.name)
    for src, dest in ctx.attr.files.items():
        ctx.symlink(src, dest)

offline_repository = repository_rule(
    implementation = _offline_repository_impl,
    attrs = {
        "files": attr.label_keyed_string_dict(
            allow_files = True,
            doc = "Source file -> path inside the repository.",
        ),
    },
)
