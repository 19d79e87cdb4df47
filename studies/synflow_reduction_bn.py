"""Does zero-cost-nas's NAS-Bench-201 synflow differ from rcx's, and does it move the Spearman?

zero-cost-nas (Abdelfattah et al., ICLR 2021) scores synflow on a ``bn=False`` copy of its own
NAS-Bench-201 model (``foresight/models/nasbench2.py``): the copy drops the BatchNorm of the stem,
the cells and the classifier, but its two residual reduction blocks build their ReLU-Conv-BN
without the ``use_bn`` flag, so they keep their BatchNorm (train mode, batch statistics of the one
all-ones image). rcx removes every BatchNorm. This script scores the first 1,000-cell sample of
the study (the archive ``studies/results/nb201_study.db.xz``) both ways on identical weights
(the weights rcx's ``synflow`` evaluator draws with plan seed 0) and compares both with
NAS-Bench-201's CIFAR-10 test accuracy.

    python studies/synflow_reduction_bn.py --compute [--n 1000]  # scores -> studies/results/synflow_reduction_bn.csv.gz
    python studies/synflow_reduction_bn.py [--format table|csv]   # the comparison, from that file
"""

from __future__ import annotations

import argparse
import copy
import csv
import gzip
import lzma
import shutil
import sqlite3
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCORES = ROOT / "studies" / "results" / "synflow_reduction_bn.csv.gz"


def cell_ids(n: int) -> list[str]:
    """The study's first ``n`` cells, in sample order, from the committed archive."""
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "s.db"
        with lzma.open(ROOT / "studies" / "results" / "nb201_study.db.xz") as src, db.open("wb") as out:
            shutil.copyfileobj(src, out)
        con = sqlite3.connect(db)
        ids = [a for (a,) in con.execute("SELECT arch FROM candidates WHERE run_id = 1 ORDER BY idx LIMIT ?", (n,))]
        con.close()
    return ids


def keep_reduction_bn(model):
    """zero-cost-nas's ``bn=False`` copy of its NAS-Bench-201 model: BatchNorm removed except in the
    residual reduction blocks (rcx.nn.nb201.ResBlock), which keep theirs in train mode."""
    from torch import nn

    from rcx.nn.nb201 import ResBlock

    inside = {id(m) for block in model.modules() if isinstance(block, ResBlock) for m in block.modules()}
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.modules.batchnorm._BatchNorm) and id(child) not in inside:
                setattr(parent, name, nn.Identity())
    return model.train()


def compute(n: int) -> None:
    """Score the first ``n`` cells both ways and write ``arch,rcx,zero_cost_nas`` to :data:`SCORES`."""
    import torch

    from rcx.api import derive_seed, generator, init_weights
    from rcx.plugins import get_registry
    from rcx_zerocost.proxies import remove_batchnorm, synflow

    torch.set_num_threads(1)
    space = get_registry().get("space", "nb201")(channels=16, cells=5)
    with gzip.open(SCORES, "wt", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["arch", "rcx", "zero_cost_nas"])
        for arch_id in cell_ids(n):
            arch = space.from_id(arch_id)
            model = space.build_classifier(arch, (3, 32, 32), 10)
            init_weights(model, "default", generator(derive_seed(0, "synflow", arch.id), "trial", 0))
            rcx_score = synflow(remove_batchnorm(copy.deepcopy(model)).train(), (3, 32, 32))
            ref_score = synflow(keep_reduction_bn(copy.deepcopy(model)), (3, 32, 32))
            w.writerow([arch_id, repr(rcx_score), repr(ref_score)])


def compare() -> list[tuple[str, str]]:
    """The comparison of the two scores in :data:`SCORES` with NAS-Bench-201's CIFAR-10 test accuracy."""
    import numpy as np
    from scipy.stats import spearmanr

    from rcx.plugins import get_registry

    table = get_registry().get("truth", "nb201")().load()
    with gzip.open(SCORES, "rt") as fh:
        rows = list(csv.DictReader(fh))
    acc = np.array([table[r["arch"]]["cifar10"] for r in rows])
    a = np.array([float(r["rcx"]) for r in rows])
    b = np.array([float(r["zero_cost_nas"]) for r in rows])
    ok = np.isfinite(a) & np.isfinite(b) & (a > 0) & (b > 0)
    order_kept = float(spearmanr(a[ok], b[ok]).statistic)
    return [
        ("cells", f"{int(ok.sum()):,} of {len(rows):,} (finite and positive in both)"),
        ("Spearman with CIFAR-10 test, rcx (every BatchNorm removed)", f"{spearmanr(a[ok], acc[ok]).statistic:.3f}"),
        ("Spearman with CIFAR-10 test, zero-cost-nas (reduction BatchNorm kept)",
         f"{spearmanr(b[ok], acc[ok]).statistic:.3f}"),
        ("Spearman between the two scores", f"{order_kept:.3f}"),
        ("median ratio rcx / zero-cost-nas", f"{np.median(a[ok] / b[ok]):.3g}"),
    ]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--compute", action="store_true", help="score the cells (minutes) and write the scores file")
    p.add_argument("--n", type=int, default=1000, help="cells to score with --compute (default 1000)")
    p.add_argument("--format", choices=("table", "csv"), default="table")
    args = p.parse_args(argv)
    if args.compute:
        compute(args.n)
    out = compare()
    if args.format == "csv":
        w = csv.writer(sys.stdout, lineterminator="\n")
        w.writerow(["quantity", "value"])
        w.writerows(out)
    else:
        for k, v in out:
            print(f"{k:<72} {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
