"""ridge-RFM speed against seed 001's reference procedure, in one process.

30 valid `ksd` architectures (seeded sample) at 3x96x96, the first 500 training and 500 test
images of a class-balanced CIFAR-10 subset resized to 96x96. Reference (the blog's script,
one architecture after the other): torch forward in float32 batches of 32, then scikit-learn
``RidgeClassifier()`` fit and predict. rcx: the same architectures through the runner (plan,
results store and all) with screening off. Both run 1 trial and 5 trials per architecture.

    python benchmarks/ridge_rfm.py [--archs 30] [--trials 1,5] [--data DIR] [--device cpu] \\
        [--per-class 50] [--resize 96] [--dtype int8]

DIR is an image-folder tree; by default the needed files are unzipped from
``../shared/data/cifar10-jpeg.zip`` into a temporary directory. ``--device`` is rcx's side
(the reference stays the blog's CPU script whatever the device); ``--dtype`` sets rcx's
``ridge_rfm.dtype`` (default: the option's default, ``auto``).
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.linear_model import RidgeClassifier

from rcx.core.plan import parse_plan
from rcx.core.results import results_table
from rcx.core.runner import Runner
from rcx.core.store import Store
from rcx.plugins import load_registry

from cifar_subset import unzip_subset  # benchmarks/, the script's own folder

PLAN = """
name = "bench-ridge"
seed = 0
device = "{device}"
[dataset]
name = "imagefolder"
root = "{root}"
resize = {resize}
[space]
name = "ksd"
[sampler]
kind = "random"
n = {archs}
valid_only = true
[evaluators.ridge_rfm]
trials = {trials}
train_size = {images}
val_size = {images}
lambda = 1.0
"""



def reference(plan, registry, trials: int) -> tuple[float, list[float]]:
    """Seed 001's script: float32 forward in batches of 32, sklearn RidgeClassifier()."""
    runner = Runner(plan, registry)
    runner.setup()
    data, space = runner.data, runner.space
    mean = torch.tensor(data.mean).view(1, -1, 1, 1)
    std = torch.tensor(data.std).view(1, -1, 1, 1)
    n_tr, n_va = plan.evaluators[0].options["train_size"], plan.evaluators[0].options["val_size"]
    xtr, ytr = data.train_x[:n_tr], data.train_y[:n_tr].numpy()
    xva, yva = data.test_x[:n_va], data.test_y[:n_va].numpy()
    accs = []
    t0 = time.perf_counter()
    for cand in runner.candidates:
        for _ in range(trials):
            model = space.build(cand.arch, data.shape)  # fresh PyTorch-default random weights

            def feats(x, model=model):
                with torch.no_grad():
                    return torch.cat([model((x[i:i + 32].float() / 255 - mean) / std).flatten(1)
                                      for i in range(0, len(x), 32)]).numpy()

            clf = RidgeClassifier().fit(feats(xtr), ytr)
            accs.append(float((clf.predict(feats(xva)) == yva).mean()))
    return time.perf_counter() - t0, accs


def rcx_run(plan, registry, db: Path) -> tuple[float, list[float], str]:
    runner = Runner(plan, registry)
    runner.setup()  # data loading is excluded from both timings
    store = Store.open(db)
    t0 = time.perf_counter()
    run_id = runner.run(store)
    seconds = time.perf_counter() - t0
    table = results_table(store, run_id, registry)
    dtype = store.evaluations(run_id)[0]["extra"]["dtype"]
    store.close()
    return seconds, [r["ridge_rfm.val_acc"] for r in table.rows], dtype


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--archs", type=int, default=30)
    ap.add_argument("--trials", default="1,5")
    ap.add_argument("--data", type=Path)
    ap.add_argument("--per-class", type=int, default=50, help="training and test images per class (10 classes)")
    ap.add_argument("--resize", type=int, default=96, help="image side (seed 001: STL-10's 96)")
    ap.add_argument("--device", default="cpu", help="rcx's device (cpu, cuda, auto); the reference runs on the CPU")
    ap.add_argument("--dtype", choices=("auto", "float32", "bfloat16", "int8"), help="rcx's ridge_rfm.dtype")
    args = ap.parse_args()
    registry = load_registry()
    with tempfile.TemporaryDirectory() as tmp:
        root = args.data or unzip_subset(Path(tmp) / "cifar", args.per_class, args.per_class)  # 500 train, 500 test
        print(f"machine: {platform.machine()} {platform.processor() or ''}, {torch.get_num_threads()} threads, "
              f"torch {torch.__version__}, {torch.backends.cpu.get_cpu_capability()}; rcx on {args.device}")
        for trials in [int(t) for t in args.trials.split(",")]:
            plan = parse_plan(PLAN.format(root=root, archs=args.archs, trials=trials, device=args.device,
                                          resize=args.resize, images=10 * args.per_class)
                              + (f'dtype = "{args.dtype}"\n' if args.dtype else ""), registry)  # [evaluators.ridge_rfm]
            t_ref, acc_ref = reference(plan, registry, trials)
            t_rcx, acc_rcx, dtype = rcx_run(plan, registry, Path(tmp) / f"bench{trials}.db")
            print(f"trials={trials}: reference {args.archs / t_ref:.3f} arch/s ({t_ref:.1f} s), "
                  f"rcx {args.archs / t_rcx:.3f} arch/s ({t_rcx:.1f} s, {dtype}), ratio {t_ref / t_rcx:.2f}x; "
                  f"mean accuracy reference {100 * np.mean(acc_ref):.2f} %, rcx {100 * np.mean(acc_rcx):.2f} % "
                  f"(diff {100 * (np.mean(acc_rcx) - np.mean(acc_ref)):+.2f} points)", flush=True)


if __name__ == "__main__":
    sys.exit(main())
