"""Failed evaluations: a run's summary (is everything failed? the most common error) and the
listing behind ``rcx results DB --errors``.

A failed evaluation's row holds its one-line ``error`` and, when an exception caused it, the
trimmed traceback in ``extra["traceback"]`` (the innermost frames, see :data:`TRACEBACK_LIMIT`).
"""

from __future__ import annotations

import traceback
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

#: Frames kept of a failure's traceback: the innermost ones, where the plugin raised.
TRACEBACK_LIMIT = -12

#: Final statuses that are not a result.
NOT_RESULTS = ("failed", "invalid")


def format_traceback() -> str:
    """The exception being handled, as text with its innermost :data:`TRACEBACK_LIMIT` frames."""
    return traceback.format_exc(limit=TRACEBACK_LIMIT)


@dataclass(frozen=True)
class FailureSummary:
    """``failed`` of ``total`` finished evaluations; ``common`` the most frequent error (its
    first line) and ``common_count`` how many evaluations failed with it."""

    total: int
    failed: int
    common: str = ""
    common_count: int = 0
    results: int = 0  # evaluations with a result (any final status but failed or invalid)

    @property
    def all_failed(self) -> bool:
        """At least one evaluation failed and none produced a result (the rest, if any, invalid)."""
        return self.failed > 0 and self.results == 0

    def message(self, db: str) -> str:
        """One line for the end of ``rcx run``."""
        head = "every evaluation failed" if self.all_failed else f"{self.failed} of {self.total} evaluations failed"
        if self.all_failed and self.total != self.failed:
            head += f" ({self.failed} failed, {self.total - self.failed} invalid)"
        return (f"{head}; most common error ({self.common_count}x): {self.common}; "
                f"tracebacks: rcx results {db} --errors")


def summarize(evaluations: Iterable[Mapping[str, Any]]) -> FailureSummary:
    """Summarise store rows (``Store.evaluations``); rows still ``running`` are left out."""
    rows = [e for e in evaluations if e["status"] != "running"]
    failed = [e for e in rows if e["status"] == "failed"]
    errors = Counter((e.get("error") or "unknown error").splitlines()[0] for e in failed)
    common, count = errors.most_common(1)[0] if errors else ("", 0)
    results = sum(e["status"] not in NOT_RESULTS for e in rows)
    return FailureSummary(len(rows), len(failed), common, count, results)


def failure_report(evaluations: Iterable[Mapping[str, Any]]) -> str:
    """The failed evaluations, each with its error and stored traceback, as text."""
    blocks = []
    for e in evaluations:
        if e["status"] != "failed":
            continue
        lines = [f"== {e['arch']} / {e['evaluator']}: {e.get('error') or 'unknown error'}"]
        tb = (e.get("extra") or {}).get("traceback")
        lines.append(tb.rstrip() if tb else "(no traceback stored: the runner recorded this failure itself)")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)
