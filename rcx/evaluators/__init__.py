"""Built-in evaluators, registered through rcx's own ``rcx`` entry point like any plugin."""

from rcx.hookspecs import hookimpl


@hookimpl
def rcx_register_evaluators(register):
    from rcx.evaluators.ridge_rfm import RidgeRFM

    register(RidgeRFM)
