"""Built-in search spaces, registered through rcx's own ``rcx`` entry point like any plugin."""

from rcx.hookspecs import hookimpl


@hookimpl
def rcx_register_spaces(register):
    from rcx.spaces.depthmult import DepthMultSpace
    from rcx.spaces.ksd import KsdSpace

    register(KsdSpace)
    register(DepthMultSpace)
