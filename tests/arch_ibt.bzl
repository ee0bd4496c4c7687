"""cf_protection_full_build(): a program and its libraries as a user's
hardened build makes them (every object compiled with -fcf-protection=full,
as Ubuntu's gcc does by default), optionally for another platform, for
arch_ibt_test.sh to disassemble and read the property notes of."""

def _cf_protection_full_impl(settings, attr):
    # Only the flag under test: the test is about code generation, and a
    # sanitizer's flags (--config=asan) have no runtime for the i686 variant.
    return {
        "//command_line_option:copt": ["-fcf-protection=full"],
        "//command_line_option:linkopt": [],
        "//command_line_option:platforms": (
            [str(attr.platform)] if attr.platform else [str(p) for p in settings["//command_line_option:platforms"]]
        ),
    }

_cf_protection_full = transition(
    implementation = _cf_protection_full_impl,
    inputs = ["//command_line_option:platforms"],
    outputs = [
        "//command_line_option:copt",
        "//command_line_option:linkopt",
        "//command_line_option:platforms",
    ],
)

def _only(target):
    # Bazel 4 hands an attribute with a Starlark transition over as a list.
    return target[0] if type(target) == "list" else target

def _own_static_library(target):
    """The archive `target` (a cc_library) itself contributes to a link."""
    for linker_input in target[CcInfo].linking_context.linker_inputs.to_list():
        if linker_input.owner == target.label:
            for library in linker_input.libraries:
                archive = library.pic_static_library or library.static_library
                if archive:
                    return archive
    fail("%s contributes no static library" % target.label)

def _cf_protection_full_build_impl(ctx):
    outputs = [
        (ctx.outputs.binary, _only(ctx.attr.binary)[DefaultInfo].files_to_run.executable),
        (ctx.outputs.arch_library, _own_static_library(_only(ctx.attr.arch_library))),
        (ctx.outputs.program_library, _own_static_library(_only(ctx.attr.program_library))),
    ]
    for output, source in outputs:
        ctx.actions.symlink(output = output, target_file = source)
    return [DefaultInfo(files = depset([output for output, _ in outputs]))]

cf_protection_full_build = rule(
    implementation = _cf_protection_full_build_impl,
    doc = "Builds `binary`, `arch_library` and `program_library` with " +
          "-fcf-protection=full (for `platform` if given) and exposes them " +
          "as <name>.bin, <name>.arch.a and <name>.program.a.",
    attrs = {
        "binary": attr.label(cfg = _cf_protection_full, executable = True, mandatory = True),
        "arch_library": attr.label(cfg = _cf_protection_full, providers = [CcInfo], mandatory = True),
        "program_library": attr.label(cfg = _cf_protection_full, providers = [CcInfo], mandatory = True),
        "platform": attr.label(),
        "_allowlist_function_transition": attr.label(
            default = "@bazel_tools//tools/allowlists/function_transition_allowlist",
        ),
    },
    outputs = {
        "binary": "%{name}.bin",
        "arch_library": "%{name}.arch.a",
        "program_library": "%{name}.program.a",
    },
)
