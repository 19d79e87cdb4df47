"""Built-in truth tables, registered through rcx's own ``rcx`` entry point like any plugin."""

from rcx.api.hooks import hookimpl


@hookimpl
def rcx_register_truths(register):
    from rcx.truth.nats_sss import NATSSizeTruth
    from rcx.truth.nb201 import NB201Truth
    from rcx.truth.nb_macro import NBMacroTruth

    register(NB201Truth)
    register(NATSSizeTruth)
    register(NBMacroTruth)
