"""The rcx cache directory and atomic storage of decoded datasets.

Decoded images are stored with ``torch.save`` (uncompressed zip of raw tensor bytes), so
reloading 60,000 32x32 RGB images (184 MB) is a single read, well under a second from the
page cache.
"""

from __future__ import annotations

import os
import pickle
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch


def cache_dir() -> Path:
    """``$RCX_CACHE_DIR``, else ``$XDG_CACHE_HOME/rcx``, else ``~/.cache/rcx``; created on demand."""
    if env := os.environ.get("RCX_CACHE_DIR"):
        path = Path(env).expanduser()
    elif xdg := os.environ.get("XDG_CACHE_HOME"):
        path = Path(xdg).expanduser() / "rcx"
    else:
        path = Path.home() / ".cache" / "rcx"
    path.mkdir(parents=True, exist_ok=True)
    return path


def save_tensors(path: Path, data: dict[str, torch.Tensor | list[Any]]) -> None:
    """Write ``data`` (tensors and plain lists of str/int/float) to ``path`` atomically.

    The file is written to a temporary name in the same directory and moved into place with
    ``os.replace``, so readers never see a partial file and concurrent writers do not clash.
    """
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save({k: v.contiguous() if isinstance(v, torch.Tensor) else v for k, v in data.items()}, f)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_tensors(path: Path) -> dict[str, torch.Tensor | list[Any]] | None:
    """The dict stored by :func:`save_tensors`, or None if ``path`` is missing or unreadable."""
    import torch

    try:
        loaded: dict[str, torch.Tensor | list[Any]] = torch.load(path, map_location="cpu", weights_only=True)
        return loaded
    except (OSError, RuntimeError, EOFError, ValueError, pickle.UnpicklingError):
        return None
