"""The dataset-provider interface and the in-memory dataset it returns."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from rcx.api.options import Option

if TYPE_CHECKING:
    import torch


class DatasetError(Exception):
    """A dataset cannot be loaded: one clear message (missing files, bad layout...)."""


@dataclass
class ImageDataset:
    """A labelled image dataset held in memory as uint8.

    ``train_x``/``test_x``: (N, C, H, W) uint8 tensors; ``train_y``/``test_y``: (N,) int64
    labels in [0, len(classes)). ``mean``/``std``: per-channel normalisation statistics in
    [0, 1] pixel units (apply as ``(x / 255 - mean) / std``).
    """

    name: str
    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    classes: list[str]
    mean: tuple[float, ...]
    std: tuple[float, ...]

    @property
    def shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one image."""
        c, h, w = self.train_x.shape[1:]
        return int(c), int(h), int(w)

    @property
    def num_classes(self) -> int:
        return len(self.classes)


class DatasetProvider(ABC):
    """Base class of dataset providers. Subclasses declare ``name``, ``version``, ``options``.

    ``load`` returns the full train and test splits; subset selection and resizing are done by
    the core (``rcx.core.data_prep``) for every provider alike. ``cache_dir`` is the directory
    the provider may use to keep decoded tensors between runs.
    """

    name: ClassVar[str]
    version: ClassVar[str] = "1"
    help: ClassVar[str] = ""
    options: ClassVar[list[Option]] = []

    @classmethod
    def size_hint(cls, options: dict[str, Any]) -> tuple[int, int, tuple[int, int, int]] | None:
        """``(train images, test images, (C, H, W))`` that :meth:`load` will return for the
        validated ``options`` (all of the plan's [dataset] values), or None when unknown before
        loading. The plan check uses it to estimate the memory a plan needs."""
        return None

    @abstractmethod
    def load(self, options: dict[str, Any], cache_dir: Path) -> ImageDataset:
        """Load both splits; raise :class:`DatasetError` with one clear message on failure."""
