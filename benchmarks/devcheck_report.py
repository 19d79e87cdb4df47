"""The device check's results: one record per part, the summary table, the JSON and Markdown reports.

A part ends ``PASS`` (it ran and its checks held), ``FAIL`` (with a one-line reason) or
``SKIP`` (not asked for, or no time left). Performance targets are reported beside the figures
(``met`` / ``MISSED``), not as failures: a slow figure is a finding to record, not a broken part.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

STATUSES = ("PASS", "FAIL", "SKIP")


@dataclass
class PartResult:
    """The outcome of one part. ``figures``: name -> value (numbers or short text), in the order
    they are shown; ``target``: '' (none), 'met' or 'MISSED' plus what the target is."""

    name: str
    status: str
    seconds: float = 0.0
    reason: str = ""
    figures: dict[str, Any] = field(default_factory=dict)
    target: str = ""

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status {self.status!r}: expected one of {', '.join(STATUSES)}")
        self.reason = one_line(self.reason)


def one_line(text: str, limit: int = 160) -> str:
    """The last non-empty line of ``text`` (where an error message ends), cut to ``limit`` characters."""
    lines = [ln.strip() for ln in str(text).splitlines() if ln.strip()]
    line = lines[-1] if lines else ""
    return line if len(line) <= limit else line[: limit - 3] + "..."


def format_value(value: Any) -> str:
    """Numbers with 3 significant digits (integers whole), anything else as text."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if value == 0 or abs(value) >= 100:
        return f"{value:.0f}"
    return f"{value:.3g}"


def format_figures(figures: dict[str, Any]) -> str:
    return ", ".join(f"{k} {format_value(v)}" for k, v in figures.items())


def summary_table(results: list[PartResult], width: int = 100) -> str:
    """A plain-text table: part, status, seconds, figures (or the failure's reason), target."""
    rows = [("part", "status", "time", "figures / reason", "target")]
    for r in results:
        detail = r.reason if r.status != "PASS" and r.reason else format_figures(r.figures)
        if r.status == "FAIL" and r.figures:
            detail = f"{r.reason} [{format_figures(r.figures)}]"
        rows.append((r.name, r.status, f"{r.seconds:.0f}s", detail, r.target))
    w = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = []
    for i, row in enumerate(rows):
        head = f"{row[0]:<{w[0]}}  {row[1]:<{w[1]}}  {row[2]:>{w[2]}}  "
        lines.append((head + _wrap(row[3], width - len(head), len(head))).rstrip())
        if row[4] and i:
            lines.append(" " * len(head) + f"target: {row[4]}")
        if i == 0:
            lines.append("-" * min(width, max(len(ln) for ln in lines)))
    counts = {s: sum(r.status == s for r in results) for s in STATUSES}
    lines.append(f"{counts['PASS']} passed, {counts['FAIL']} failed, {counts['SKIP']} skipped")
    return "\n".join(lines)


def _wrap(text: str, width: int, indent: int) -> str:
    """``text`` broken at ', ' into lines of at most ``width`` characters, continued at ``indent``."""
    width = max(width, 30)
    out, line = [], ""
    for piece in text.split(", "):
        candidate = f"{line}, {piece}" if line else piece
        if line and len(candidate) > width:
            out.append(line + ",")
            line = piece
        else:
            line = candidate
    out.append(line)
    return ("\n" + " " * indent).join(out)


def markdown(results: list[PartResult], meta: dict[str, Any]) -> str:
    """A Markdown section for BENCHMARKS.md: the machine, then one table row per part."""
    lines = [f"### Device check, {meta.get('date', '')}", ""]
    machine = ", ".join(f"{k} {v}" for k, v in meta.items() if k not in ("date", "argv"))
    if machine:
        lines += [f"Machine: {machine}.", ""]
    lines += ["| part | status | seconds | figures | target |", "| --- | --- | ---: | --- | --- |"]
    for r in results:
        detail = format_figures(r.figures)
        if r.status != "PASS" and r.reason:
            detail = f"{r.status}: {r.reason}" + (f" ({detail})" if detail else "")
        lines.append(f"| {r.name} | {r.status} | {r.seconds:.0f} | {_md(detail)} | {_md(r.target)} |")
    return "\n".join(lines) + "\n"


def _md(text: str) -> str:
    return text.replace("|", "\\|")


def write_reports(results: list[PartResult], meta: dict[str, Any], out_dir: Path) -> list[Path]:
    """``device_check.json`` and ``device_check.md`` in ``out_dir``; returns their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    js, md = out_dir / "device_check.json", out_dir / "device_check.md"
    js.write_text(json.dumps({"meta": meta, "parts": [asdict(r) for r in results]}, indent=2, default=str) + "\n")
    md.write_text(markdown(results, meta))
    return [js, md]


def load_results(path: Path) -> tuple[list[PartResult], dict[str, Any]]:
    """The parts and meta of a ``device_check.json`` (to redraw the table or the Markdown)."""
    data = json.loads(path.read_text())
    return [PartResult(**p) for p in data["parts"]], data["meta"]
