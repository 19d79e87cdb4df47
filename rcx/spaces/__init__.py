"""Built-in search spaces, registered through rcx's own ``rcx`` entry point like any plugin."""

from rcx.api.hooks import hookimpl


@hookimpl
def rcx_register_spaces(register):
    from rcx.spaces.depthmult import DepthMultSpace
    from rcx.spaces.ksd import KsdSpace
    from rcx.spaces.mlp2 import MLP2Space
    from rcx.spaces.nats_sss import NATSSizeSpace
    from rcx.spaces.nb201 import NB201Space
    from rcx.spaces.nb_macro import NBMacroSpace
    from rcx.spaces.resnet_lc import ResNetLCSpace
    from rcx.spaces.torchvision_models import TorchvisionSpace

    register(KsdSpace)
    register(DepthMultSpace)
    register(NB201Space)
    register(NATSSizeSpace)
    register(NBMacroSpace)
    register(MLP2Space)
    register(ResNetLCSpace)
    register(TorchvisionSpace)
