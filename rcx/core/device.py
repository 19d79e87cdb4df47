"""Device resolution and description, and the CPU thread setting of a run.

(:func:`rcx.api.device.synchronize` and the other helpers an evaluator needs live in :mod:`rcx.api`.)"""

from __future__ import annotations

import math
import os
import platform
from contextlib import contextmanager
from typing import Iterator

import torch

THREADS_ENV = "RCX_THREADS"
"""Environment variable with the default for ``rcx run --threads`` (the TUI's runs read it too)."""


class DeviceError(Exception):
    """The plan's device is not available on this machine."""


def resolve_device(spec: str) -> torch.device:
    """``auto`` -> the first CUDA device if any, else the CPU; ``cuda:N`` is checked to exist."""
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if spec.startswith("cuda"):
        if not torch.cuda.is_available():
            raise DeviceError(f"device {spec!r}: torch sees no CUDA device on this machine (use device = \"cpu\" or \"auto\")")
        dev = torch.device(spec)
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise DeviceError(f"device {spec!r}: only {torch.cuda.device_count()} CUDA device(s) visible")
        return torch.device("cuda", dev.index or 0)
    return torch.device("cpu")


def device_name(device: torch.device) -> str:
    """A human-readable name, e.g. ``NVIDIA H100 80GB HBM3`` or ``cpu (x86_64, 2 threads)``."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu ({platform.machine()}, {torch.get_num_threads()} threads, {torch.backends.cpu.get_cpu_capability()})"


# -- CPU threads --------------------------------------------------------------------------------
# The thread count is an execution setting, like the device: it is not part of the plan or its
# hash, and it changes how fast a run goes, not what it computes.


def available_cores() -> int:
    """CPU cores this process may run on (its affinity mask; ``os.cpu_count()`` where unknown)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def parse_threads(text: str) -> int | None:
    """``"auto"`` -> ``None``; ``"N"`` with N >= 1 -> N; anything else -> ``ValueError``."""
    value = text.strip().lower()
    if value == "auto":
        return None
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"threads {text!r}: expected a positive whole number or 'auto'")
    return int(value)


def auto_threads(cores: int | None = None, load: float | None = None) -> tuple[int, str]:
    """The default torch intra-op thread count, ``floor(cores - load)`` within ``[1, cores]``,
    and a short reason for it.

    ``cores`` defaults to :func:`available_cores`, ``load`` to the 1-minute load average (busy
    or waiting processes, rcx's own recent work included). Only the cores idle now get a
    thread: torch's OpenMP threads meet at a barrier after every parallel op, so one thread
    descheduled by other work stalls the rest, and on a busy 2-core machine two threads ran the
    quickstart many times slower than one (BENCHMARKS.md, "CPU threads under load").
    """
    cores = available_cores() if cores is None else cores
    if load is None:
        try:
            load = os.getloadavg()[0]
        except OSError:  # no load average on this platform
            load = 0.0
    n = max(1, min(cores, math.floor(cores - load)))
    return n, f"auto: {cores} cores, load {load:.1f}"


def resolve_threads(threads: int | None = None) -> tuple[int, str]:
    """``threads`` when given, else ``$RCX_THREADS``, else :func:`auto_threads`; with the reason."""
    if threads is not None:
        if threads < 1:
            raise ValueError(f"threads {threads}: expected a positive whole number or 'auto'")
        return threads, "set"
    env = os.environ.get(THREADS_ENV, "").strip()
    if env:
        try:
            parsed = parse_threads(env)
        except ValueError as exc:
            raise ValueError(f"{THREADS_ENV}: {exc}") from None
        if parsed is not None:
            return parsed, THREADS_ENV
    return auto_threads()


_interop_set = False


@contextmanager
def use_threads(threads: int | None = None) -> Iterator[tuple[int, str]]:
    """Run the block with torch's intra-op thread count from :func:`resolve_threads`; yields
    ``(count, reason)`` and restores the previous count on exit.

    The count applies to the calling thread (and to threads that start torch work after it),
    so call this in the thread that computes. Inter-op threads (used only by ``torch.jit.fork``,
    which rcx never calls) are set to 1 once per process, where torch still allows it.
    """
    global _interop_set
    n, reason = resolve_threads(threads)
    if not _interop_set:
        _interop_set = True
        try:
            torch.set_num_interop_threads(1)
        except RuntimeError:  # inter-op work already started in this process: torch refuses
            pass
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield n, reason
    finally:
        torch.set_num_threads(before)
