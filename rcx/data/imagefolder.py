"""``imagefolder``: labelled images from a ``ROOT/{train,test}/<class>/<image>`` tree.

Classes are the sorted sub-folder names of ``ROOT/train``; ``ROOT/test`` must hold the same
set. Images are ordered round-robin over the classes (the first file of every class, then the
second...), files sorted by name within a class, so ``selection = "first"`` takes a
class-balanced, deterministic subset from a class-sorted tree. Files are decoded to RGB uint8
on a small thread pool and the decoded tensors are cached (keyed by the resolved root,
``image_size``, the file list and the newest mtime), so later loads skip decoding.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from rcx.api.dataset import DatasetError, DatasetProvider, ImageDataset
from rcx.api.dataset_cache import load_tensors, save_tensors
from rcx.api.images import MAX_IMAGE_SIDE, channel_stats, resize_uint8
from rcx.api.options import Option

if TYPE_CHECKING:
    import torch

EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm"})
LAYOUT = "ROOT/train/<class>/<image> and ROOT/test/<class>/<image>"
_FORMAT = "2"  # bump when the cached layout changes
_CHUNK = 256  # files per thread-pool task


def _read(path: str) -> torch.Tensor:
    """The bytes of one file as a 1-D uint8 tensor."""
    import torch

    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise DatasetError(f"imagefolder: cannot read {path}: {exc}") from None
    if not data:
        raise DatasetError(f"imagefolder: {path} is empty")
    return torch.frombuffer(bytearray(data), dtype=torch.uint8)


def _decode_file(path: str, data: torch.Tensor) -> torch.Tensor:
    """Encoded bytes ``data`` of ``path`` -> (3, H, W) uint8 RGB. torchvision first, PIL for other formats."""
    import torch
    from torchvision.io import ImageReadMode, decode_image

    try:
        img = decode_image(data, mode=ImageReadMode.RGB)
    except RuntimeError:
        img = _decode_pil(path)
    if img.dtype == torch.uint16:  # 16-bit PNG
        img = img.to(torch.float32).div_(257).round_().to(torch.uint8)
    return img


def _decode_pil(path: str) -> torch.Tensor:
    import numpy as np
    import torch
    from PIL import Image

    try:
        with Image.open(path) as im:
            return torch.from_numpy(np.array(im.convert("RGB"))).permute(2, 0, 1).contiguous()
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise DatasetError(f"imagefolder: cannot decode {path}: {exc}") from None


def _decode_chunk(items: list[tuple[str, torch.Tensor]]) -> list[torch.Tensor]:
    return [_decode_file(path, data) for path, data in items]


def _scan_split(root: Path, split: str) -> tuple[list[str], dict[str, list[os.DirEntry]]]:
    """Sorted class names of ``root/split`` and, per class, its image files sorted by name."""
    split_dir = root / split
    if not split_dir.is_dir():
        raise DatasetError(f"imagefolder: {split_dir} is not a folder; expected the layout {LAYOUT} under {root}")
    classes = sorted(e.name for e in os.scandir(split_dir) if e.is_dir() and not e.name.startswith("."))
    files = {}
    for c in classes:
        entries = [e for e in os.scandir(split_dir / c)
                   if e.is_file() and not e.name.startswith(".") and os.path.splitext(e.name)[1].lower() in EXTENSIONS]
        files[c] = sorted(entries, key=lambda e: e.name)
    return classes, files


def _round_robin(classes: list[str], by_class: dict[str, list[os.DirEntry]]) -> list[tuple[str, int]]:
    """(path, label) pairs: the i-th file of every class (in class order), for i = 0, 1, ..."""
    longest = max((len(by_class[c]) for c in classes), default=0)
    return [(by_class[c][i].path, label) for i in range(longest)
            for label, c in enumerate(classes) if i < len(by_class[c])]


def _cache_key(root: Path, image_size: int | None, splits: dict[str, dict[str, list[os.DirEntry]]]) -> str:
    """Digest of the resolved root, image_size, number of files, file names and newest mtime."""
    h = hashlib.sha256(f"{_FORMAT}\0{root}\0{image_size}\0".encode())
    n, newest = 0, 0
    for split, by_class in splits.items():
        for c, entries in by_class.items():
            for e in entries:
                h.update(f"{split}/{c}/{e.name}\0".encode())
                newest = max(newest, e.stat().st_mtime_ns)
            n += len(entries)
    h.update(f"{n}\0{newest}".encode())
    return h.hexdigest()[:24]


def _check_one_size(images: list[torch.Tensor], paths: list[str]) -> None:
    """DatasetError naming two files of different sizes, if there are any."""
    sizes = [tuple(t.shape[1:]) for t in images]
    distinct = sorted(set(sizes))
    if len(distinct) > 1:
        (ha, wa), (hb, wb) = distinct[0], distinct[1]
        pa, pb = paths[sizes.index(distinct[0])], paths[sizes.index(distinct[1])]
        raise DatasetError(
            f"imagefolder: images have different sizes ({wa}x{ha} in {pa}, {wb}x{hb} in {pb}); "
            "set `image_size` in the plan's [dataset] table to resize them all to one square size")


def _stack(images: list[torch.Tensor], image_size: int | None) -> torch.Tensor:
    """Images (3, H_i, W_i) -> (N, 3, H, W), resized to (image_size, image_size) when set.

    Without image_size all images must have one size; with it, images are resized in groups of
    equal size (aspect ratio is not kept).
    """
    import torch

    if image_size is None:
        return torch.stack(images)
    sizes = [tuple(t.shape[1:]) for t in images]
    out = torch.empty((len(images), 3, image_size, image_size), dtype=torch.uint8)
    for hw in sorted(set(sizes)):
        idx = [i for i, s in enumerate(sizes) if s == hw]
        out[idx] = resize_uint8(torch.stack([images[i] for i in idx]), image_size)
    return out


def _decode_all(paths: list[str], threads: int) -> list[torch.Tensor]:
    """Decode ``paths`` in order. This thread reads all files first (compressed bytes are smaller
    than the decoded result), then the pool decodes: many tiny reads spread over threads queue on
    the GIL and are slower than one reader."""
    # torchvision 0.29 deprecates its image decoders (for torchcodec) but they work within our pin
    # and are ~2.5x faster than PIL on small JPEGs; the filter is idempotent.
    warnings.filterwarnings("ignore", message="The image decoding and encoding capabilities of TorchVision",
                            category=DeprecationWarning)
    items = [(p, _read(p)) for p in paths]
    chunks = [items[i:i + _CHUNK] for i in range(0, len(items), _CHUNK)]
    with ThreadPoolExecutor(max_workers=threads) as pool:
        return [t for chunk in pool.map(_decode_chunk, chunks) for t in chunk]


class ImageFolderProvider(DatasetProvider):
    name = "imagefolder"
    version = "1"
    help = f"Images in a folder tree: {LAYOUT}."
    options = [
        Option("root", str, None, f"the dataset folder, laid out as {LAYOUT}"),
        Option("image_size", int, None, "resize every image to image_size x image_size (default: keep the "
               "native size, which must then be the same for all images)", min=1, max=MAX_IMAGE_SIDE),
    ]

    def load(self, options: dict[str, Any], cache_dir: Path) -> ImageDataset:
        o = {opt.name: opt.default for opt in self.options} | options
        if o["root"] is None:
            raise DatasetError(f"imagefolder: set `root` in the plan's [dataset] table to a folder laid out as "
                               f"{LAYOUT}")
        root = Path(o["root"]).expanduser().resolve()
        if not root.is_dir():
            raise DatasetError(f"imagefolder: root {root} is not a folder; expected the layout {LAYOUT}")
        classes, train_files = _scan_split(root, "train")
        test_classes, test_files = _scan_split(root, "test")
        if not classes:
            raise DatasetError(f"imagefolder: no class folders in {root / 'train'}; expected the layout {LAYOUT}")
        if set(test_classes) != set(classes):
            only_train, only_test = sorted(set(classes) - set(test_classes)), sorted(set(test_classes) - set(classes))
            raise DatasetError(
                f"imagefolder: train and test class folders differ under {root}: "
                f"only in train: {only_train or 'none'}; only in test: {only_test or 'none'}")
        splits = {"train": train_files, "test": test_files}
        empty = [c for c in classes if not train_files[c] and not test_files[c]]
        if empty:
            raise DatasetError(f"imagefolder: class folder(s) {', '.join(map(repr, empty))} hold no image file in "
                               f"{root / 'train'} nor in {root / 'test'} (extensions: {', '.join(sorted(EXTENSIONS))});"
                               " add images or remove the folders")
        for split, by_class in splits.items():
            if not any(by_class.values()):
                raise DatasetError(f"imagefolder: no image files in {root / split}/<class>/ "
                                   f"(extensions: {', '.join(sorted(EXTENSIONS))})")

        path = Path(cache_dir) / "imagefolder" / f"{root.name}-{_cache_key(root, o['image_size'], splits)}.pt"
        cached = load_tensors(path)
        if cached is None:
            cached = self._decode(classes, splits, o["image_size"])
            save_tensors(path, cached)
        train_x, train_y, test_x, test_y = (cast("torch.Tensor", cached[k])  # as _decode wrote them
                                            for k in ("train_x", "train_y", "test_x", "test_y"))
        return ImageDataset(self.name, train_x, train_y, test_x, test_y,
                            list(cached["classes"]), tuple(cached["mean"]), tuple(cached["std"]))

    @staticmethod
    def _decode(classes: list[str], splits: dict[str, dict[str, list[os.DirEntry]]],
                image_size: int | None) -> dict[str, Any]:
        import torch

        threads = max(2, min(4, os.cpu_count() or 1))
        out: dict[str, Any] = {"classes": classes}
        order = {s: _round_robin(classes, by_class) for s, by_class in splits.items()}
        paths = {s: [p for p, _ in pairs] for s, pairs in order.items()}
        images = {s: _decode_all(p, threads) for s, p in paths.items()}
        if image_size is None:  # one native size across both splits
            _check_one_size(images["train"] + images["test"], paths["train"] + paths["test"])
        for s in ("train", "test"):
            out[f"{s}_x"] = _stack(images.pop(s), image_size)
        for s, pairs in order.items():
            out[f"{s}_y"] = torch.tensor([label for _, label in pairs], dtype=torch.int64)
        mean, std = channel_stats(out["train_x"])
        out["mean"], out["std"] = list(mean), list(std)
        return out
