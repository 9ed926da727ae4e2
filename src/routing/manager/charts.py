"""The manager's charts, drawn with matplotlib (Agg) as inline SVG: no script, no network.

Each chart is a :class:`Chart`: an id, a title, and either the SVG text or, when there is nothing
to draw, a note saying so (a blank chart is never drawn). The SVG is deterministic: a fixed hash
salt, text kept as text in a fixed font family (so the browser's search finds a district's name),
no date in the metadata, and element ids prefixed with the chart's id so that several charts can
live in one HTML document.
"""

from __future__ import annotations

import io
import re
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from nosology.pathway import FrozenModel
from routing.manager.figures import CountRow, ManagerFigures, UtilisationMap

__all__ = ["MAX_ROWS", "Chart", "build_charts"]

MAX_ROWS = 30
"""Rows (keys, facilities) a chart shows at most; the tables hold them all."""

_COLOURS = {"met": "#2e7d32", "at_risk": "#f9a825", "missed": "#c62828", "unplanned": "#616161"}
_LABELS = {"met": "met", "at_risk": "at risk", "missed": "missed", "unplanned": "unplanned"}


class Chart(FrozenModel):
    """One chart of the report: its SVG, or a note when it has no data."""

    id: str
    title: str
    svg: str | None = None
    note: str | None = None


@contextmanager
def _figure(width: float, height: float) -> Iterator[Any]:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    with matplotlib.rc_context(
        {
            "svg.hashsalt": "routing-manager",
            "svg.fonttype": "none",
            "font.family": "DejaVu Sans",
            "font.size": 9.0,
            "axes.spines.top": False,
            "axes.spines.right": False,
        }
    ):
        fig = plt.figure(figsize=(width, height))
        try:
            yield fig
        finally:
            plt.close(fig)


def _svg(fig: Any, chart_id: str) -> str:
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", metadata={"Date": None}, bbox_inches="tight")
    text = buffer.getvalue()
    text = text[text.index("<svg") :]
    prefix = f"{chart_id}-"
    text = re.sub(r'\bid="([^"]+)"', lambda m: f'id="{prefix}{m.group(1)}"', text)
    text = re.sub(r"url\(#([^)]+)\)", lambda m: f"url(#{prefix}{m.group(1)})", text)
    return re.sub(r'href="#([^"]+)"', lambda m: f'href="#{prefix}{m.group(1)}"', text)


def _rows_shown(rows: Sequence[CountRow]) -> list[CountRow]:
    worst = sorted(rows, key=lambda r: (-(r.missed + r.unplanned), -r.total, r.key))[:MAX_ROWS]
    return sorted(worst, key=lambda r: r.key)


def _compliance(
    chart_id: str, title: str, rows: Sequence[CountRow], where: str = "the batch"
) -> Chart:
    if not rows:
        return Chart(id=chart_id, title=title, note=f"no data: no patient in {where}")
    shown = _rows_shown(rows)
    with _figure(7.5, 0.9 + 0.28 * len(shown)) as fig:
        ax = fig.add_subplot()
        left = [0] * len(shown)
        labels = [r.key for r in shown]
        for outcome, colour in _COLOURS.items():
            values = [getattr(r, outcome) for r in shown]
            ax.barh(labels, values, left=left, color=colour, label=_LABELS[outcome])
            left = [a + b for a, b in zip(left, values, strict=True)]
        ax.invert_yaxis()
        ax.set_xlabel("patients" if chart_id != "compliance-deadline" else "deadlines")
        ax.legend(loc="lower right", fontsize=8, ncols=4, bbox_to_anchor=(1.0, 1.0))
        svg = _svg(fig, chart_id)
    note = None if len(shown) == len(rows) else f"{len(shown)} of {len(rows)} shown (most missed)"
    return Chart(id=chart_id, title=title, svg=svg, note=note)


def _completion(figures: ManagerFigures) -> Chart:
    title = "Days to completion: " + ", ".join(s.label for s in figures.completion)
    if not any(s.days for s in figures.completion):
        return Chart(id="completion", title=title, note="no data: no patient has a route")
    with _figure(7.5, 3.2) as fig:
        ax = fig.add_subplot()
        for series, style in zip(figures.completion, ("-", "--", ":"), strict=False):
            if not series.days:
                continue
            n = len(series.days)
            ax.step(
                series.days,
                [(i + 1) / n for i in range(n)],
                style,
                where="post",
                label=f"{series.label} (median {series.median:.1f})",
            )
        ax.set_xlabel("days from referral to the end of the last stage")
        ax.set_ylabel("share of patients planned")
        ax.set_ylim(0, 1.02)
        ax.legend(loc="lower right", fontsize=8)
        svg = _svg(fig, "completion")
    return Chart(id="completion", title=title, svg=svg)


