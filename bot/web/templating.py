"""Render the dashboard's Jinja2 templates (autoescaped, from the package) into responses."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import jinja2
from aiohttp import web

from bot.store.blackouts import stored_blackouts
from bot.store.dashboard import pause_reason
from bot.web.context import dashboard_of, session_of

RTL = {"ar", "ckb", "fa", "he", "ur"}
_ENVIRONMENT = web.AppKey("jinja", jinja2.Environment)


def make_environment() -> jinja2.Environment:
    """A fresh environment per app: templates from the package, every value escaped."""
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("bot.web", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["dir"] = lambda lang: "rtl" if lang in RTL else "ltr"
    return environment


def install(app: web.Application) -> None:
    app[_ENVIRONMENT] = make_environment()


def local(request: web.Request, moment: datetime | None, fmt: str = "%a %Y-%m-%d %H:%M") -> str:
    """A UTC time in the campaign's zone, for display."""
    if moment is None:
        return ""
    return moment.astimezone(dashboard_of(request).core.settings.zone).strftime(fmt)


def page(request: web.Request, template: str, status: int = 200, **values: Any) -> web.Response:
    """Render a signed-in page with the kill switch, the CSRF token and the navigation."""
    board = dashboard_of(request)
    core = board.core
    session = session_of(request)
    now = core.clock.now()
    windows = [
        (w.start, w.end, w.reason, "config")
        for w in core.settings.schedule.blackouts
        if w.end > now
    ] + [(w.start, w.end, w.reason, w.created_by) for w in stored_blackouts(core.store, now)]
    paused = core.store.is_paused()
    context = {
        "notice": "",
        "error": "",
        "pause_reason": pause_reason(core.store) if paused else "",
        "campaign": core.settings.campaign,
        "zone": core.settings.campaign.time_zone,
        "paused": paused,
        "csrf": session.csrf if session else "",
        "staff_id": session.staff_id if session else None,
        "blackouts": [
            (local(request, start), local(request, end), reason, by)
            for start, end, reason, by in windows
        ],
        "path": request.path,
        "local": lambda moment, fmt="%a %Y-%m-%d %H:%M": local(request, moment, fmt),
        **values,
    }
    html = request.app[_ENVIRONMENT].get_template(template).render(context)
    return web.Response(text=html, status=status, content_type="text/html")


def plain(
    request: web.Request, title: str, message: str, status: int, action: str = ""
) -> web.Response:
    """A plain page that says one thing (a refusal, an error) and reveals nothing else.

    With ``action`` it shows one button that posts there (the sign-in link's page).
    """
    html = (
        request.app[_ENVIRONMENT]
        .get_template("plain.html")
        .render(title=title, message=message, action=action)
    )
    return web.Response(
        text=html, status=status, content_type="text/html", headers={"Cache-Control": "no-store"}
    )


def redirect(location: str) -> web.Response:
    """See other: after a form, go to the page that shows its result."""
    return web.Response(status=303, headers={"Location": location})
