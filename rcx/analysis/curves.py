"""Learning curves of a finished candidate: ``rcx results DB --curves ARCH``.

The training evaluators (``trained``, ``lc_frozen``, ``partial_filters``) store one point per
epoch (``step``, ``epoch``, ``train_loss``, ``lr`` and, on validation epochs, ``val_acc``) in
the results file's ``curves`` table. This module reads them for one architecture and shows
them as a table (one row per point and evaluator instance) or as a terminal plot (plotext:
training loss on the left axis, validation accuracy on the right), which the CLI draws when
its output is a terminal and the TUI's Detail view embeds.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from rcx.analysis.common import AnalysisError

CURVE_COLUMNS = ("evaluator", "epoch", "step", "train_loss", "val_acc", "lr")
"""Columns of the curve table; extra metrics a plugin reports follow them."""


def read_curves(db: Path, arch: str, run_id: int | None = None) -> dict[str, list[dict[str, Any]]]:
    """Every learning curve of ``arch`` in run ``run_id`` (default: the latest) of ``db``:
    ``{evaluator instance: [points in step order]}``, each point ``{"step", "epoch", **metrics}``.

    Raises :class:`AnalysisError` when the run has no such architecture."""
    from rcx.core.store import Store

    store = Store.open_readonly(db)
    try:
        run = store.run(run_id)
        if not any(c["arch"] == arch for c in store.candidates(run.id)):
            raise AnalysisError(f"run {run.id} of {db} has no architecture {arch!r} (ids: rcx results {db})")
        return {ev: pts for (a, ev), pts in sorted(store.curves(run.id).items()) if a == arch}
    finally:
        store.close()


def curve_rows(curves: Mapping[str, Sequence[Mapping[str, Any]]]) -> tuple[list[str], list[dict[str, Any]]]:
    """(columns, rows): one row per point, ``evaluator`` first; columns are
    :data:`CURVE_COLUMNS` then any other metric in first-seen order."""
    rows = [{"evaluator": ev, **p} for ev, pts in curves.items() for p in pts]
    extra = [k for r in rows for k in r if k not in CURVE_COLUMNS]
    return [*CURVE_COLUMNS, *dict.fromkeys(extra)], rows


def curve_plot(curves: Mapping[str, Sequence[Mapping[str, Any]]], title: str, width: int = 100,
               height: int = 22, color: bool = False) -> str:
    """A plotext chart of the curves against epoch: each instance's training loss (left axis,
    ``-``) and validation accuracy (right axis, ``*``). ``color``: keep ANSI colours.

    Both axes start at 0 (the loss axis ends at the largest loss, the accuracy axis at 1 or the
    largest accuracy) and the epoch axis at 0, with round ticks (:func:`rcx.numfmt.axis_ticks`):
    scaled to its own range each series would fill the plot, so a one- or two-epoch curve's loss
    and accuracy would be drawn on the same cells, one hiding the other."""
    import plotext as plt  # lazily: only when asked to draw

    from rcx.numfmt import axis_ticks

    plt.clear_figure()
    plt.theme("clear")  # the terminal's own background, not plotext's white default
    epochs: list[float] = []
    sides: dict[str, list[float]] = {"left": [], "right": []}
    for ev, pts in curves.items():
        loss = [(p["epoch"], p["train_loss"]) for p in pts if p.get("train_loss") is not None]
        acc = [(p["epoch"], p["val_acc"]) for p in pts if p.get("val_acc") is not None]
        if loss:
            plt.plot(*map(list, zip(*loss)), label=f"{ev} train_loss", marker="dot", yside="left")
        if acc:
            plt.plot(*map(list, zip(*acc)), label=f"{ev} val_acc", marker="*", yside="right")
        for side, series in (("left", loss), ("right", acc)):
            epochs += [e for e, _ in series]
            sides[side] += [v for _, v in series]
    rows = max(3, height - 5)  # the plot's own rows: less the title, frame, tick labels and axis names
    for side, values in sides.items():
        if values and all(map(math.isfinite, values)) and min(values) >= 0:
            top = (max(values) if side == "left" else max(1.0, max(values))) or 1.0
            plt.ylim(0, top * (1 + 2.5 / rows), yside=side)  # room above the data for the legend's two rows
            ticks, labels = axis_ticks(0, top, n=min(5, max(2, rows // 3)))  # ticks at least three rows apart
            plt.yticks(ticks, labels, yside=side)
    if epochs and min(epochs) >= 0:
        last = max(epochs) or 1.0
        plt.xlim(0, last)
        ticks, labels = axis_ticks(0, last, n=min(6, max(2, width // 16)), integer=last >= 2)
        plt.xticks(ticks, labels)
    plt.xlabel("epoch")
    plt.ylabel("train_loss", yside="left")
    plt.ylabel("val_acc", yside="right")
    plt.title(title)
    plt.plotsize(width, height)
    text = plt.build()
    plt.clear_figure()
    return (text if color else plt.uncolorize(text)).rstrip("\n")


def show_curves(db: Path, arch: str, run_id: int | None = None, fmt: str = "table", plot: bool | None = None,
                stream: IO[str] | None = None) -> int:
    """Print ``arch``'s learning curves: CSV/JSON rows, or a table, plus a plot when ``plot``
    (default: when ``stream`` is a terminal). Returns the number of points printed."""
    from rcx.analysis.common import emit, plain
    from rcx.termtable import format_value

    stream = stream or sys.stdout
    curves = read_curves(db, arch, run_id)
    columns, rows = curve_rows(curves)
    if not rows:
        print(f"{arch}: no learning curve in {db} (only training evaluators record one, per epoch)", file=stream)
        return 0
    title = f"learning curves of {arch} ({len(curves)} evaluator(s), {len(rows)} points)"
    shown = [{k: r.get(k) if k in ("evaluator", "step") else format_value(r.get(k)) for k in columns} for r in rows]
    emit(fmt, columns, [{k: plain(r.get(k)) for k in columns} for r in rows], title=title,
         meta={"arch": arch, "db": str(db)}, table_rows=shown, stream=stream)
    if fmt == "table" and (stream.isatty() if plot is None else plot):
        import plotext as plt

        width = min(plt.terminal_width() or 100, 100)
        stream.write(curve_plot(curves, title, width=width, color=stream.isatty()) + "\n")
    return len(rows)
