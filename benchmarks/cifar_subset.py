"""The CIFAR-10 images the benchmarks use: a per-class prefix of the JPEG copy in ../shared/data,
unzipped into a temporary image-folder tree (the repository never holds the data)."""

from __future__ import annotations

import subprocess
from pathlib import Path

ZIP = Path(__file__).resolve().parents[2] / "shared" / "data" / "cifar10-jpeg.zip"


def unzip_subset(dest: Path, train_per_class: int, test_per_class: int) -> Path:
    """Unzip the first ``train_per_class`` training and ``test_per_class`` test JPEGs of every
    class (files ``0000.jpg``, ``0001.jpg``...) into ``dest/{train,test}/<class>/``; return ``dest``."""
    names = [f"{split}/*/{i:04d}.jpg" for split, n in (("train", train_per_class), ("test", test_per_class))
             for i in range(n)]
    subprocess.run(["unzip", "-q", "-o", str(ZIP), *names, "-d", str(dest)], check=True)
    return dest
