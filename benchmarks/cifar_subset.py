"""The CIFAR-10 images the benchmarks use: a per-class prefix of the JPEG copy in ../shared/data,
unzipped into a temporary image-folder tree (the repository never holds the data).

``$RCX_CIFAR_ZIP`` names another zip of the same layout (``train/<class>/NNNN.jpg``,
``test/<class>/NNNN.jpg``): the device check carries a small one to a machine without
``../shared``."""

from __future__ import annotations

import os
import re
import zipfile
from pathlib import Path

SHARED_ZIP = Path(__file__).resolve().parents[2] / "shared" / "data" / "cifar10-jpeg.zip"

_MEMBER = re.compile(r"^(?P<split>train|test)/[^/]+/(?P<index>\d{4})\.jpg$")


def zip_path() -> Path:
    """The zip the benchmarks read: ``$RCX_CIFAR_ZIP`` when set, else the shared CIFAR-10 copy."""
    return Path(os.environ.get("RCX_CIFAR_ZIP") or SHARED_ZIP)


def unzip_subset(dest: Path, train_per_class: int, test_per_class: int) -> Path:
    """Unzip the first ``train_per_class`` training and ``test_per_class`` test JPEGs of every
    class (files ``0000.jpg``, ``0001.jpg``...) into ``dest/{train,test}/<class>/``; return ``dest``.

    Python's zipfile, not the ``unzip`` program, which a bare machine may lack."""
    limit = {"train": train_per_class, "test": test_per_class}
    with zipfile.ZipFile(zip_path()) as z:
        for name in z.namelist():
            m = _MEMBER.match(name)
            if m and int(m["index"]) < limit[m["split"]]:
                z.extract(name, dest)
    return dest
