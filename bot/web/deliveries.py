"""Deliveries page: filter by status, channel and date; failed and uncertain first."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from aiohttp import web

from bot.schedule.posting import x_posts_today
from bot.store import DeliveryStatus
from bot.store.dashboard import find_deliveries
from bot.store.posts import delivery_counts
from bot.web.context import dashboard_of
from bot.web.templating import page

routes = web.RouteTableDef()


def _day(value: str, zone: object) -> datetime | None:
    try:
        day = date.fromisoformat(value)
    except ValueError:
        return None
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)  # type: ignore[arg-type]


@routes.get("/deliveries")
async def deliveries(request: web.Request) -> web.Response:
    core = dashboard_of(request).core
    statuses = [str(s) for s in DeliveryStatus]
    status = request.query.get("status", "")
    channel = request.query.get("channel", "")
    day = request.query.get("date", "")[:10]
    error = ""
    since = _day(day, core.settings.zone) if day else None
    if day and since is None:
        error = f"date {day!r} is not a date like 2026-12-01"
    rows = find_deliveries(
        core.store,
        status=status if status in statuses else None,
        channel=channel if channel in core.settings.channels else None,
        since=since,
        until=since + timedelta(days=1) if since else None,
    )
    return page(
        request,
        "deliveries.html",
        status=400 if error else 200,
        error=error,
        rows=rows,
        statuses=statuses,
        channels=list(core.settings.channels),
        query={"status": status, "channel": channel, "date": day},
        counts=sorted(delivery_counts(core.store).items()),
        x_today=x_posts_today(core.settings, core.store, core.clock),
    )
