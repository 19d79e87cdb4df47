"""The module behind the ``naswot`` entry point: hooks only register things."""

from rcx.api import hookimpl


@hookimpl
def rcx_register_evaluators(register):
    from rcx_naswot.evaluator import NASWOT  # imported here: listing plugins stays cheap

    register(NASWOT)
