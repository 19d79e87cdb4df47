"""Device helpers a batch evaluator needs: per-channel normalisation on the device, device
synchronisation for timing, and whether the CPU computes bf16 natively.

torch is imported inside the functions, so importing :mod:`rcx.api` stays free of torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued work (CUDA); a no-op on the CPU. Call before reading a clock."""
    if device.type == "cuda":
        import torch

        torch.cuda.synchronize(device)


def cpu_has_fast_bf16() -> bool:
    """True when the CPU runs bf16 convolutions natively (AVX512-BF16 / AMX via oneDNN)."""
    import torch

    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


@dataclass
class Normalizer:
    """(x / 255 - mean) / std on the device; mean/std are per channel in [0, 1] units."""

    mean: torch.Tensor  # (1, C, 1, 1) float32
    std: torch.Tensor  # (1, C, 1, 1) float32

    @classmethod
    def create(cls, mean: tuple[float, ...], std: tuple[float, ...], device: torch.device) -> Normalizer:
        import torch

        shape = (1, len(mean), 1, 1)
        return cls(torch.tensor(mean, device=device).view(shape), torch.tensor(std, device=device).view(shape))

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) uint8 -> (B, C, H, W) float32."""
        return (x.float() / 255.0 - self.mean) / self.std