def _utilisation(index: int, heat: UtilisationMap) -> Chart:
    chart_id = f"utilisation-{index}"
    title = f"Utilisation: {heat.service}, facility × day"
    rows = list(range(len(heat.facilities)))
    note = None
    if len(rows) > MAX_ROWS:
        busiest = sorted(rows, key=lambda i: -sum(x or 0.0 for x in heat.fill[i]))[:MAX_ROWS]
        rows = sorted(busiest)
        note = f"{MAX_ROWS} of {len(heat.facilities)} facilities shown (the busiest)"
    import numpy as np

    data = np.array([[np.nan if x is None else x for x in heat.fill[i]] for i in rows])
    with _figure(7.5, 1.2 + 0.26 * len(rows)) as fig:
        ax = fig.add_subplot()
        image = ax.imshow(data, aspect="auto", cmap="viridis", vmin=0.0, vmax=1.0)
        ax.set_yticks(range(len(rows)), [heat.facilities[i] for i in rows])
        step = max(1, len(heat.days) // 12)
        ticks = list(range(0, len(heat.days), step))
        ax.set_xticks(ticks, [heat.days[i][5:] for i in ticks], rotation=45, ha="right")
        fig.colorbar(image, ax=ax, label="places taken / offered")
        svg = _svg(fig, chart_id)
    return Chart(id=chart_id, title=title, svg=svg, note=note)


def _bottlenecks(figures: ManagerFigures) -> Chart:
    title = "Bottlenecks: deadline misses caused, by service and facility"
    rows = figures.bottlenecks
    if not rows:
        return Chart(id="bottlenecks", title=title, note="no data: no deadline is missed")
    with _figure(7.5, 0.9 + 0.28 * len(rows)) as fig:
        ax = fig.add_subplot()
        ax.barh(
            [f"{r.kind} {r.id}" for r in rows],
            [r.misses for r in rows],
            color=["#6a1b9a" if r.kind == "service" else "#00838f" for r in rows],
        )
        ax.invert_yaxis()
        ax.set_xlabel("deadline misses caused")
        svg = _svg(fig, "bottlenecks")
    return Chart(id="bottlenecks", title=title, svg=svg)


def _gantt(chart_id: str, title: str, bars: Sequence[Any], what: str) -> Chart:
    if not bars:
        return Chart(id=chart_id, title=title, note=f"no data: {what}")
    starts = [datetime.fromisoformat(b.start) for b in bars]
    ends = [datetime.fromisoformat(b.end) for b in bars]
    origin = min(starts)
    span = (max(ends) - origin).total_seconds()
    unit, seconds = ("hours", 3600.0) if span <= 86400 else ("days", 86400.0)
    with _figure(7.5, 0.9 + 0.3 * len(bars)) as fig:
        ax = fig.add_subplot()
        least = span / seconds / 150  # a half-hour visit stays visible over weeks
        for i, bar in enumerate(bars):
            left = (starts[i] - origin).total_seconds() / seconds
            width = max((ends[i] - starts[i]).total_seconds() / seconds, least)
            colour = "#c62828" if bar.critical else "#1565c0"
            ax.barh(i, width, left=left, color=colour, height=0.6)
        ax.set_yticks(range(len(bars)), [b.label for b in bars])
        ax.invert_yaxis()
        ax.set_xlabel(f"{unit} after {origin:%Y-%m-%d %H:%M} (red: on the critical chain)")
        svg = _svg(fig, chart_id)
    return Chart(id=chart_id, title=title, svg=svg)


def _trend(figures: ManagerFigures) -> Chart:
    title = "Trend over time: patients by outcome at the end of each day of the journal"
    if not figures.trend:
        note = (
            "no data: the journal has no route event yet"
            if figures.source == "journal"
            else "no data: one batch has no trend (a report over the route journal has one: "
            "routing report --db URL)"
        )
        return Chart(id="trend", title=title, note=note)
    with _figure(7.5, 3.0) as fig:
        ax = fig.add_subplot()
        days = [p.day for p in figures.trend]
        for outcome, colour in _COLOURS.items():
            ax.plot(
                days,
                [getattr(p, outcome) for p in figures.trend],
                marker="o",
                color=colour,
                label=_LABELS[outcome],
            )
        ax.set_ylabel("patients")
        ax.legend(fontsize=8)
        svg = _svg(fig, "trend")
    return Chart(id="trend", title=title, svg=svg)


_PYPLOT = threading.Lock()
"""pyplot keeps global state: one thread draws at a time (the service draws in worker threads)."""


def build_charts(figures: ManagerFigures) -> tuple[Chart, ...]:
    """Every chart of the report, in the order the page shows them (thread-safe)."""
    with _PYPLOT:
        return _build_charts(figures)


def _build_charts(figures: ManagerFigures) -> tuple[Chart, ...]:
    where = "the journal" if figures.source == "journal" else "the batch"
    charts = [
        _compliance("compliance-pathway", "Compliance by pathway", figures.by_pathway, where),
        _compliance("compliance-deadline", "Compliance by deadline", figures.by_deadline, where),
        _compliance(
            "compliance-district", "Compliance by home district", figures.by_district, where
        ),
        _compliance(
            "compliance-facility",
            "Compliance by facility where the route ends",
            figures.by_facility,
            where,
        ),
        _completion(figures),
    ]
    if figures.utilisation:
        charts += [_utilisation(i, m) for i, m in enumerate(figures.utilisation)]
    else:
        charts.append(
            Chart(id="utilisation", title="Utilisation", note=f"no data: {where} has no slot")
        )
    charts.append(_bottlenecks(figures))
    p, f = figures.patient_gantt, figures.facility_gantt
    charts.append(
        _gantt(
            "gantt-patient",
            "Route of patient " + (f"{p.patient_id} (request {p.request_id})" if p else "—"),
            p.bars if p else (),
            "no patient has a route" if p is None else "this patient has no route in the plan",
        )
    )
    charts.append(
        _gantt(
            "gantt-facility",
            "Day of facility " + (f"{f.facility_id} on {f.day}" if f else "—"),
            f.bars if f else (),
            "no facility has a slot" if f is None else "no booking on this day",
        )
    )
    charts.append(_trend(figures))
    return tuple(charts)
