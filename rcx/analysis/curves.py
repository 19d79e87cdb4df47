"""Learning curves of a finished candidate: ``rcx results DB --curves ARCH``.

The training evaluators (``trained``, ``lc_frozen``, ``partial_filters``) store one point per
epoch (``step``, ``epoch``, ``train_loss``, ``lr`` and, on validation epochs, ``val_acc``) in
the results file's ``curves`` table. This module reads them for one architecture and shows
them as a table (one row per point and evaluator instance) or as a terminal plot (plotext:
training loss on the left axis, validation accuracy on the right), which the CLI draws when
its output is a terminal and the TUI's Detail view embeds.

:func:`with_epoch_columns` turns the same curves into columns of a results table, one per
metric and epoch before the last (``trained.val_acc@1``: the validation accuracy after epoch 1
of the schedule), so that ``rcx analyze cost --epochs`` ranks each epoch of a training like
any other score.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from rcx.analysis.common import AnalysisError

EPOCH_METRICS = ("val_acc", "train_loss", "tse")
"""The metrics :func:`with_epoch_columns` makes per epoch (``tse``: the running sum of the
epochs' training losses, as the evaluators' own ``tse`` sums all of them)."""

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


def with_epoch_columns(table: Any, paths: Sequence[Path], run_id: int | None = None) -> tuple[Any, dict[str, float]]:
    """``table`` (a :class:`~rcx.core.results.ResultsTable` of ``paths[0]``'s run ``run_id`` joined
    with the latest runs of the other files) with a column ``<instance>.<metric>@<epoch>`` for
    each metric of :data:`EPOCH_METRICS` and each epoch of a learning curve before the
    instance's last one (the last is the instance's own metric), each with its base metric's
    direction, role and unit; and ``{column: epoch / last epoch}``, the share of the
    schedule's cost spent by then.

    An epoch point is the state inside the full schedule (a cosine learning rate has not
    decayed at epoch 1 of 4), not the result of a shorter schedule. An architecture without
    that epoch's point has None there. Raises :class:`AnalysisError` when no file has a curve."""
    from dataclasses import replace

    from rcx.core.store import Store, StoreError

    by_arch: dict[str, dict[str, Any]] = {}
    last: dict[str, float] = {}
    epochs: dict[str, set[float]] = {}
    for i, path in enumerate(paths):
        try:
            store = Store.open_readonly(path)
            try:
                curves = store.curves(store.run(run_id if i == 0 else None).id)
            finally:
                store.close()
        except StoreError as exc:
            raise AnalysisError(str(exc)) from None
        for (arch, inst), points in curves.items():
            if inst not in table.evaluators:
                continue
            tse = 0.0
            for p in points:
                epoch = float(p["epoch"])
                last[inst] = max(last.get(inst, epoch), epoch)
                epochs.setdefault(inst, set()).add(epoch)
                loss = p.get("train_loss")
                values = {"val_acc": p.get("val_acc"), "train_loss": loss}
                if isinstance(loss, (int, float)) and math.isfinite(loss) and math.isfinite(tse):
                    tse += float(loss)
                    values["tse"] = tse
                else:
                    tse = math.nan
                for m, v in values.items():
                    if isinstance(v, (int, float)) and not isinstance(v, bool):
                        by_arch.setdefault(arch, {})[f"{inst}.{m}@{epoch:g}"] = float(v)
    if not last:
        raise AnalysisError("no learning curve in the results files (only the training evaluators record one, per "
                            "epoch)")
    columns, fractions = [], {}
    for inst in table.evaluators:
        for epoch in sorted(e for e in epochs.get(inst, ()) if e < last[inst]):
            for m in EPOCH_METRICS:
                column = f"{inst}.{m}@{epoch:g}"
                if f"{inst}.{m}" in table.higher_is_better and any(column in v for v in by_arch.values()):
                    columns.append(column)
                    fractions[column] = epoch / last[inst]
    base = {c: c.rsplit("@", 1)[0] for c in columns}
    rows = [{**r, **{c: by_arch.get(r["arch"], {}).get(c) for c in columns}} for r in table.rows]

    def extend(mapping: dict[str, Any]) -> dict[str, Any]:
        return {**mapping, **{c: mapping[base[c]] for c in columns if base[c] in mapping}}

    return replace(table, columns=[*table.columns, *columns], rows=rows,
                   higher_is_better=extend(table.higher_is_better), roles=extend(table.roles),
                   units=extend(table.units)), fractions


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
