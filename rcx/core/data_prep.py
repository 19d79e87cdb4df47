"""The ``[dataset]`` options every provider gets, and :func:`prepare`, which applies them.

Providers return full splits; the core then takes a subset (``train_size``/``test_size`` with
``selection``), resizes (``resize``) and expands grey images (``grayscale_to_rgb``), in that
order so resizing only touches the kept images.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from rcx.api.dataset import DatasetError, ImageDataset
from rcx.api.images import MAX_IMAGE_SIDE, resize_uint8
from rcx.api.options import Option
from rcx.api.seeding import generator

if TYPE_CHECKING:
    import torch

COMMON_OPTIONS: list[Option] = [
    Option("train_size", int, None, "training images to keep (default: all)", min=1),
    Option("test_size", int, None, "test images to keep (default: all)", min=1),
    Option("selection", str, "first", "first: the first N in the provider's order; "
           "stratified: a seeded class-balanced subset", choices=("first", "stratified")),
    Option("resize", int, None, "resize every image to resize x resize pixels (bilinear, antialiased)", min=1),
    Option("grayscale_to_rgb", bool, False, "repeat 1-channel images to 3 channels"),
]


def check_common(options: dict[str, Any]) -> list[tuple[str, str]]:
    """Plan problems of the validated common options beyond their declared ranges:
    ``(key, message)``, e.g. a ``resize`` above :data:`~rcx.api.MAX_IMAGE_SIDE`."""
    if (options.get("resize") or 0) > MAX_IMAGE_SIDE:
        return [("resize", f"must be <= {MAX_IMAGE_SIDE} (pixels per side), got {options['resize']}")]
    return []


def estimate_memory(provider: Any, options: dict[str, Any]) -> tuple[int, str] | None:
    """Peak bytes of the dataset's images while it is loaded and prepared, with a description:
    the provider's full splits as uint8 plus the kept subset after resizing and grey-to-RGB
    (both exist while :func:`prepare` runs). None when the provider cannot tell before loading.
    """
    hint = provider.size_hint(options)
    if hint is None:
        return None
    n_train, n_test, (c, h, w) = hint
    o = {opt.name: opt.default for opt in COMMON_OPTIONS} | options
    keep_train = min(n_train, o["train_size"] or n_train)
    keep_test = min(n_test, o["test_size"] or n_test)
    c2 = 3 if o["grayscale_to_rgb"] and c == 1 else c
    h2, w2 = (o["resize"], o["resize"]) if o["resize"] else (h, w)
    loaded, kept = (n_train + n_test) * c * h * w, (keep_train + keep_test) * c2 * h2 * w2
    detail = f"{n_train:,} + {n_test:,} images of {c}x{h}x{w} loaded"
    if (keep_train, keep_test, c2, h2, w2) != (n_train, n_test, c, h, w):
        detail += f", {keep_train:,} + {keep_test:,} kept at {c2}x{h2}x{w2}"
        return loaded + kept, detail
    return loaded, detail


def prepare(ds: ImageDataset, opts: dict[str, Any], seed: int) -> ImageDataset:
    """Apply the common options ``opts`` (missing keys take their defaults) to ``ds``.

    Subsets come first, then resizing, then grey-to-RGB. ``mean``/``std`` stay the provider's
    (repeated to 3 channels by ``grayscale_to_rgb``).
    """
    o = {opt.name: opt.default for opt in COMMON_OPTIONS} | opts
    train_x, train_y = _subset(ds, "train", ds.train_x, ds.train_y, o["train_size"], o["selection"], seed)
    test_x, test_y = _subset(ds, "test", ds.test_x, ds.test_y, o["test_size"], o["selection"], seed)
    mean, std = ds.mean, ds.std
    if o["resize"] is not None:
        train_x, test_x = resize_uint8(train_x, o["resize"]), resize_uint8(test_x, o["resize"])
    if o["grayscale_to_rgb"] and train_x.shape[1] == 1:
        train_x, test_x = train_x.expand(-1, 3, -1, -1).contiguous(), test_x.expand(-1, 3, -1, -1).contiguous()
        mean, std = mean * 3, std * 3
    return dataclasses.replace(ds, train_x=train_x, train_y=train_y, test_x=test_x, test_y=test_y, mean=mean, std=std)


def _subset(ds: ImageDataset, split: str, x: torch.Tensor, y: torch.Tensor, n: int | None, selection: str,
            seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    if n is None:
        return x, y
    if n > len(y):
        key = "train_size" if split == "train" else "test_size"
        raise DatasetError(f"{ds.name}: {key} = {n} but the {split} split has only {len(y)} images")
    if selection == "first":
        return x[:n].clone(), y[:n].clone()  # a copy, so the full split can be freed
    idx = stratified_indices(y, n, ds.num_classes, seed, split)
    return x[idx], y[idx]


def stratified_indices(y: torch.Tensor, n: int, num_classes: int, seed: int, split: str) -> torch.Tensor:
    """Indices of a seeded class-balanced subset of ``n`` labels ``y`` (N,) -> (n,) int64.

    Per-class counts differ by at most one where every class has enough images (a small class
    gives all it has and the others share the rest); the classes that get one extra are a
    seeded draw. The order is round-robin over classes, so every prefix is balanced too.
    """
    import torch

    g = generator(seed, "dataset", "stratified", split)
    perm = torch.randperm(len(y), generator=g)
    priority = torch.randperm(num_classes, generator=g)
    yp = y[perm]
    # rank of each (permuted) image within its class: its position among the class's images
    by_class = torch.argsort(yp, stable=True)
    counts = torch.bincount(yp, minlength=num_classes)
    starts = torch.cumsum(counts, 0) - counts
    rank = torch.empty_like(yp)
    rank[by_class] = torch.arange(len(yp)) - starts[yp[by_class]]
    order = torch.argsort(rank * num_classes + priority[yp])
    return perm[order[:n]]
