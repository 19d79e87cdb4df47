"""Device resolution and description, and the CPU thread setting of a run.

(:func:`rcx.api.device.synchronize` and the other helpers an evaluator needs live in :mod:`rcx.api`.)"""

from __future__ import annotations

import math
import os
import platform
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import torch

THREADS_ENV = "RCX_THREADS"
"""Environment variable with the default for ``rcx run --threads`` (the TUI's runs read it too)."""


class DeviceError(Exception):
    """The plan's device is not available on this machine."""


def resolve_device(spec: str) -> torch.device:
    """``auto`` -> the first CUDA device if any, else the CPU; ``cuda:N`` is checked to exist.
    A CUDA device also turns TF32 off for the process (:func:`float32_on_cuda`)."""
    if spec == "auto":
        if not torch.cuda.is_available():
            return torch.device("cpu")
        float32_on_cuda()
        return torch.device("cuda")
    if spec.startswith("cuda"):
        if not torch.cuda.is_available():
            raise DeviceError(f"device {spec!r}: torch sees no CUDA device on this machine "
                              f"(use device = \"cpu\" or \"auto\")")
        dev = torch.device(spec)
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise DeviceError(f"device {spec!r}: only {torch.cuda.device_count()} CUDA device(s) visible")
        float32_on_cuda()
        return torch.device("cuda", dev.index or 0)
    return torch.device("cpu")


def float32_on_cuda() -> None:
    """Make float32 mean float32 on CUDA in this process: PyTorch lets cuDNN run float32
    convolutions in TF32 (a 10-bit mantissa) on Ampere and later GPUs by default, unlike float32
    matrix products (full precision by default, left so). Without this, ``dtype = "float32"``
    would not rule precision out, and every float32 score on a GPU (NASWOT's codes, the
    zero-cost gradients, CV_U's float32 check of bf16) would carry TF32 rounding. bf16 autocast
    is unaffected. The legacy flag is the one to set: it sets cuDNN's convolution and RNN
    precisions together (setting only the convolutions' through the newer ``fp32_precision``
    API makes torch refuse later reads of ``allow_tf32``)."""
    torch.backends.cudnn.allow_tf32 = False


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


SLACK_CORES = 0.25
"""Other processes' use of a core below this share does not take the core away from rcx (daemons,
a shell, a sampler: a thread on that core still runs almost undisturbed)."""

WINDOW_S = 0.25
"""Shortest window over which :class:`CpuMeter` measures the other processes' CPU use (s); the
kernel counts CPU time in ticks of 10 ms, so 0.25 s on 2 cores resolves 0.04 cores."""

MAX_AGE_S = 2.0
"""A previous sample at most this old (s) starts the next window, so a second measurement soon
after the first (``Runner.setup`` then ``Runner.run``, or plans run back to back) waits for
nothing; an older one is stale and the meter samples afresh and waits :data:`WINDOW_S`."""


def read_cpu_busy(cpus: set[int] | None = None) -> float | None:
    """CPU seconds the machine's CPUs in ``cpus`` (all when None) have been busy since boot, from
    ``/proc/stat`` (user + nice + system + irq + softirq + steal; guest time is inside user);
    ``None`` where there is no ``/proc/stat``."""
    try:
        lines = Path("/proc/stat").read_text().splitlines()
    except OSError:
        return None
    hz = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    ticks = 0
    for line in lines:
        name, *fields = line.split()
        if not name.startswith("cpu") or name == "cpu":
            continue
        if cpus is not None and int(name[3:]) not in cpus:
            continue
        try:
            values = [int(f) for f in fields[:8]]
        except ValueError:
            return None
        user, nice, system, _idle, _iowait, irq, softirq, steal = values + [0] * (8 - len(values))  # old kernels: 4-7
        ticks += user + nice + system + irq + softirq + steal
    return ticks / hz


class CpuMeter:
    """How many cores other processes keep busy now: the CPU time the machine's (allowed) cores
    spent busy over a short window, minus this process's own CPU time over the same window,
    divided by the window's length.

    Unlike the load average this sees only the last fraction of a second and never counts this
    process's own work, so a script that runs plans back to back, or a run that starts right
    after a heavy one, gets the idle cores. The counters and the clock are injectable (tests
    drive the rule with fakes): ``busy()`` -> busy CPU seconds of the cores (None: unknown),
    ``own()`` -> this process's CPU seconds, ``clock()`` -> seconds, ``sleep(s)``.
    """

    def __init__(self, busy: Callable[[], float | None] | None = None, own: Callable[[], float] = time.process_time,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep,
                 window: float = WINDOW_S, max_age: float = MAX_AGE_S) -> None:
        if busy is None:
            cpus = _affinity()
            busy = lambda: read_cpu_busy(cpus)  # noqa: E731
        self.busy, self.own, self.clock, self.sleep = busy, own, clock, sleep
        self.window, self.max_age = window, max_age
        self._last: tuple[float, float, float] | None = None  # (clock, busy, own) of the previous sample
        self._lock = threading.Lock()

    def _sample(self) -> tuple[float, float, float] | None:
        busy = self.busy()
        return None if busy is None else (self.clock(), busy, self.own())

    def other_busy(self) -> float | None:
        """Cores (a float >= 0) that other processes kept busy over the last window; ``None``
        where the machine has no CPU counters. Sleeps at most :attr:`window` seconds."""
        with self._lock:
            start = self._last
            now = self.clock()
            if start is None or now - start[0] > self.max_age:
                start = self._sample()
                if start is None:
                    return None
                now = start[0]
            if now - start[0] < self.window:
                self.sleep(self.window - (now - start[0]))
            end = self._sample()
            if end is None:
                return None
            self._last = end
        elapsed = end[0] - start[0]
        if elapsed <= 0:
            return 0.0
        return max(0.0, ((end[1] - start[1]) - (end[2] - start[2])) / elapsed)


def _affinity() -> set[int] | None:
    try:
        return set(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return None


METER = CpuMeter()
"""The process's meter for ``--threads auto``."""


def auto_threads(cores: int | None = None, busy: float | None = None,
                 meter: CpuMeter | None = None) -> tuple[int, str]:
    """The default torch intra-op thread count and a short reason for it: one thread per core
    that other processes leave idle now, ``floor(cores - busy + SLACK_CORES)`` within
    ``[1, cores]``.

    ``cores`` defaults to :func:`available_cores`; ``busy`` (cores) to what ``meter`` (default:
    :data:`METER`) measures over the last quarter of a second, this process's own work
    excluded; where it cannot measure (no ``/proc/stat``), the 1-minute load average. Only the
    cores idle now get a thread: torch's OpenMP threads meet at a barrier after every parallel
    op, so one thread descheduled by other work stalls the rest, and on a busy 2-core machine
    two threads ran the quickstart many times slower than one (BENCHMARKS.md, "CPU threads
    under load").
    """
    cores = available_cores() if cores is None else cores
    source = "busy"
    if busy is None:
        busy = (meter or METER).other_busy()
    if busy is None:
        source = "load"
        try:
            busy = os.getloadavg()[0]
        except OSError:  # no load average on this platform
            busy = 0.0
    n = max(1, min(cores, math.floor(cores - busy + SLACK_CORES)))
    what = "other processes busy" if source == "busy" else "load"
    return n, f"auto: {cores} cores, {what} {busy:.1f}"


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
