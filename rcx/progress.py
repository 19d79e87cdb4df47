"""Progress reporting for headless runs: a live bar on a terminal, plain lines when piped."""

from __future__ import annotations

import sys
import time
from typing import IO

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeRemainingColumn

from rcx.core import events as ev
from rcx.numfmt import format_number


def _fmt_metrics(metrics: dict, names: tuple[str, ...]) -> str:
    """``names`` that are present in ``metrics`` as ``k=v`` (the first three when ``names`` is empty)."""
    keys = [k for k in names if k in metrics] if names else list(metrics)[:3]
    parts = []
    for k in keys:
        v = metrics[k]
        parts.append(f"{k}={format_number(v)}" if isinstance(v, (int, float)) else f"{k}={v}")
    return " ".join(parts)


def _fmt_eta(seconds: float) -> str:
    if seconds != seconds or seconds == float("inf"):
        return "?"
    m, s = divmod(int(seconds), 60)
    h, m = divmod(m, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s" if m else f"{s}s"


class Reporter:
    """Turns runner events into terminal output (stderr). ``live`` forces bar or plain mode.

    ``done`` counts evaluations that ran (or were recorded invalid); ``skipped`` those a stage
    did not select, apart: ``[78/240, 162 skipped]``. The rate (and ETA) counts only evaluations
    that computed something (not :data:`~rcx.core.events.NOTHING_COMPUTED`) and is left out
    until one has. With several stages, every stage's waiting /
    running / done / skipped counts are shown (a line per stage start and at the end; in the
    live bar's last column)."""

    def __init__(self, stream: IO[str] | None = None, live: bool | None = None, quiet: bool = False) -> None:
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty() if live is None else live
        self.quiet = quiet
        self.console = Console(file=self.stream, force_terminal=self.live or None, highlight=False)
        self.progress: Progress | None = None
        self.task: TaskID | None = None
        self.total = 0
        self.done = 0
        self.computed_here = 0  # evaluations of this session that computed something: the rate's count
        self.skipped = 0
        self.stages: tuple[ev.StageCount, ...] = ()
        self.t0 = time.perf_counter()
        self.counts: dict[str, int] = {}
        self.headline: dict[str, tuple[str, ...]] = {}
        self.workers: dict[str, ev.WorkerInfo] = {}

    def __call__(self, event: ev.Event) -> None:
        if isinstance(event, ev.RunStarted):
            self._started(event)
        elif isinstance(event, ev.EvalFinished):
            self._finished(event)
        elif isinstance(event, ev.StageStarted):
            self._stage(event)
        elif isinstance(event, ev.Workers):
            self._workers(event)
        elif isinstance(event, ev.StageProgress):
            self.stages = event.stages
            if self.progress is not None and self.task is not None and len(event.stages) > 1:
                self.progress.update(self.task, stages=ev.stage_line(event.stages))
        elif isinstance(event, ev.Log):
            if event.level != "info" or not self.quiet:
                self._print(f"[{event.level}] {event.message}")
        elif isinstance(event, ev.RunFinished):
            if self.progress is not None:
                self.progress.stop()
                self.progress = None
            if not self.quiet:
                skipped = f", {self.skipped:,} skipped" if self.skipped else ""
                self._print(f"finished {self.done:,} of {self.total:,} evaluations{skipped}")
                if len(self.stages) > 1:
                    self._print(ev.stage_line(self.stages))

    def _print(self, text: str) -> None:
        if self.progress is not None:
            self.progress.console.print(text, markup=False)
        else:
            print(text, file=self.stream, flush=True)

    def _started(self, e: ev.RunStarted) -> None:
        self.total, self.done, self.t0 = e.total, e.done, time.perf_counter()
        self.skipped = e.skipped
        self.done -= e.skipped
        self.headline = dict(e.headline)
        verb = "resuming" if e.resumed else "starting"
        self._print(
            f"{verb} run {e.run_id}: {e.candidates} candidates x {len(e.evaluators)} evaluator(s) "
            f"({', '.join(e.evaluators)}) on {e.device}; {e.done - e.skipped}/{e.total} already done"
            + (f", {e.skipped:,} skipped" if e.skipped else "")
        )
        if self.live and not self.quiet:
            self.progress = Progress(
                TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                TextColumn("{task.fields[rate]}"), TimeRemainingColumn(), TextColumn("{task.fields[status]}"),
                TextColumn("{task.fields[workers]}"), TextColumn("{task.fields[stages]}"),
                console=self.console, transient=False,
            )
            self.task = self.progress.add_task("evaluating", total=e.total - self.skipped, completed=self.done, rate="",
                                               status="", stages="",
                                               workers="")
            self.progress.start()

    def _stage(self, e: ev.StageStarted) -> None:
        self.skipped += e.newly_skipped
        if e.newly_skipped:
            self.counts["skipped"] = self.counts.get("skipped", 0) + e.newly_skipped
        if self.progress is not None and self.task is not None:  # the bar counts the work left: skipped is not work
            self.progress.update(self.task, total=self.total - self.skipped)
        if not self.quiet:
            skipped = f", {e.skipped:,} skipped" if e.skipped else ""
            self._print(f"stage {e.stage + 1}/{e.stages}: {e.rule}: {e.selected:,} candidates{skipped}")
            if len(self.stages) > 1 and e.stage > 0:
                self._print(ev.stage_line(self.stages))

    def _finished(self, e: ev.EvalFinished) -> None:
        self.done += 1
        if e.status not in ev.NOTHING_COMPUTED:
            self.computed_here += 1
        self.counts[e.status] = self.counts.get(e.status, 0) + 1
        elapsed = time.perf_counter() - self.t0
        rate = self.computed_here / elapsed if elapsed > 0 else 0.0
        eta = (self.total - self.done - self.skipped) / rate if rate > 0 else float("inf")
        speed = f"{rate:.2f}/s" if self.computed_here else ""  # none computed yet: no rate to speak of
        status = " ".join(f"{k}:{v}" for k, v in sorted(self.counts.items()))
        # a failure is printed once, by the runner's "[error] arch / instance: why" log line
        if self.progress is not None and self.task is not None:
            self.progress.update(self.task, completed=self.done, rate=speed, status=status)
        elif not self.quiet:
            detail = _fmt_metrics(e.metrics, self.headline.get(e.evaluator, ())) if e.metrics else ""
            if e.error and e.status != "failed":  # e.g. an invalid candidate's reason
                detail = e.error
            where = f" on {e.worker}" if e.worker else ""
            print(
                f"[{self.done:>{len(str(self.total))}}/{self.total}"
                f"{f', {self.skipped:,} skipped' if self.skipped else ''}]"
                f" {e.arch} {e.evaluator} {e.status} {detail} "
                f"({e.seconds:.2f}s{where})" + (f" | {speed} ETA {_fmt_eta(eta)}" if speed else ""),
                file=self.stream, flush=True,
            )

    def _workers(self, e: ev.Workers) -> None:
        """A line per worker that became ready or was lost; the live bar counts busy workers."""
        for w in e.workers:
            before = self.workers.get(w.name)
            if (before is None or before.state != w.state) and w.state in ("ready", "lost") and not self.quiet:
                verb = "ready" if w.state == "ready" else "lost"
                self._print(f"[worker] {w.name} {verb} on {w.node or '?'} ({w.device or '?'}), {w.done} done")
            self.workers[w.name] = w
        if self.progress is not None and self.task is not None:
            alive = [w for w in self.workers.values() if w.state not in ("lost", "failed")]
            busy = sum(1 for w in alive if w.running)
            self.progress.update(self.task, workers=f"workers {busy}/{len(alive)} busy")
