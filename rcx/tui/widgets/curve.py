"""A learning curve as text: training loss and validation accuracy per epoch, as
``rcx results DB --curves ARCH`` draws it (the Detail view and the Run screen's live curve)."""

from __future__ import annotations

from typing import Any

from rich.text import Text

from rcx.termtable import format_value
from rcx.tui.state import cut_middle


def curve_text(label: str, points: list[dict[str, Any]], width: int, height: int) -> Text:
    """The plot of one evaluation's curve ``points`` (``{"step", "epoch", "train_loss",
    "val_acc", ...}``, oldest first), titled with ``label``, the point count and the last
    validation accuracy (a label too long for the title is cut in its middle, as the results
    table cuts an id); ``width`` x ``height`` in terminal cells. Plain text: the caller styles."""
    from rcx.analysis.curves import curve_plot

    last = points[-1]
    tail = f": {len(points)} epoch point(s)" + (
        f", val_acc {format_value(last['val_acc'])}" if last.get("val_acc") is not None else "")
    room = max(8, width - 2 - len(tail))  # plotext drops a title wider than the plot
    arch, sep, evaluator = label.rpartition(" / ")
    short = cut_middle(arch, room - len(sep + evaluator)) + sep + evaluator if sep else cut_middle(label, room)
    return Text(curve_plot({evaluator: points}, short + tail, width=width, height=height))
