"""Schedule page: the one-off post form, and cancel, approve and move for posts to come."""

from __future__ import annotations

from datetime import timedelta

from aiohttp import web

from bot.accounts import target_names
from bot.schedule.posting import reschedule_post, schedule_posts
from bot.store import PostError, PostStatus
from bot.store.posts import approve_post, cancel_post, posts_between
from bot.web.auth import actor
from bot.web.calendar_data import post_state
from bot.web.context import dashboard_of
from bot.web.forms import FormError, local_time, text
from bot.web.templating import page, redirect

routes = web.RouteTableDef()
MAX_ID = 100  # characters of an item id


def _form_page(request: web.Request, status: int = 200, **values: object) -> web.Response:
    core = dashboard_of(request).core
    now = core.clock.now()
    upcoming = posts_between(
        core.store,
        now - timedelta(days=1),
        now + timedelta(days=366),
        (PostStatus.SCHEDULED, PostStatus.HELD),
    )
    values.setdefault("chosen", {})
    return page(
        request,
        "schedule.html",
        status=status,
        items=sorted(core.library.items.values(), key=lambda i: i.id),
        channels=target_names(core.settings),  # networks, then their named accounts
        languages=core.settings.campaign.languages,
        upcoming=[(p, post_state(p)) for p in upcoming if p.rule_id is None],
        **values,
    )


@routes.get("/schedule")
async def schedule_page(request: web.Request) -> web.Response:
    notice = ""
    created = request.query.get("created", "")
    if created and all(part.isdigit() for part in created.split(",")):
        notice = f"Scheduled: post {created.replace(',', ', post ')}."
    return _form_page(request, notice=notice)


@routes.post("/schedule")
async def schedule(request: web.Request) -> web.Response:
    """Schedule the item in each chosen language, with the CLI's checks and refusals."""
    core = dashboard_of(request).core
    form = await request.post()
    chosen = {
        "item": form.get("item", ""),
        "channels": form.getall("channel", []),
        "languages": form.getall("lang", []),
        "when": form.get("when", ""),
    }
    now = core.clock.now()
    try:
        item_id = text(form, "item", MAX_ID)
        when = text(form, "when", 40)
        due = local_time(when, core.settings.zone) if when else now
        channels = [str(c)[:40] for c in form.getall("channel", [])]  # x:kurdish too
        languages = [str(lang)[:10] for lang in form.getall("lang", [])] or [""]
        if not item_id:
            raise FormError("choose an item")
        posts = schedule_posts(  # all or nothing: one post per language
            settings=core.settings,
            library=core.library,
            renderer=core.renderer,
            store=core.store,
            item_id=item_id,
            channels=channels,
            langs=[lang or None for lang in languages],
            due_at=due,
            actor=actor(request),
            via="web",
            now=now,
        )
        created = [post.id for post in posts]
    except (FormError, PostError) as exc:  # nothing was scheduled
        return _form_page(request, 400, error=str(exc), chosen=chosen)
    return redirect("/schedule?created=" + ",".join(map(str, created)))


def _post_id(request: web.Request) -> int:
    return int(request.match_info["post_id"])


def _result(request: web.Request, post_id: int, error: str = "") -> web.Response:
    if error:
        return page(request, "problem.html", status=400, error=error)
    return redirect(f"/calendar/post/{post_id}")


@routes.post("/posts/{post_id:\\d{1,9}}/cancel")
async def cancel(request: web.Request) -> web.Response:
    core = dashboard_of(request).core
    try:
        post = cancel_post(core.store, _post_id(request), actor(request), "web")
    except PostError as exc:
        return _result(request, _post_id(request), str(exc))
    return _result(request, post.id)


@routes.post("/posts/{post_id:\\d{1,9}}/approve")
async def approve(request: web.Request) -> web.Response:
    """Approve a post: the two-person rule refuses its creator, as in chat and the CLI."""
    core = dashboard_of(request).core
    try:
        post = approve_post(core.store, _post_id(request), actor(request), "web", core.clock.now())
    except PostError as exc:
        core.store.audit(
            actor(request),
            "web",
            "approve",
            {"post": _post_id(request), "refused": str(exc)},
            allowed=False,
        )
        return _result(request, _post_id(request), str(exc))
    return _result(request, post.id)


@routes.post("/posts/{post_id:\\d{1,9}}/move")
async def move(request: web.Request) -> web.Response:
    core = dashboard_of(request).core
    form = await request.post()
    try:
        due = local_time(text(form, "when", 40), core.settings.zone, "new time")
        post = reschedule_post(
            core.settings,
            core.store,
            _post_id(request),
            due,
            actor(request),
            "web",
            core.clock.now(),
        )
    except (FormError, PostError) as exc:
        return _result(request, _post_id(request), str(exc))
    return _result(request, post.id)
