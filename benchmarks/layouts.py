"""NASWOT and zen in the channels-last layout against the contiguous one: CPU seconds and how far
the scores move, per search space, in one process.

For ``--archs`` seeded random networks of each space (at 32x32), the same weights in both
layouts: NASWOT's kernel on 128 CIFAR-10 training images (the first per class of
``../shared/data/cifar10-jpeg.zip``, normalised with CIFAR-10's mean and std; every edge runs, as
``edges = "all"``) and zen on 64 Gaussian inputs and 64 Gaussian perturbations (N(0, 1)
weights, as the evaluator). Reported: CPU seconds summed over the networks per layout
(``time.process_time``, ``--threads 1``: core-seconds), their ratio, and the largest relative
difference between the layouts' scores. It backs ``layout = "auto"`` (channels-last on a CPU) of
both evaluators (BENCHMARKS.md, "All training-free scores of a NAS-Bench-201 cell").

    python benchmarks/layouts.py [--spaces nb201,nats_sss,nb_macro] [--archs 12] [--threads 1]
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path

import torch

from rcx.api import build_every_edge, generator, init_weights
from rcx.data.imagefolder import ImageFolderProvider
from rcx.plugins import load_registry
from rcx_naswot.evaluator import naswot_score, relu_kernel
from rcx_zerocost import proxies
from rcx_zerocost.evaluators import Zen

from cifar_subset import unzip_subset  # benchmarks/, the script's own folder

LAYOUTS = {"contiguous": torch.contiguous_format, "channels_last": torch.channels_last}


def _images(n: int) -> torch.Tensor:
    """The first ``n`` CIFAR-10 training images in class round-robin, normalised: (n, 3, 32, 32)."""
    with tempfile.TemporaryDirectory() as tmp:
        root = unzip_subset(Path(tmp) / "data", -(-n // 10), 1)
        data = ImageFolderProvider().load({"root": str(root)}, Path(tmp) / "cache")
    x = data.train_x[:n].float() / 255
    mean = torch.tensor(data.mean).view(1, 3, 1, 1)
    std = torch.tensor(data.std).view(1, 3, 1, 1)
    return (x - mean) / std


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--spaces", default="nb201,nats_sss,nb_macro")
    ap.add_argument("--archs", type=int, default=12)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    registry = load_registry()
    zen = Zen({})  # its initialise: N(0, 1) weights, zero biases, as the evaluator scores
    images = _images(128)
    g = torch.Generator().manual_seed(0)
    noise = torch.randn(2, 64, 3, 32, 32, generator=g)
    print(f"torch {torch.__version__}, {args.threads} thread(s); {args.archs} random networks per space, 32x32")
    for name in args.spaces.split(","):
        space = registry.get("space", name)()
        picks = torch.randperm(len(space), generator=torch.Generator().manual_seed(0))[:args.archs].tolist()
        secs = {(s, layout): 0.0 for s in ("naswot", "zen") for layout in LAYOUTS}
        worst = {"naswot": 0.0, "zen": 0.0}
        for index in picks:
            arch = space.arch_at(index)
            scores: dict[tuple[str, str], float] = {}
            for layout, fmt in LAYOUTS.items():
                net = build_every_edge(space, arch, (3, 32, 32)).train()
                init_weights(net, "default", generator(index, "trial", 0))
                net = net.to(memory_format=fmt)
                x = images.contiguous(memory_format=fmt)
                c0 = time.process_time()
                kernel, _ = relu_kernel(net, x)
                scores["naswot", layout] = naswot_score(kernel)
                secs["naswot", layout] += time.process_time() - c0

                net = build_every_edge(space, arch, (3, 32, 32)).train()
                zen.initialise(net, generator(index, "trial", 0))
                net = net.to(memory_format=fmt)
                clean, perturb = (t.contiguous(memory_format=fmt) for t in noise)
                c0 = time.process_time()
                scores["zen", layout] = proxies.zen(net, clean, perturb)
                secs["zen", layout] += time.process_time() - c0
            for s in worst:
                a, b = scores[s, "contiguous"], scores[s, "channels_last"]
                if math.isfinite(a) and math.isfinite(b):
                    worst[s] = max(worst[s], abs(a - b) / abs(a))
        for s in worst:
            c, cl = secs[s, "contiguous"], secs[s, "channels_last"]
            print(f"{name:9s} {s:7s} contiguous {c:6.2f} s  channels_last {cl:6.2f} s  ratio {c / cl:.2f}x  "
                  f"largest relative difference {worst[s]:.1e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
