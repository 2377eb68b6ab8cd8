"""The kill switch on every page: pause and resume with a reason, blackout windows added."""

from __future__ import annotations

from aiohttp import web

from bot.store.blackouts import add_blackout
from bot.web.auth import actor
from bot.web.context import dashboard_of
from bot.web.forms import FormError, local_time, text
from bot.web.templating import page, redirect

routes = web.RouteTableDef()


def back(form: object, default: str = "/calendar") -> str:
    """Where to go after a kill-switch form: the page it was on (a local path only)."""
    value = form.get("back", "") if hasattr(form, "get") else ""
    path = value if isinstance(value, str) else ""
    return path if path.startswith("/") and not path.startswith("//") else default


def problem(request: web.Request, message: str) -> web.Response:
    return page(request, "problem.html", status=400, error=message)


@routes.post("/pause")
async def pause(request: web.Request) -> web.Response:
    core = dashboard_of(request).core
    form = await request.post()
    try:
        reason = text(form, "reason")
    except FormError as exc:
        return problem(request, str(exc))
    if not reason:
        return problem(request, "give a reason for pausing: the team sees it on every page")
    core.store.set_paused(True, actor(request), "web", core.clock.now(), reason=reason)
    return redirect(back(form))


@routes.post("/resume")
async def resume(request: web.Request) -> web.Response:
    core = dashboard_of(request).core
    form = await request.post()
    try:
        reason = text(form, "reason")
    except FormError as exc:
        return problem(request, str(exc))
    core.store.set_paused(False, actor(request), "web", core.clock.now(), reason=reason)
    return redirect(back(form))


@routes.post("/blackouts")
async def blackout(request: web.Request) -> web.Response:
    core = dashboard_of(request).core
    form = await request.post()
    zone = core.settings.zone
    try:
        start = local_time(text(form, "start", 40), zone, "start")
        end = local_time(text(form, "end", 40), zone, "end")
        reason = text(form, "reason")
    except FormError as exc:
        return problem(request, str(exc))
    if end <= start:
        return problem(request, "the blackout must end after it starts")
    if end <= core.clock.now():
        return problem(request, "the blackout is over already; give a window to come")
    add_blackout(core.store, start, end, reason, actor(request), "web", core.clock.now())
    return redirect(back(form))
