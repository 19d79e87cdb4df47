"""A chart of labelled points with interval bars over a log-scale x axis, drawn in the terminal
(plotext) or saved as an SVG or PNG image.

``rcx analyze cost`` draws each score's Spearman (y, with its interval) against its
core-seconds per architecture (x, log scale). The saved image is laid out once
(:func:`layout`: lines, dots and labels in pixels) and written as SVG (plain text, any
browser) or PNG (Pillow, already a dependency of rcx for image folders), so both formats show
the same picture without a plotting library: plotext's own ``savefig`` writes text or HTML
only, and matplotlib is not a dependency.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

MARKS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
"""The terminal chart's point markers, in the points' order (then ``*``)."""
FORMATS = (".svg", ".png")
"""Image formats :func:`save` writes (by the file's suffix)."""

CHAR_W = 7.0  # approximate pixel width of a character of the 12 px labels (label placement)


@dataclass(frozen=True)
class Point:
    """One labelled point: ``x`` in data units (> 0 for a log axis; 0 is drawn at the axis'
    floor), ``y`` with its interval ``lo``..``hi`` (NaN: no bar); ``muted`` draws it grey (a
    baseline)."""

    label: str
    x: float
    y: float
    lo: float = math.nan
    hi: float = math.nan
    muted: bool = False


@dataclass(frozen=True)
class Line:
    x1: float
    y1: float
    x2: float
    y2: float
    colour: str
    width: float = 1.0


@dataclass(frozen=True)
class Dot:
    x: float
    y: float
    r: float
    colour: str


@dataclass(frozen=True)
class Label:
    """Text at (x, y) (its baseline); ``anchor``: ``start``, ``middle`` or ``end``; ``rotate``:
    -90 for a vertical axis title."""

    x: float
    y: float
    text: str
    size: int = 12
    anchor: str = "start"
    rotate: int = 0


Shape = Line | Dot | Label


def drawable(points: Sequence[Point]) -> list[Point]:
    """The points that can be placed: finite ``x`` >= 0 and finite ``y``."""
    return [p for p in points if math.isfinite(p.x) and p.x >= 0 and math.isfinite(p.y)]


def log_floor(points: Sequence[Point]) -> float:
    """Where ``x = 0`` is drawn on the log axis: the decade below the smallest positive ``x``'s
    (a tick of the axis)."""
    smallest = min([p.x for p in points if p.x > 0] or [1e-2])
    return 10.0 ** (math.floor(math.log10(smallest)) - 1)


def log_x(x: float, floor: float) -> float:
    """log10 of ``x``, ``floor`` for anything smaller (0 included)."""
    return math.log10(max(x, floor))


def tick_label(decade: int) -> str:
    """``0.01``, ``1``, ``100``, ``1e+04``: a decade as the axes print it."""
    return f"{10.0 ** decade:g}"


def layout(points: Sequence[Point], title: str, x_title: str, y_title: str, width: int = 900,
           height: int = 560, y_span: tuple[float, float] = (0.0, 1.0)) -> list[Shape]:
    """The chart in pixels (origin top left): grid, axes' ticks and titles, one bar, dot and
    label per drawable point. Labels that would overlap an earlier one move down a line. The
    y axis (ticks every 0.1) covers the bars and ``y_span`` (Spearman's 0..1 by default)."""
    shown = drawable(points)
    floor = log_floor(shown)
    xs = [log_x(p.x, floor) for p in shown] or [0.0]
    lows = [p.lo if math.isfinite(p.lo) else p.y for p in shown] or [0.0]
    highs = [p.hi if math.isfinite(p.hi) else p.y for p in shown] or [1.0]
    x0, x1 = math.floor(min(xs)), math.ceil(max(xs))
    x1 += 1 if x1 == x0 else 0
    y0, y1 = min(y_span[0], math.floor(min(lows) * 10) / 10), max(y_span[1], math.ceil(max(highs) * 10) / 10)
    y1 += 0.1 if y1 <= y0 else 0.0
    left, right, top, bottom = 70, 30, 50, 60
    right += int(max([len(p.label) for p in shown] or [0]) * CHAR_W * 0.6)  # room for the rightmost labels

    def px(x: float) -> float:
        return left + (x - x0) / (x1 - x0) * (width - left - right)

    def py(y: float) -> float:
        return top + (y1 - y) / (y1 - y0) * (height - top - bottom)

    out: list[Shape] = [Label(width / 2, 24, title, 15, "middle")]
    for k in range(x0, x1 + 1):
        out += [Line(px(k), top, px(k), height - bottom, "#dddddd"),
                Label(px(k), height - bottom + 18, tick_label(k), anchor="middle")]
    for k in range(int(round((y1 - y0) / 0.1)) + 1):
        y = y0 + k * 0.1
        out += [Line(left, py(y), width - right, py(y), "#eeeeee"),
                Label(left - 8, py(y) + 4, f"{y:.1f}", anchor="end")]
    zero = f"; 0 at {tick_label(round(math.log10(floor)))}" if any(p.x < floor for p in shown) else ""
    out += [Label(width / 2, height - 15, f"{x_title} (log scale{zero})", anchor="middle"),
            Label(18, height / 2, y_title, anchor="middle", rotate=-90)]
    dots = [(px(x), py(p.y)) for p, x in zip(shown, xs)]
    placed: list[tuple[float, float, float]] = []  # (left x, baseline y, width) of the labels so far
    labels: list[Shape] = []
    for p, x in sorted(zip(shown, xs), key=lambda t: (t[1], -t[0].y)):
        colour = "#888888" if p.muted else "#1f77b4"
        dx, dy = px(x), py(p.y)
        if math.isfinite(p.lo) and math.isfinite(p.hi):
            out.append(Line(dx, py(p.lo), dx, py(p.hi), colour, 2))
        out.append(Dot(dx, dy, 4, colour))
        lw = len(p.label) * CHAR_W
        spot = _free_spot(dx, dy, lw, placed, dots)
        placed.append((spot[0], spot[1], lw))
        if abs(spot[1] - (dy - 6)) > 13:  # pushed away from its dot: a leader line
            labels.append(Line(dx, dy, spot[0], spot[1] - 4, "#bbbbbb"))
        labels.append(Label(spot[0], spot[1], p.label))
    return out + labels


def _free_spot(x: float, y: float, width: float, placed: Sequence[tuple[float, float, float]],
               dots: Sequence[tuple[float, float]]) -> tuple[float, float]:
    """Where a label of ``width`` px for the dot at (x, y) goes: the first of right-above,
    right-below, left-above, left-below that overlaps no placed label and no other dot, else
    right of the dot, moved down a line at a time until free (left x, baseline y)."""

    def free(lx: float, ly: float) -> bool:
        clear = not any(abs(ly - oy) < 13 and lx < ox + ow and ox < lx + width for ox, oy, ow in placed)
        return clear and not any(lx - 3 <= ox <= lx + width + 3 and ly - 14 <= oy <= ly + 3 for ox, oy in dots
                                 if (ox, oy) != (x, y))

    for lx, ly in ((x + 7, y - 6), (x + 7, y + 15), (x - 7 - width, y - 6), (x - 7 - width, y + 15)):
        if free(lx, ly):
            return lx, ly
    ly = y - 6
    while not free(x + 7, ly) and ly < y + 400:
        ly += 13
    return x + 7, ly


def svg(shapes: Sequence[Shape], width: int = 900, height: int = 560) -> str:
    """The shapes as an SVG document (white background, sans-serif text)."""
    from xml.sax.saxutils import escape

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" '
           f'font-size="12"><rect width="100%" height="100%" fill="white"/>']
    for s in shapes:
        if isinstance(s, Line):
            out.append(f'<line x1="{s.x1:.1f}" y1="{s.y1:.1f}" x2="{s.x2:.1f}" y2="{s.y2:.1f}" stroke="{s.colour}" '
                       f'stroke-width="{s.width:g}"/>')
        elif isinstance(s, Dot):
            out.append(f'<circle cx="{s.x:.1f}" cy="{s.y:.1f}" r="{s.r:g}" fill="{s.colour}"/>')
        else:
            turn = f' transform="rotate({s.rotate} {s.x:.1f} {s.y:.1f})"' if s.rotate else ""
            out.append(f'<text x="{s.x:.1f}" y="{s.y:.1f}" text-anchor="{s.anchor}" font-size="{s.size}"{turn}>'
                       f'{escape(s.text)}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def png(shapes: Sequence[Shape], path: Path, width: int = 900, height: int = 560, title: str = "",
        description: str = "") -> None:
    """The shapes as a PNG image at ``path`` (Pillow; its built-in font), with ``title`` and
    ``description`` as the PNG's text chunks (what the picture shows, for search and tests)."""
    from PIL import Image, ImageDraw, ImageFont
    from PIL.PngImagePlugin import PngInfo

    def font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
        try:
            return ImageFont.load_default(size=size)  # scalable with Pillow >= 10.1
        except TypeError:
            return ImageFont.load_default()

    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    for s in shapes:
        if isinstance(s, Line):
            draw.line([(s.x1, s.y1), (s.x2, s.y2)], fill=s.colour, width=max(1, round(s.width)))
        elif isinstance(s, Dot):
            draw.ellipse([s.x - s.r, s.y - s.r, s.x + s.r, s.y + s.r], fill=s.colour)
        else:
            f = font(s.size)
            left, top, right, bottom = draw.textbbox((0, 0), s.text, font=f)
            w, h = right - left, bottom - top
            shift = {"start": 0.0, "middle": w / 2, "end": float(w)}[s.anchor]
            if s.rotate:  # draw on its own strip, turn it, paste it centred on (x, y)
                strip = Image.new("RGB", (round(w) + 2, round(h + top) + 2), "white")
                ImageDraw.Draw(strip).text((1, 1), s.text, fill="black", font=f)
                strip = strip.rotate(-s.rotate, expand=True)  # PIL turns counter-clockwise, SVG clockwise
                image.paste(strip, (round(s.x - strip.width / 2), round(s.y - strip.height / 2)))
            else:
                draw.text((s.x - shift, s.y - bottom), s.text, fill="black", font=f)
    info = PngInfo()
    info.add_text("Title", title)
    info.add_text("Description", description)
    image.save(path, format="PNG", pnginfo=info)


