"""Sign-in pages: a one-time link shows a button; only the click (a POST) uses the link up."""

from __future__ import annotations

from aiohttp import web

from bot.store.signin import (
    SESSION_LIFETIME,
    SignInError,
    end_session,
    peek_link,
    spend_link,
    start_session,
)
from bot.web.auth import COOKIE, refuse
from bot.web.context import SESSION, dashboard_of
from bot.web.templating import plain, redirect

routes = web.RouteTableDef()
NOT_STAFF = "This sign-in link belongs to someone who is not on the staff list."


def _token(request: web.Request) -> str:
    return request.match_info["token"][:200]


@routes.get("/signin/{token}")
async def link_page(request: web.Request) -> web.Response:
    """Show a Sign in button; a chat app fetching the link for a preview uses nothing up."""
    core = dashboard_of(request).core
    try:
        staff_id = peek_link(core.store, _token(request), core.clock.now())
    except SignInError as exc:
        return refuse(request, "web-signin", str(exc))
    if not dashboard_of(request).is_staff(staff_id):
        return refuse(request, "web-signin", NOT_STAFF, staff=staff_id)
    message = "This link signs you in once and then stops working."
    return plain(request, "Sign in", message, 200, action=f"/signin/{_token(request)}")


@routes.post("/signin/{token}")
async def sign_in(request: web.Request) -> web.Response:
    """Use the link up, open a 12-hour session and go to the calendar."""
    board = dashboard_of(request)
    core = board.core
    now = core.clock.now()
    try:
        staff_id = spend_link(core.store, _token(request), now)
    except SignInError as exc:
        return refuse(request, "web-signin", str(exc))
    if not dashboard_of(request).is_staff(staff_id):
        return refuse(request, "web-signin", NOT_STAFF, staff=staff_id)
    token = start_session(core.store, staff_id, now)
    core.store.audit(f"telegram:{staff_id}", "web", "signin", {})
    response = redirect("/calendar")
    response.set_cookie(
        COOKIE,
        token,
        max_age=int(SESSION_LIFETIME.total_seconds()),
        httponly=True,
        samesite="Lax",
        secure=board.secure_cookies or request.secure,
        path="/",
    )
    return response


@routes.post("/signout")
async def sign_out(request: web.Request) -> web.Response:
    core = dashboard_of(request).core
    end_session(core.store, request.cookies.get(COOKIE, ""))
    core.store.audit(f"telegram:{request[SESSION].staff_id}", "web", "signout", {})
    response = redirect("/signed-out")
    response.del_cookie(COOKIE, path="/")
    return response


@routes.get("/signed-out")
async def signed_out(request: web.Request) -> web.Response:
    return plain(request, "Signed out", "You are signed out.", 200)
