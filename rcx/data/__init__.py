"""Built-in dataset providers, registered through rcx's own ``rcx`` entry point like any plugin.

Providers import their heavy dependencies (``torchvision.datasets``) only when they load.
"""

from rcx.api.hooks import hookimpl


@hookimpl
def rcx_register_datasets(register):
    from rcx.data.imagefolder import ImageFolderProvider
    from rcx.data.synthetic import SyntheticProvider
    from rcx.data.torchvision_sets import TORCHVISION_PROVIDERS

    for provider in (SyntheticProvider, ImageFolderProvider, *TORCHVISION_PROVIDERS):
        register(provider)
