"""Device resolution and description."""

from __future__ import annotations

import platform

import torch


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


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def cpu_has_fast_bf16() -> bool:
    """True when the CPU runs bf16 convolutions natively (AVX512-BF16 / AMX via oneDNN)."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False
