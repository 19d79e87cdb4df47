"""The TUI shows a covering truth table's columns (an ``nb201`` run gets NAS-Bench-201's accuracy)."""

from __future__ import annotations

from rcx.tui.app import RcxApp
from rcx.tui.correlation import numeric_columns
from rcx.tui.state import view_columns

from ..analysis_store import nb201_store
from .conftest import sync, wait_for

IDS = ["|none~0|+|none~0|none~1|+|none~0|none~1|none~2|",
       "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|",
       "|skip_connect~0|+|none~0|none~1|+|none~0|none~1|none~2|"]
TRUTH = ["truth.nb201.cifar10", "truth.nb201.cifar100", "truth.nb201.imagenet16"]


@sync
async def test_results_and_correlation_columns_include_the_truth(tmp_path, registry):
    app = RcxApp(registry, db_path=nb201_store(tmp_path / "nb201.db", IDS))
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.table is not None and len(app.table.rows) == 3, what="the table")
        table = app.table
        assert table.columns[-3:] == TRUTH and table.rows[0]["truth.nb201.cifar10"] == 10.0
        assert set(TRUTH) <= set(view_columns(table)) and set(TRUTH) <= set(numeric_columns(table))
