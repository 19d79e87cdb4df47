"""Standard datasets through ``torchvision.datasets``: cifar10, cifar100, mnist, fashionmnist,
svhn, stl10.

One generic provider, parameterised by a row of ``_SPECS``, turns each torchvision dataset's
raw arrays into uint8 (N, C, H, W) tensors without per-image work. ``torchvision.datasets`` is
imported only inside ``load``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from rcx.api.dataset import DatasetError, DatasetProvider, ImageDataset
from rcx.api.images import channel_stats
from rcx.api.options import Option

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class _Spec:
    name: str
    cls: str  # torchvision.datasets class name
    folder: str  # what torchvision looks for under root
    split_arg: str  # "train": train=True/False; "split": split="train"/"test"
    layout: str  # layout of ``.data``: "nhwc", "nhw" or "nchw"
    labels: str  # attribute holding the labels
    mean: tuple[float, ...] | None  # None: computed from the train split
    std: tuple[float, ...] | None
    help: str
    sizes: tuple[int, int, tuple[int, int, int]]  # (train images, test images, (C, H, W)) as torchvision gives them


_SPECS = [
    _Spec("cifar10", "CIFAR10", "cifar-10-batches-py", "train", "nhwc", "targets",
          (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616), "CIFAR-10: 50k/10k 32x32 RGB, 10 classes",
          (50000, 10000, (3, 32, 32))),
    _Spec("cifar100", "CIFAR100", "cifar-100-python", "train", "nhwc", "targets",
          (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762), "CIFAR-100: 50k/10k 32x32 RGB, 100 fine classes",
          (50000, 10000, (3, 32, 32))),
    _Spec("mnist", "MNIST", "MNIST/raw", "train", "nhw", "targets",
          (0.1307,), (0.3081,), "MNIST: 60k/10k 28x28 grey digits",
          (60000, 10000, (1, 28, 28))),
    _Spec("fashionmnist", "FashionMNIST", "FashionMNIST/raw", "train", "nhw", "targets",
          (0.2860,), (0.3530,), "Fashion-MNIST: 60k/10k 28x28 grey clothing, 10 classes",
          (60000, 10000, (1, 28, 28))),
    _Spec("svhn", "SVHN", "train_32x32.mat and test_32x32.mat", "split", "nchw", "labels",
          None, None, "SVHN (cropped digits): 73k/26k 32x32 RGB",
          (73257, 26032, (3, 32, 32))),
    _Spec("stl10", "STL10", "stl10_binary", "split", "nchw", "labels",
          None, None, "STL-10 labelled splits: 5k/8k 96x96 RGB, 10 classes",
          (5000, 8000, (3, 96, 96))),
]


def _to_nchw(data: Any, layout: str) -> torch.Tensor:
    import numpy as np
    import torch

    x = data if isinstance(data, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(data))
    if layout == "nhw":
        x = x.unsqueeze(1)
    elif layout == "nhwc":
        x = x.permute(0, 3, 1, 2)
    return x.to(torch.uint8).contiguous()


class TorchvisionProvider(DatasetProvider):
    """A ``torchvision.datasets`` dataset; subclasses set ``spec``."""

    spec: ClassVar[_Spec]
    options = [
        Option("root", str, None, "folder holding the dataset files (default: <rcx cache dir>/datasets)"),
        Option("download", bool, False, "download the files into root when they are missing"),
    ]

    @classmethod
    def size_hint(cls, options: dict[str, Any]) -> tuple[int, int, tuple[int, int, int]]:
        return cls.spec.sizes

    def load(self, options: dict[str, Any], cache_dir: Path) -> ImageDataset:
        import numpy as np
        import torch
        import torchvision.datasets

        o = {opt.name: opt.default for opt in self.options} | options
        spec = self.spec
        root = Path(o["root"]).expanduser() if o["root"] is not None else Path(cache_dir) / "datasets"
        cls = getattr(torchvision.datasets, spec.cls)
        splits = {}
        for split in ("train", "test"):
            arg = {"train": split == "train"} if spec.split_arg == "train" else {"split": split}
            try:
                splits[split] = cls(str(root), download=o["download"], **arg)
            except RuntimeError:  # torchvision: "Dataset not found or corrupted. You can use download=True..."
                raise DatasetError(
                    f"{spec.name}: no data (or corrupted data) under {root} (expected {root / spec.folder}). "
                    "Set `download = true` in the plan's [dataset] table, or point `root` at a folder that "
                    "holds it.") from None
            except OSError as exc:  # network or file-system failure while downloading/reading
                raise DatasetError(f"{spec.name}: cannot read or download into {root}: {exc}") from None
        train_x, test_x = (_to_nchw(splits[s].data, spec.layout) for s in ("train", "test"))
        train_y, test_y = (torch.as_tensor(np.asarray(getattr(splits[s], spec.labels)), dtype=torch.int64)
                           for s in ("train", "test"))
        classes = list(getattr(splits["train"], "classes", None) or [str(i) for i in range(int(train_y.max()) + 1)])
        mean, std = (spec.mean, spec.std) if spec.mean is not None and spec.std is not None else channel_stats(train_x)
        return ImageDataset(spec.name, train_x, train_y, test_x, test_y, classes, mean, std)


def _provider(spec: _Spec) -> type[TorchvisionProvider]:
    attrs = {"name": spec.name, "spec": spec, "help": f"{spec.help} (torchvision.datasets.{spec.cls})",
             "__doc__": f"``{spec.name}``: {spec.help}.", "__module__": __name__}
    return type(f"{spec.cls}Provider", (TorchvisionProvider,), attrs)


TORCHVISION_PROVIDERS: tuple[type[TorchvisionProvider], ...] = tuple(_provider(s) for s in _SPECS)
(CIFAR10Provider, CIFAR100Provider, MNISTProvider, FashionMNISTProvider, SVHNProvider,
 STL10Provider) = TORCHVISION_PROVIDERS