def save(points: Sequence[Point], path: Path, title: str, x_title: str, y_title: str,
         y_span: tuple[float, float] = (0.0, 1.0)) -> None:
    """Write the chart to ``path`` as SVG or PNG, by its suffix (ValueError for another); the y
    axis covers ``y_span`` (:func:`layout`)."""
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise ValueError(f"{path}: the chart is saved as {' or '.join(FORMATS)} (by the file's suffix)")
    shapes = layout(points, title, x_title, y_title, y_span=y_span)
    if suffix == ".svg":
        path.write_text(svg(shapes))
    else:
        described = "; ".join(f"{p.label}: x {p.x:g}, y {p.y:g}" for p in drawable(points))
        png(shapes, path, title=title, description=f"{x_title} (x) against {y_title} (y): {described}")


def terminal(points: Sequence[Point], title: str, x_title: str, y_title: str, width: int = 100,
             height: int = 28) -> str:
    """The chart as plotext draws it in a terminal (ANSI colours; ``plotext.uncolorize`` for
    plain text): x log10 with decade ticks, interval bars, each point drawn as its letter
    (:data:`MARKS`), and under the chart the legend of the letters (names do not fit beside the
    points of a character grid)."""
    import plotext as plt  # lazily: only when asked to draw

    shown = drawable(points)
    floor = log_floor(shown)
    plt.clear_figure()
    plt.theme("clear")
    marks = [MARKS[i] if i < len(MARKS) else "*" for i in range(len(shown))]
    for p in shown:
        x = log_x(p.x, floor)
        if math.isfinite(p.lo) and math.isfinite(p.hi):
            plt.plot([x, x], [p.lo, p.hi], marker="│", color="gray")
    for p, mark in zip(shown, marks):  # the points over the bars
        plt.scatter([log_x(p.x, floor)], [p.y], marker=mark, color="gray" if p.muted else "blue")
    if shown:  # decade ticks
        xs = [log_x(p.x, floor) for p in shown]
        lo, hi = math.floor(min(xs)), math.ceil(max(xs))
        hi += 1 if hi == lo else 0
        plt.xticks(list(range(lo, hi + 1)), [tick_label(k) for k in range(lo, hi + 1)])
        plt.xlim(lo - 0.1, hi + 0.1)
    zero = f"; 0 at {tick_label(round(math.log10(floor)))}" if any(p.x < floor for p in shown) else ""
    plt.xlabel(f"{x_title} (log scale{zero})")
    plt.ylabel(y_title)
    plt.title(title)
    plt.plotsize(width, height)
    text = plt.build()
    plt.clear_figure()
    lines = [""]
    for p, mark in zip(shown, marks):
        item = f"{mark} {p.label}"
        lines[-1] += ("   " if lines[-1] else "") + item if len(lines[-1]) + 3 + len(item) <= width else ""
        if not lines[-1].endswith(item):
            lines.append(item)
    return text + "\n" + "\n".join(lines)
