"""Who may see the dashboard: a live session of a current staff member; forms need CSRF."""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from bot.store.signin import end_session, find_session
from bot.web.context import SESSION, dashboard_of, session_of
from bot.web.templating import plain

log = logging.getLogger(__name__)
COOKIE = "campaign_session"
PUBLIC = ("/healthz", "/metrics", "/static/", "/signin/", "/signed-out")
MAX_DETAIL = 200
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
NOT_SIGNED_IN = (
    "You are not signed in. Send /dashboard to the bot in a private chat for a sign-in link "
    "(or run `campaign-bot dashboard link --staff ID` on the server)."
)


def actor(request: web.Request) -> str:
    """The audit log's name for the signed-in person: the same as in the chat commands."""
    session = session_of(request)
    return f"telegram:{session.staff_id}" if session else "web:anonymous"


def refuse(
    request: web.Request, action: str, message: str, status: int = 403, **detail: Any
) -> web.Response:
    """Audit a refused request and answer with a plain page that says only ``message``."""
    store = dashboard_of(request).core.store
    detail = {"path": request.path[:MAX_DETAIL], **detail}
    store.audit(actor(request), "web", action[:50], detail, allowed=False)
    return plain(request, "Not allowed", message, status)


def _public(request: web.Request) -> bool:
    board = dashboard_of(request)
    if board.webhook_path and request.path == board.webhook_path:
        return True
    return request.path.startswith(PUBLIC)


@web.middleware
async def require_staff(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Let through public routes; everything else needs a session of a current staff member."""
    if _public(request):
        return await handler(request)
    board = dashboard_of(request)
    core = board.core
    token = request.cookies.get(COOKIE, "")
    session = find_session(core.store, token, core.clock.now()) if token else None
    if session is None:
        if request.method == "POST":
            return refuse(request, "web-signed-out", NOT_SIGNED_IN, 401)
        return plain(request, "Sign in", NOT_SIGNED_IN, 401)
    if not board.is_staff(session.staff_id):
        end_session(core.store, token)
        request[SESSION] = session
        response = refuse(request, "web-not-staff", "Your Telegram id is not on the staff list.")
        response.del_cookie(COOKIE, path="/")
        return response
    request[SESSION] = session
    if request.method == "POST":
        form = await request.post()
        sent = str(form.get("csrf", "")) or request.headers.get("X-CSRF-Token", "")
        if not sent or not hmac.compare_digest(sent, session.csrf):
            return refuse(
                request, "web-csrf", "The form was missing its security token; reload the page."
            )
    return await handler(request)


CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


@web.middleware
async def security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Send the CSP (no inline script, nothing from elsewhere) and friends on every answer."""
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        response = exc
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Frame-Options"] = "DENY"
    if isinstance(response, web.HTTPException):
        raise response
    return response
