"""One architecture's detail: layers, cost, and per evaluator its status, metrics, trials, error
and, for training evaluators, the learning curve (a plot of training loss and validation
accuracy per epoch, as ``rcx results DB --curves ARCH`` draws it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich import box
from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from rcx.core.reader import StoreReader
from rcx.plugins import Registry, UnknownName
from rcx.termtable import format_value
from rcx.tui.widgets.curve import curve_text
from rcx.tui.widgets.footer import KeyFooter


def load_detail(path: Path, run_id: int | None, arch: str, registry: Registry) -> dict[str, Any]:
    """Read everything the detail shows (runs in a worker thread)."""
    detail = StoreReader(path).detail(run_id, arch)
    run, candidate, evaluations, curves = detail.run, detail.candidate, detail.evaluations, detail.curves
    layers: Any = None
    space_opts = dict(run.plan.get("space", {}))
    try:
        space = registry.get("space", space_opts.pop("name"))(**space_opts)
        info = space.describe(space.from_id(arch), tuple(run.dataset["shape"]))
        layers = info.layers
    except Exception as exc:  # the space's plugin is not installed here, or the id does not parse
        layers = f"layers unavailable: {exc}"
    units: dict[str, dict[str, str]] = {}  # instance -> metric -> declared unit
    for instance, table in (run.plan.get("evaluators") or {}).items():
        try:
            declared = registry.get("evaluator", table.get("evaluator", instance)).metrics
            units[instance] = {m.name: m.unit for m in declared}
        except UnknownName:  # its plugin is not installed here: numbers by the general rule
            pass
    return {"candidate": candidate, "evaluations": evaluations, "layers": layers, "curves": curves, "units": units}


class DetailLoaded(Message):
    def __init__(self, arch: str, data: dict[str, Any]) -> None:
        super().__init__()
        self.arch, self.data = arch, data


def _layers_table(layers: Any) -> Any:
    if isinstance(layers, str):
        return Text(layers, style="yellow")
    # No column rules, kernel/stride/dilation/padding in one column: the table fits 80 columns.
    t = Table(title="layers", title_justify="left", expand=False, header_style="bold", box=box.SIMPLE_HEAD,
              padding=(0, 1), pad_edge=False)
    for col in ("#", "layer", "channels", "k/s/d/pad", "out (C,H,W)", "params", "MACs"):
        t.add_column(col, justify="left" if col == "layer" else "right", no_wrap=True)
    for i, layer in enumerate(layers, 1):
        ch = f"{layer.in_channels}->{layer.out_channels}" if layer.in_channels is not None else ""
        ksdp = "/".join(format_value(v) if v is not None else "-"
                        for v in (layer.kernel, layer.stride, layer.dilation, layer.padding))
        t.add_row(str(i), layer.kind, ch, ksdp, "x".join(map(str, layer.out_shape)), format_value(layer.params),
                  format_value(layer.flops))
    return t


CURVE_WIDTH = 76
"""Columns of a learning-curve plot in the detail dialog before it has a size."""


def _curve(evaluator: str, points: list[dict[str, Any]], width: int = CURVE_WIDTH) -> Any:
    """The learning-curve plot of one evaluation, ``width`` columns wide (plain text: the dialog
    has its own colours)."""
    return curve_text(evaluator, points, width, 16)


def _evaluation(e: dict[str, Any], curve: list[dict[str, Any]] | None = None, width: int = CURVE_WIDTH,
                units: dict[str, str] | None = None) -> Any:
    """One evaluation's status, metrics (at their declared ``units``: ``epochs`` reads ``1``),
    trials, learning curve and error."""
    units = units or {}
    status_style = {"done": "green", "screened": "yellow", "failed": "bold red", "invalid": "red"}.get(e["status"], "")
    parts: list[Any] = [Text.assemble((f"{e['evaluator']}: ", "bold"), (e["status"], status_style),
                                      f"   seed {e['seed']}" if e.get("seed") is not None else "",
                                      f"   {e['seconds']:.2f} s" if e.get("seconds") else "",
                                      f"   CPU {e['cpu_s']:.2f} s" if e.get("cpu_s") is not None else "")]
    if e["metrics"]:
        m = Table(show_header=False, box=None, padding=(0, 1))
        for k, v in e["metrics"].items():
            m.add_row(k, format_value(v, units.get(k)))
        parts.append(m)
    if e["trials"]:
        keys = list(dict.fromkeys(k for t in e["trials"] for k in t))
        t = Table(title="trials", title_justify="left", header_style="bold")
        for k in keys:
            t.add_column(k, justify="right")
        for trial in e["trials"]:
            t.add_row(*(format_value(trial.get(k), units.get(k)) for k in keys))
        parts.append(t)
    if curve:
        parts.append(_curve(e["evaluator"], curve, width))
    if e["error"]:
        parts.append(Text(e["error"], style="red"))
    if e["extra"].get("traceback"):
        parts.append(Text(e["extra"]["traceback"], style="dim"))
    return Group(*parts, Text(""))


class DetailScreen(ModalScreen[None]):
    """The detail of one architecture; filled when the App's worker has read it. While the App's
    own run streams learning curves of this architecture (the App's ``live_curves``), its curves
    grow here, checked twice a second."""

    BINDINGS = [Binding("escape,q", "dismiss", "Close")]
    LIVE_INTERVAL = 0.5

    def __init__(self, arch: str) -> None:
        super().__init__()
        self.arch = arch
        self.shown: Any = None  # the renderable shown once loaded
        self.data: dict[str, Any] | None = None  # what the worker read
        self._live_version = -1

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog detail"):
            yield Label(f"{self.arch}   (escape closes)", classes="dialog-prompt")
            with VerticalScroll():
                yield Static("loading...", id="detail-body")
        yield KeyFooter()  # its own keys: the Results screen's footer below listed keys that do nothing here

    def on_mount(self) -> None:
        self.set_interval(self.LIVE_INTERVAL, self.pull_live)

    def on_resize(self) -> None:
        if self.data is not None:  # the curves are drawn at the dialog's width
            self.pull_live(force=True)

    def curve_width(self) -> int:
        """Columns a curve may take: the dialog's scrolling body less its scrollbar (which
        appears once the body is drawn), so that a plot never wraps."""
        scroll = self.query_one(VerticalScroll)
        width = scroll.size.width - scroll.styles.scrollbar_size_vertical
        return max(40, width) if scroll.size.width else CURVE_WIDTH

    def is_settled(self) -> bool:
        return self.shown is not None

    def on_detail_loaded(self, message: DetailLoaded) -> None:
        self.data = message.data
        self._live_version = -1
        self.pull_live(force=True)

    def pull_live(self, force: bool = False) -> None:
        """Show the App's live curves of this architecture when they changed (or ``force``)."""
        live = getattr(self.app, "live_curves", None)
        version = live.version if live is not None else 0
        if self.data is None or (version == self._live_version and not force):
            return
        self._live_version = version
        self._show(self.data, live.of(self.arch) if live is not None else {})

    def _show(self, data: dict[str, Any], live: dict[str, list[dict[str, Any]]]) -> None:
        body = self.query_one("#detail-body", Static)
        if "error" in data:
            self.shown = Text(data["error"], style="red")
            body.update(self.shown)
            return
        parts: list[Any] = []
        c = data["candidate"]
        if c is not None:
            summary = Table(show_header=False, box=None, padding=(0, 1))
            for k, v in {**c["params"], **c["info"]}.items():
                summary.add_row(k, format_value(v))
            if not c["valid"]:
                summary.add_row("invalid", Text(c["reason"], style="red"))
            parts.append(summary)
        parts.append(_layers_table(data["layers"]))
        parts.append(Text(""))
        curves = merge_curves(data.get("curves", {}), live)
        evaluations, before = data["evaluations"], len(parts)
        width = self.curve_width()
        units = data.get("units", {})
        parts += [_evaluation(e, curves.get(e["evaluator"]), width, units.get(e["evaluator"])) for e in evaluations]
        listed = {e["evaluator"] for e in evaluations}
        parts += [Group(Text.assemble((f"{name}: ", "bold"), ("running", "cyan")), _curve(name, pts, width), Text(""))
                  for name, pts in curves.items() if name not in listed and pts]
        if len(parts) == before:
            parts.append(Text("not evaluated yet", style="dim"))
        self.shown = Group(*parts)
        body.update(self.shown)


def merge_curves(stored: dict[str, list[dict[str, Any]]], live: dict[str, list[dict[str, Any]]]
                 ) -> dict[str, list[dict[str, Any]]]:
    """Per evaluator, the longer of the stored curve (read once) and the live one (growing)."""
    out = dict(stored)
    for name, points in live.items():
        if len(points) >= len(out.get(name, ())):
            out[name] = points
    return out
