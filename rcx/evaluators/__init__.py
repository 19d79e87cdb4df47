"""Built-in evaluators, registered through rcx's own ``rcx`` entry point like any plugin."""

from rcx.api.hooks import hookimpl


@hookimpl
def rcx_register_evaluators(register):
    from rcx.evaluators.cvu import CVU
    from rcx.evaluators.lc_frozen import LCFrozen
    from rcx.evaluators.partial_filters import PartialFilters
    from rcx.evaluators.ridge_rfm import RidgeRFM
    from rcx.evaluators.trained import Trained

    register(RidgeRFM)
    register(CVU)
    register(Trained)
    register(LCFrozen)
    register(PartialFilters)
