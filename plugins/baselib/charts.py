"""Charts for the quality and evaluation pages, drawn with matplotlib as inline SVG.

Each function returns one ``<svg …>…</svg>`` element (no XML prolog), to be placed in an HTML page
as it is: the page stays a single file that needs no network, and WeasyPrint draws the same SVG in
the PDF. Text stays text (``svg.fonttype = none``) in the page's own font, so Chinese labels use the
reader's CJK font (Noto Sans CJK SC when installed). ``None`` values are gaps.

Shapes: ``labels`` are the x-axis categories (e.g. months ``2026-01``…); ``series`` maps a legend
name to one value per label. Sizes are in inches at 100 dpi (``width`` x ``height``).
"""
from __future__ import annotations

import io
import math

FONT_FAMILY = ["Noto Sans CJK SC", "Noto Sans CJK", "WenQuanYi Zen Hei", "DejaVu Sans", "sans-serif"]


def _figure(width: float, height: float):
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    plt.rcParams.update({"svg.fonttype": "none", "font.family": "sans-serif", "font.sans-serif": FONT_FAMILY,
                         "axes.unicode_minus": False, "svg.hashsalt": "baselib"})
    return plt, plt.subplots(figsize=(width, height), dpi=100)


def _svg(plt, fig) -> str:
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    text = buffer.getvalue()
    return text[text.index("<svg"):]


def line_svg(labels: list[str], series: dict[str, list[float | None]], *, title: str = "", y_label: str = "",
             y_range: tuple[float, float] | None = None, percent: bool = False, width: float = 7.0,
             height: float = 3.0) -> str:
    """One line per series over ``labels``; ``percent``: values are 0..1 shown as %."""
    plt, (fig, ax) = _figure(width, height)
    xs = list(range(len(labels)))
    for name, values in series.items():
        ys = [math.nan if v is None else float(v) * (100 if percent else 1) for v in values]
        ax.plot(xs, ys, marker="o", markersize=3, linewidth=1.5, label=name)
    ax.set_xticks(xs, labels, rotation=45 if len(labels) > 8 else 0, ha="right" if len(labels) > 8 else "center",
                  fontsize=8)
    if y_range is not None:
        ax.set_ylim(y_range[0] * (100 if percent else 1), y_range[1] * (100 if percent else 1))
    ax.set_ylabel(y_label + (" (%)" if percent and "%" not in y_label else ""), fontsize=9)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    if len(series) > 1:
        ax.legend(fontsize=8, loc="best")
    return _svg(plt, fig)


def bar_svg(labels: list[str], series: dict[str, list[float | None]], *, title: str = "", y_label: str = "",
            horizontal: bool = False, percent: bool = False, width: float = 7.0, height: float = 3.0) -> str:
    """Grouped bars: one group per label, one bar per series (horizontal bars for rankings)."""
    plt, (fig, ax) = _figure(width, height)
    count = max(len(series), 1)
    step = 0.8 / count
    positions = list(range(len(labels)))
    for n, (name, values) in enumerate(series.items()):
        ys = [0.0 if v is None else float(v) * (100 if percent else 1) for v in values]
        offsets = [p - 0.4 + step * (n + 0.5) for p in positions]
        (ax.barh if horizontal else ax.bar)(offsets, ys, step * 0.9, label=name)
    if horizontal:
        ax.set_yticks(positions, labels, fontsize=8)
        ax.invert_yaxis()
        ax.set_xlabel(y_label, fontsize=9)
    else:
        ax.set_xticks(positions, labels, rotation=45 if len(labels) > 6 else 0,
                      ha="right" if len(labels) > 6 else "center", fontsize=8)
        ax.set_ylabel(y_label, fontsize=9)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3, axis="x" if horizontal else "y")
    if len(series) > 1:
        ax.legend(fontsize=8, loc="best")
    return _svg(plt, fig)
