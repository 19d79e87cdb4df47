"""What runs differently on a CUDA device, checked on a CPU: the branches that look at
``device.type == "cuda"`` are driven with a ``torch.device("cuda")`` object (which needs no GPU)
and torch's CUDA queries replaced, so a bug there shows here rather than on a lent GPU."""

from __future__ import annotations

import weakref
from typing import Any

import pytest
import torch

from rcx.api.evaluator import EvalContext, EvalResult, Evaluator
from rcx.core import device as core_device
from rcx.core.runner import evaluate_one, is_out_of_memory
from rcx.nn import features
from rcx.nn.features import ForwardTimer, batched_features, choose_dtype, cuda_has_bf16

CUDA = torch.device("cuda", 0)


@pytest.fixture
def tf32_restored():
    before = torch.backends.cudnn.allow_tf32
    yield
    torch.backends.cudnn.allow_tf32 = before


@pytest.mark.parametrize("spec, expected", [("cuda", "cuda:0"), ("cuda:0", "cuda:0"), ("auto", "cuda")])
def test_resolving_a_cuda_device_turns_tf32_convolutions_off(monkeypatch, tf32_restored, spec, expected):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    torch.backends.cudnn.allow_tf32 = True  # PyTorch's default
    assert str(core_device.resolve_device(spec)) == expected
    assert torch.backends.cudnn.allow_tf32 is False


def test_a_cpu_run_leaves_the_cuda_settings_alone(monkeypatch, tf32_restored):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    torch.backends.cudnn.allow_tf32 = True
    assert core_device.resolve_device("cpu") == torch.device("cpu")
    assert torch.backends.cudnn.allow_tf32 is True


@pytest.mark.parametrize("capability, auto", [((7, 5), torch.float32), ((8, 0), torch.bfloat16),
                                              ((9, 0), torch.bfloat16)])
def test_auto_picks_bf16_only_on_gpus_that_compute_it(monkeypatch, capability, auto):
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)
    assert cuda_has_bf16(CUDA) is (auto == torch.bfloat16)
    assert choose_dtype("auto", CUDA) == auto
    assert choose_dtype("float32", CUDA) == torch.float32 and choose_dtype("bfloat16", CUDA) == torch.bfloat16


def test_timed_batches_wait_for_the_consumers_queued_work_before_their_clock_starts(monkeypatch):
    """On CUDA the consumer's work on batch k (e.g. the ridge Gram update) is still queued when
    batch k + 1 starts: without a synchronisation first, the forward time would include it."""
    events: list[str] = []
    monkeypatch.setattr(features, "synchronize", lambda device: events.append("sync"))

    class Net(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            events.append("forward")
            return x

    images = torch.zeros(6, 1, 2, 2, dtype=torch.uint8)
    for _ in batched_features(Net(), images, lambda x: x.float(), 2, torch.float32, ForwardTimer()):
        events.append("consume")
    assert events == ["sync", "forward", "sync", "consume"] * 3
    events.clear()
    for _ in batched_features(Net(), images, lambda x: x.float(), 2, torch.float32):  # untimed: no waits
        events.append("consume")
    assert events == ["forward", "consume"] * 3


# -- out of memory ----------------------------------------------------------------------------------------

class Raising(Evaluator):
    """Holds a tensor in its frame, then raises a copy of ``error`` (a fresh exception, as
    torch's: one kept here would keep its traceback, and the frame, alive)."""

    name = "raising"
    alive: weakref.ref | None = None

    def __init__(self, error: BaseException) -> None:
        super().__init__({})
        self.error = type(error), error.args

    def evaluate(self, ctx: EvalContext) -> EvalResult:
        activations = torch.zeros(1000)
        Raising.alive = weakref.ref(activations)
        kind, args = self.error
        raise kind(*args)


def context(device: torch.device) -> EvalContext:
    return EvalContext(arch=None, info=None, seed=0, device=device)  # type: ignore[arg-type]


@pytest.mark.parametrize("error", [
    torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB\nmore details"),
    RuntimeError("CUDA error: out of memory"),
    RuntimeError("cuDNN error: CUDNN_STATUS_ALLOC_FAILED"),
    torch.OutOfMemoryError(),  # no message
])
def test_out_of_memory_fails_the_evaluation_with_one_line_of_advice(monkeypatch, error):
    freed: list[Any] = []

    def empty_cache() -> None:  # the evaluation's tensors must be gone by now, or nothing returns to the driver
        assert Raising.alive is not None
        freed.append(Raising.alive() is None)

    monkeypatch.setattr(torch.cuda, "empty_cache", empty_cache)
    assert is_out_of_memory(error)
    outcome = evaluate_one(Raising(error), context(CUDA))
    assert outcome.status == "failed" and outcome.oom and "traceback" not in outcome.extra
    assert outcome.error.startswith("out of memory on cuda:0: ") and outcome.error.endswith("batch_size)")
    assert "\n" not in outcome.error
    assert freed == [True]


def test_out_of_memory_on_a_cpu_does_not_touch_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "empty_cache", lambda: pytest.fail("empty_cache on a CPU run"))
    outcome = evaluate_one(Raising(torch.OutOfMemoryError("out of memory")), context(torch.device("cpu")))
    assert outcome.oom and outcome.error.startswith("out of memory on cpu: ")


def test_other_errors_keep_their_traceback_and_are_not_out_of_memory():
    error = RuntimeError("boom")
    assert not is_out_of_memory(error) and not is_out_of_memory(ValueError("out of memory"))
    outcome = evaluate_one(Raising(error), context(CUDA))
    assert outcome.status == "failed" and not outcome.oom and outcome.error == "RuntimeError: boom"
    assert "Traceback" in outcome.extra["traceback"]


def test_out_of_memory_advice_is_the_evaluators_own():
    """cvu's memory setting is chunk, not batch_size (which, like naswot's and the zero-cost
    proxies', changes the score): each evaluator's hint ends the message."""
    from rcx.evaluators.cvu import CVU

    class ChunkedRaising(Raising):
        out_of_memory_hint = CVU.out_of_memory_hint

    outcome = evaluate_one(ChunkedRaising(torch.OutOfMemoryError("out of memory")), context(torch.device("cpu")))
    assert outcome.oom and outcome.error.endswith(f"({CVU.out_of_memory_hint})") and "chunk" in outcome.error
    for name in ("naswot", "snip", "zico"):
        from rcx.plugins import get_registry

        assert "changes the score" in get_registry().get("evaluator", name).out_of_memory_hint
