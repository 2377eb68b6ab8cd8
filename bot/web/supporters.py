"""Supporters page: aggregates only (no page lists a person), with a pygal chart over time."""

from __future__ import annotations

import sys
from datetime import date, timedelta

import pygal
from aiohttp import web

from bot.store.dashboard import action_totals, reminder_settings, subscriber_days
from bot.store.subscribers import subscriber_stats
from bot.web.context import dashboard_of
from bot.web.templating import page

# pygal appends an import hook for its map plugins (unused here) that only has the old
# find_module API, so every later import lookup warns (ImportWarning); take it out again.
sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, pygal.PluginImportFixer)]
routes = web.RouteTableDef()
DAYS = 30
# The chart is an image: its own styles may be inline, scripts never run.
CHART_CSP = "default-src 'none'; style-src 'unsafe-inline'"


def series(
    joined: dict[str, int], stopped: dict[str, int], today: date, days: int = DAYS
) -> tuple[list[str], list[int], list[int]]:
    """Active and stopped supporters at the end of each of the last ``days`` days."""
    labels: list[str] = []
    active: list[int] = []
    gone: list[int] = []
    first = today - timedelta(days=days - 1)
    total_in = sum(n for day, n in joined.items() if day < first.isoformat())
    total_out = sum(n for day, n in stopped.items() if day < first.isoformat())
    for offset in range(days):
        day = (first + timedelta(days=offset)).isoformat()
        total_in += joined.get(day, 0)
        total_out += stopped.get(day, 0)
        labels.append(day[5:])
        active.append(total_in - total_out)
        gone.append(total_out)
    return labels, active, gone


@routes.get("/supporters")
async def supporters(request: web.Request) -> web.Response:
    core = dashboard_of(request).core
    stats = subscriber_stats(core.store)
    return page(
        request,
        "supporters.html",
        stats=stats,
        reminders=reminder_settings(core.store),
        actions=action_totals(core.store),
    )


@routes.get("/supporters/chart.svg")
async def chart(request: web.Request) -> web.Response:
    """Active and stopped supporters over the last 30 days, drawn by pygal as SVG."""
    core = dashboard_of(request).core
    joined, stopped = subscriber_days(core.store)
    today = core.clock.now().date()
    labels, active, gone = series(joined, stopped, today)
    drawing = pygal.Line(
        js=[],  # no script from a CDN: the chart is a plain image
        width=800,
        height=300,
        x_label_rotation=45,
        show_minor_x_labels=False,
        title="Supporters, last 30 days (UTC)",
    )
    drawing.x_labels = labels
    drawing.x_labels_major = labels[::7]
    drawing.add("active", active)
    drawing.add("stopped", gone)
    return web.Response(
        body=drawing.render(),
        content_type="image/svg+xml",
        headers={"Content-Security-Policy": CHART_CSP, "Cache-Control": "no-store"},
    )
