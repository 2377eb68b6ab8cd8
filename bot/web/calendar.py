"""Calendar pages: week and month views, a post's page and a planned slot's previews."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta

from aiohttp import web

from bot.app import Core
from bot.render import RenderError
from bot.store import PostError
from bot.store.dashboard import deliveries_of
from bot.store.posts import get_post
from bot.web.calendar_data import bounds, entries, grid, post_state, span
from bot.web.context import dashboard_of
from bot.web.templating import page

routes = web.RouteTableDef()
# How far from today the calendar goes, either way (the planner works through every day to it).
REACH_DAYS = 731


@routes.get("/")
async def home(request: web.Request) -> web.Response:
    return web.Response(status=303, headers={"Location": "/calendar"})


@routes.get("/calendar")
async def calendar(request: web.Request) -> web.Response:
    """The week (default) or month around ``start``, with what will and did go out."""
    core = dashboard_of(request).core
    view = "month" if request.query.get("view") == "month" else "week"
    today = core.clock.now().astimezone(core.settings.zone).date()
    try:
        anchor = (
            date.fromisoformat(request.query.get("start", "")[:10])
            if request.query.get("start")
            else today
        )
    except ValueError:
        anchor = today
    if abs((anchor - today).days) > REACH_DAYS:
        return page(
            request,
            "problem.html",
            status=400,
            error=f"The calendar shows dates within two years of today ({today.isoformat()}).",
        )
    first, weeks = span(core, view, anchor)
    start, end = bounds(core, first, weeks)
    by_day: dict[date, list[object]] = {}
    # Planning weeks ahead takes a while: off the event loop, so other requests go on.
    for entry in await asyncio.to_thread(entries, core, start, end):
        by_day.setdefault(entry.at.astimezone(core.settings.zone).date(), []).append(entry)
    step = timedelta(days=7) if view == "week" else timedelta(days=31)
    month = anchor.replace(day=1)
    before = first - step if view == "week" else (month - timedelta(days=1)).replace(day=1)
    after = first + step if view == "week" else (month + step).replace(day=1)
    return page(
        request,
        "calendar.html",
        view=view,
        weeks=grid(first, weeks),
        by_day=by_day,
        today=today,
        month=anchor.month,
        title=(f"{anchor:%B %Y}" if view == "month" else f"Week of {first:%d %B %Y}"),
        before=before.isoformat(),
        after=after.isoformat(),
    )


def previews(
    request: web.Request, item_id: str, langs: list[str], channels: list[str]
) -> list[dict[str, object]]:
    """The rendered post for each channel and language, with length, limit and review state."""
    core = dashboard_of(request).core
    item = core.library.get(item_id)
    shown: list[dict[str, object]] = []
    # An account (x:kurdish) renders as its network does.
    for channel in dict.fromkeys(c.partition(":")[0] for c in channels):
        for lang in langs:
            if lang not in item.text:
                continue
            try:
                post = core.renderer.render(item, channel, lang)
            except RenderError as exc:
                shown.append({"channel": channel, "lang": lang, "error": str(exc)})
                continue
            shown.append({"channel": channel, "lang": lang, "post": post, "error": ""})
    return shown


async def _slot_state(core: Core, item_id: str, lang: str, when: str) -> str:
    """The state the calendar shows for this firing (planned, or skipped and why)."""
    try:
        at = datetime.strptime(when, "%Y-%m-%dT%H:%MZ").replace(tzinfo=UTC)
    except ValueError:
        return "not a planned time"
    if abs((at - core.clock.now()).days) > REACH_DAYS:
        return "too far from today to plan"
    found = await asyncio.to_thread(entries, core, at, at + timedelta(minutes=1))
    for entry in found:
        if entry.post_id is None and (entry.item, entry.lang) == (item_id, lang):
            return entry.state
    return "not planned at this time"


@routes.get("/calendar/slot")
async def slot(request: web.Request) -> web.Response:
    """A planned rule firing: its item rendered for each of its channels and every language."""
    core = dashboard_of(request).core
    item_id = request.query.get("item", "")
    if item_id not in core.library.items:
        return page(request, "problem.html", status=404, error="No such item in the library.")
    enabled = core.settings.enabled_channels
    wanted = request.query.get("channels", "").split(",")
    channels = [c for c in wanted if c.partition(":")[0] in enabled] or enabled
    lang = request.query.get("lang", "")
    when = request.query.get("at", "")[:20]
    state = await _slot_state(core, item_id, lang, when)
    return page(
        request,
        "slot.html",
        item=core.library.items[item_id],
        when=when,
        lang=lang,
        post=None,
        deliveries=[],
        state=state,
        previews=previews(request, item_id, core.settings.campaign.languages, channels),
    )


@routes.get("/calendar/post/{post_id:\\d{1,9}}")
async def post_page(request: web.Request) -> web.Response:
    """One post: its state, the buttons staff may press, what went out, and its previews."""
    core = dashboard_of(request).core
    try:
        post = get_post(core.store, int(request.match_info["post_id"]))
    except PostError as exc:
        return page(request, "problem.html", status=404, error=str(exc))
    item = core.library.items.get(post.item_id)
    return page(
        request,
        "slot.html",
        item=item,
        when=post.due_at.strftime("%Y-%m-%dT%H:%MZ"),
        lang=post.lang,
        post=post,
        deliveries=deliveries_of(core.store, [post.id]).get(post.id, []),
        state=post_state(post),
        previews=previews(
            request, post.item_id, core.settings.campaign.languages, post.channel_list
        )
        if item
        else [],
        due_local=post.due_at.astimezone(core.settings.zone).strftime("%Y-%m-%dT%H:%M"),
    )
