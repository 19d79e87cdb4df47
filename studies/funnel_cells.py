"""The cells a funnel's second stage must score: the top k of each first stage in the draws of
``rcx analyze funnel`` (the same draws: :func:`rcx.analysis.funnel.draws`), first the cells of
every stage's first 20 draws, then those of 100 draws, written as an ``ids`` sampler CSV.

    python studies/funnel_cells.py --out studies/plans/nb201_funnel_size.csv
    python studies/funnel_cells.py --first "rankavg(jacov.score,synflow.score,flops)" --first params \
        --first synflow.score --top 3 --top 5 --top 10 --out studies/plans/nb201_funnel_size_long.csv

(runs/nb201_study.db and runs/nb201_study_zerocost.db pulled first: ``python studies/study.py
pull``). They write the two CSVs as committed: the same 103 cells, the second in the order a
slow second stage needs them (the recipe's top 3 in 20 draws first, where one epoch of training
came closest to the funnel's goal, then params' and synflow's, then the top 5s and 10s, so a
partial study already gives the short-list funnels).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from rcx.analysis.common import column_values, load_table
from rcx.analysis.funnel import _oriented, draws
from rcx.analysis.truth import resolve_names

FIRSTS = ("params", "rankavg(jacov.score,synflow.score,flops)", "synflow.score")


def cells(db: Path, joins: list[Path], truth: str, firsts: tuple[str, ...], n_arch: int,
          tops: tuple[int, ...], runs: tuple[int, ...], seed: int) -> list[str]:
    """Architecture ids in the order they are first needed: for each count of draws in ``runs``,
    for each k in ``tops``, the top k of every first stage before the next k, then the next
    count."""
    table, _ = load_table(db, None, (), joins)
    table, (truth_name,) = resolve_names(table, [truth])
    archs = np.array([row["arch"] for row in table.rows])
    _, t = _oriented(table, truth_name, False)
    params = column_values(table, "params", require_done=False).values
    order: dict[str, None] = {}
    for count in runs:
        for top in tops:
            for name in firsts:
                _, first = _oriented(table, name, True)
                ok = np.isfinite(first) & np.isfinite(t) & np.isfinite(params)  # as rcx analyze funnel
                for _, by_first in draws(first[ok], n_arch=n_arch, runs=count, seed=seed):
                    order.update(dict.fromkeys(archs[ok][by_first[:top]].tolist()))
    return list(order)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--db", type=Path, default=Path("runs/nb201_study.db"))
    p.add_argument("--join", type=Path, action="append",
                   help="default: runs/nb201_study_zerocost.db with the default --db, none with another")
    p.add_argument("--truth", default="nb201:cifar10")
    p.add_argument("--first", action="append", help="a first stage (repeat, in the order wanted); default: "
                   + ", ".join(FIRSTS))
    p.add_argument("--top", type=int, action="append", help="k of the top k (repeat: smaller k first); default 10")
    p.add_argument("--out", type=Path, required=True)
    a = p.parse_args()
    joins = a.join if a.join is not None else \
        [Path("runs/nb201_study_zerocost.db")] if a.db == Path("runs/nb201_study.db") else []
    ids = cells(a.db, joins, a.truth, tuple(a.first or FIRSTS), n_arch=300, tops=tuple(a.top or [10]), runs=(20, 100),
                seed=0)
    a.out.write_text("arch\n" + "".join(f"{i}\n" for i in ids))
    print(f"{a.out}: {len(ids)} cells")


if __name__ == "__main__":
    main()
