"""``torchvision``: off-the-shelf ImageNet architectures adapted to 32x32 inputs (seed 003, section 3).

Random-init torchvision models (``weights=None``), changed the usual way for CIFAR-sized
images (as in kuangliu/pytorch-cifar; seed 003 says its models were "slightly modified to
operate on low-resolution images" without details):

- ``resnet18``, ``resnet50``, ``wide_resnet50_2``: the 7x7 stride-2 stem conv becomes 3x3
  stride 1 (padding 1) and the stem max-pool is removed: 32x32 -> 4x4 before the pool.
- ``mobilenet_v2``: the stem conv's stride 2 becomes 1, and so does the first stride-2
  inverted-residual block's (features[2]): 32x32 -> 4x4 before the pool.

The space's module ends at the global average pool, without the ImageNet classifier (and
MobileNetV2's dropout): (B, C, H, W) -> (B, D, 1, 1) with D = 512, 2048, 1280, 2048. The
training evaluators add flatten + linear. Other input channel counts replace the stem conv's
input channels.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from rcx.api.arch import Arch, ArchInfo, SearchSpace
from rcx.api.options import Option

if TYPE_CHECKING:
    from torch import nn


MODELS = ("resnet18", "resnet50", "mobilenet_v2", "wide_resnet50_2")


def _resnet(factory: Callable[..., nn.Module], in_channels: int) -> nn.Module:
    from torch import nn

    m = factory(weights=None)
    m.conv1 = nn.Conv2d(in_channels, 64, 3, stride=1, padding=1, bias=False)
    names = ("conv1", "bn1", "relu", "layer1", "layer2", "layer3", "layer4", "avgpool")
    return nn.Sequential(*(getattr(m, name) for name in names))


def _mobilenet_v2(in_channels: int) -> nn.Module:
    from torch import nn
    from torchvision.models import mobilenet_v2

    m = mobilenet_v2(weights=None)
    stem = m.features[0][0]
    m.features[0][0] = nn.Conv2d(in_channels, stem.out_channels, 3, stride=1, padding=1, bias=False)
    m.features[2].conv[1][0].stride = (1, 1)  # the first stride-2 block's depthwise conv
    return nn.Sequential(m.features, nn.AdaptiveAvgPool2d(1))


def build_model(name: str, in_channels: int = 3) -> nn.Module:
    """The adapted feature extractor ``name`` (one of :data:`MODELS`) with PyTorch-default init."""
    from torchvision import models

    if name == "mobilenet_v2":
        return _mobilenet_v2(in_channels)
    factories = {"resnet18": models.resnet18, "resnet50": models.resnet50, "wide_resnet50_2": models.wide_resnet50_2}
    if name not in factories:
        raise ValueError(f"unknown torchvision model {name!r} (known: {', '.join(MODELS)})")
    return _resnet(factories[name], in_channels)


class TorchvisionSpace(SearchSpace):
    name = "torchvision"
    version = "1"
    help = "torchvision ResNet-18/50, MobileNetV2, Wide-ResNet-50-2 adapted to 32x32 inputs (seed 003)."
    options = [
        Option("models", list, list(MODELS), f"models in the space (of {', '.join(MODELS)})", item_type=str),
    ]

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        values, problems = self.config, []
        bad = [m for m in values["models"] if m not in MODELS]
        if bad:
            problems.append((f"{self.name}.models", f"unknown model {bad[0]!r} (known: {', '.join(MODELS)})"))
        elif len(set(values["models"])) != len(values["models"]):
            problems.append((f"{self.name}.models", f"values must be distinct, got {values['models']}"))
        if problems:
            raise ValueError("; ".join(f"{path}: {msg}" for path, msg in problems))
        self.models: list[str] = values["models"]

    def __len__(self) -> int:
        return len(self.models)

    def arch_at(self, index: int) -> Arch:
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} is out of range for {self.name} (size {len(self)})")
        return Arch(self.name, self.models[index], {"model": self.models[index]})

    def from_id(self, arch_id: str) -> Arch:
        if arch_id not in self.models:
            raise ValueError(f"{self.name} id {arch_id!r} is not in this space (models: {', '.join(self.models)})")
        return Arch(self.name, arch_id, {"model": arch_id})

    def grid(self) -> dict[str, Sequence[Any]]:
        return {"model": self.models}

    def from_grid(self, values: Mapping[str, Any]) -> Arch:
        return self.from_id(str(values["model"]))

    def describe(self, arch: Arch, in_shape: tuple[int, int, int]) -> ArchInfo:
        from rcx.nn.summary import describe_module

        return describe_module(lambda: build_model(self.from_id(arch.id).id, in_shape[0]), in_shape)

    def build(self, arch: Arch, in_shape: tuple[int, int, int]) -> nn.Module:
        return build_model(self.from_id(arch.id).id, in_shape[0])
