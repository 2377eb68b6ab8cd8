"""Broadcasts page: plan (audience per language), confirm, live progress bars, cancel."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from bot.delivery.broadcasts import (
    BroadcastError,
    Progress,
    cancel,
    plan_broadcast,
    progress,
    start_broadcast,
)
from bot.store.audience import ACTIVE_BROADCAST, list_broadcasts
from bot.store.private_outbox import status_counts
from bot.web.auth import actor
from bot.web.context import dashboard_of
from bot.web.forms import FormError, text
from bot.web.templating import page, redirect

routes = web.RouteTableDef()


def progress_json(p: Progress, now_seconds: float | None) -> dict[str, Any]:
    """Counts, share done and the measured rate (messages/s since the broadcast started)."""
    data = p.as_json()
    sent = p.counts.get("sent", 0)
    data["done"] = p.final
    data["complete"] = p.complete
    data["measured_rate"] = round(sent / now_seconds, 1) if now_seconds else None
    return data


def _elapsed(request: web.Request, p: Progress) -> float | None:
    b = p.broadcast
    if b.started_at is None:
        return None
    end = b.finished_at or dashboard_of(request).core.clock.now()
    return max((end - b.started_at).total_seconds(), 0.001)


def _list_page(request: web.Request, status: int = 200, **values: Any) -> web.Response:
    core = dashboard_of(request).core
    shown = [Progress(b, status_counts(core.store, b.id)) for b in list_broadcasts(core.store)]
    values.setdefault("plan", None)
    return page(
        request,
        "broadcasts.html",
        status=status,
        items=sorted(core.library.items),
        topics=sorted(core.library.topics),
        languages=core.settings.campaign.languages,
        broadcasts=[(p, progress_json(p, _elapsed(request, p))) for p in shown],
        active=ACTIVE_BROADCAST,
        **values,
    )


@routes.get("/broadcasts")
async def broadcasts(request: web.Request) -> web.Response:
    return _list_page(request)


async def _plan(request: web.Request) -> Any:
    core = dashboard_of(request).core
    form = await request.post()
    return plan_broadcast(
        core.settings,
        core.library,
        core.store,
        text(form, "item", 100),
        topic=text(form, "topic", 50) or None,
        lang=text(form, "lang", 10) or None,
    )


@routes.post("/broadcasts/plan")
async def plan(request: web.Request) -> web.Response:
    """Show who the broadcast would reach, per language, and ask to confirm."""
    try:
        planned = await _plan(request)
    except (FormError, BroadcastError) as exc:
        return _list_page(request, 400, error=str(exc))
    return _list_page(request, plan=planned)


@routes.post("/broadcasts")
async def start(request: web.Request) -> web.Response:
    """Start a confirmed broadcast (planned again: the audience may have changed)."""
    core = dashboard_of(request).core
    try:
        planned = await _plan(request)
        start_broadcast(core.store, planned, actor(request), "web", core.clock.now())
    except (FormError, BroadcastError) as exc:
        return _list_page(request, 400, error=str(exc))
    return redirect("/broadcasts")


@routes.post("/broadcasts/{broadcast_id:\\d{1,9}}/cancel")
async def cancel_one(request: web.Request) -> web.Response:
    core = dashboard_of(request).core
    number = int(request.match_info["broadcast_id"])
    try:
        cancel(core.store, number, actor(request), "web", core.clock.now())
    except BroadcastError as exc:
        return _list_page(request, 400, error=str(exc))
    return redirect("/broadcasts")


@routes.get("/broadcasts/{broadcast_id:\\d{1,9}}/progress")
async def progress_of(request: web.Request) -> web.Response:
    """One broadcast's progress as JSON, for the page's progress bars."""
    core = dashboard_of(request).core
    try:
        p = progress(core.store, int(request.match_info["broadcast_id"]))
    except BroadcastError:
        raise web.HTTPNotFound() from None
    return web.json_response(
        progress_json(p, _elapsed(request, p)), headers={"Cache-Control": "no-store"}
    )
