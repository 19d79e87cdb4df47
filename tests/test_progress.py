"""Headless progress (rcx.progress.Reporter): the lines a piped ``rcx run --headless`` prints."""

from __future__ import annotations

import io

from rcx.core import events as ev
from rcx.progress import Reporter


def _plain(events: list[ev.Event]) -> list[str]:
    stream = io.StringIO()
    reporter = Reporter(stream, live=False)
    for e in events:
        reporter(e)
    return stream.getvalue().splitlines()


def test_evaluations_that_computed_nothing_make_no_rate():
    """Every candidate invalid (the architecture does not fit the input): the lines read
    "| 3519.79/s ETA 0s", a rate of evaluations that computed nothing."""
    start = ev.RunStarted(1, 4, 0, 4, ("e",), False, "cpu")
    invalid = [ev.EvalFinished(f"a{i}", "e", "invalid", error="does not fit") for i in range(3)]
    lines = _plain([start, *invalid])
    assert len(lines) == 4 and all("does not fit" in line and "/s" not in line and "ETA" not in line
                                   for line in lines[1:]), lines
    lines = _plain([start, *invalid, ev.EvalFinished("a3", "e", "done", metrics={"acc": 0.5}, seconds=0.1)])
    assert "/s ETA " in lines[-1], lines  # one computed something: a rate again
