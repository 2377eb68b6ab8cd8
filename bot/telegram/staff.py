"""Staff commands: queue, preview, post, approve, cancel, pause, resume, stats, failed."""

from __future__ import annotations

import functools
import html
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from telegram import Update
from telegram.ext import ContextTypes

from bot.library import unknown_message
from bot.render import RenderError
from bot.schedule.posting import build_queue, schedule_post, x_posts_today
from bot.schedule.when import parse_when
from bot.store import PostError
from bot.store.posts import approve_post, cancel_post, delivery_counts, list_problem_deliveries
from bot.store.subscribers import subscriber_stats
from bot.telegram.services import BotServices, services
from bot.telegram.supporters import reply, user_lang

Handler = Callable[[Update, ContextTypes.DEFAULT_TYPE], Coroutine[Any, Any, None]]
MAX_REPLY = 3900  # stay under Telegram's 4096 after entities


def staff_only(
    func: Callable[[Update, ContextTypes.DEFAULT_TYPE, BotServices, str], Awaitable[None]],
) -> Handler:
    """Run a staff command only for allow-listed users; refuse and audit everyone else."""

    @functools.wraps(func)
    async def wrapper(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        app = services(context)
        user = update.effective_user
        command = (
            (update.effective_message.text or "").split()[0] if update.effective_message else ""
        )
        actor = f"telegram:{user.id}" if user else "telegram:unknown"
        if user is None or not app.is_staff(user.id):
            app.store.audit(
                actor,
                "telegram",
                command.lstrip("/") or "staff",
                {"args": context.args},
                allowed=False,
            )
            await reply(update, app.translate(user_lang(app, update), "staff_only"))
            return
        try:
            await func(update, context, app, actor)
        except (PostError, ValueError, KeyError) as exc:
            message = exc.args[0] if isinstance(exc, KeyError) else str(exc)
            await reply(update, f"⚠️ {html.escape(message)}")

    return wrapper


async def _long(update: Update, lines: list[str], empty: str) -> None:
    text = "\n".join(lines) if lines else empty
    if len(text) > MAX_REPLY:
        text = text[:MAX_REPLY].rsplit("\n", 1)[0] + "\n…"
    await reply(update, text)


@staff_only
async def queue(
    update: Update, context: ContextTypes.DEFAULT_TYPE, app: BotServices, actor: str
) -> None:
    days = float(context.args[0]) if context.args else 7.0
    rows = build_queue(app.settings, app.library, app.store, app.clock, days)
    lines = [f"{'⏸ PAUSED' if app.store.is_paused() else '▶️ running'}"]
    for r in rows:
        if r.state.startswith("skip"):
            continue
        lines.append(
            f"<code>{r.local}</code> {html.escape(r.item)} · {r.lang} · "
            f"{','.join(r.channels)} · {html.escape(r.origin)} · {html.escape(r.state)}"
        )
    skipped = sum(1 for r in rows if r.state.startswith("skip"))
    if skipped:
        lines.append(
            f"({skipped} planned posts skipped: unreviewed or missing translations; "
            "`campaign-bot queue` lists them)"
        )
    await _long(update, lines, "Nothing scheduled.")


@staff_only
async def preview(
    update: Update, context: ContextTypes.DEFAULT_TYPE, app: BotServices, actor: str
) -> None:
    args = context.args or []
    if not args:
        raise ValueError("usage: /preview ITEM [channel] [lang]")
    item = app.library.get(args[0])
    channel = args[1] if len(args) > 1 else "telegram"
    lang = args[2] if len(args) > 2 else app.settings.campaign.default_language
    if channel not in app.settings.enabled_channels:
        raise ValueError(unknown_message("channel", channel, app.settings.enabled_channels))
    try:
        post = app.renderer.render(item, channel, lang)
    except RenderError as exc:
        raise ValueError(str(exc)) from None
    state = "reviewed" if post.reviewed else "UNREVIEWED (not published)"
    header = f"<b>{channel} · {lang} · {post.length}/{post.limit} · {state}</b>\n\n"
    body = post.text if channel == "telegram" else f"<pre>{html.escape(post.text)}</pre>"
    await reply(update, header + body)


@staff_only
async def post(
    update: Update, context: ContextTypes.DEFAULT_TYPE, app: BotServices, actor: str
) -> None:
    args = context.args or []
    if len(args) < 2:
        raise ValueError("usage: /post ITEM channel[,channel] [when: +15m or ISO time] [lang]")
    when = args[2] if len(args) > 2 else None
    lang = args[3] if len(args) > 3 else None
    due = parse_when(when, app.clock.now()) if when else app.clock.now()
    created = schedule_post(
        settings=app.settings,
        library=app.library,
        renderer=app.renderer,
        store=app.store,
        item_id=args[0],
        channels=args[1].split(","),
        lang=lang,
        due_at=due,
        actor=actor,
        via="telegram",
    )
    local = created.due_at.astimezone(app.settings.zone)
    note = (
        (f"\nNeeds approval by another staff member: /approve {created.id}")
        if created.needs_approval
        else ""
    )
    await reply(
        update,
        f"Post {created.id} scheduled: {html.escape(created.item_id)} "
        f"({created.lang}) on {created.channels} at "
        f"{local:%Y-%m-%d %H:%M %Z}.{note}",
    )


@staff_only
async def approve(
    update: Update, context: ContextTypes.DEFAULT_TYPE, app: BotServices, actor: str
) -> None:
    post_id = _post_id(context)
    approved = approve_post(app.store, post_id, actor, "telegram")
    await reply(update, f"Post {approved.id} approved; it goes out at its time.")


@staff_only
async def cancel(
    update: Update, context: ContextTypes.DEFAULT_TYPE, app: BotServices, actor: str
) -> None:
    cancelled = cancel_post(app.store, _post_id(context), actor, "telegram")
    await reply(update, f"Post {cancelled.id} cancelled.")


def _post_id(context: ContextTypes.DEFAULT_TYPE) -> int:
    if not context.args or not context.args[0].isdigit():
        raise ValueError("give the post id, e.g. /cancel 12 (see /queue)")
    return int(context.args[0])


@staff_only
async def pause(
    update: Update, context: ContextTypes.DEFAULT_TYPE, app: BotServices, actor: str
) -> None:
    changed = app.store.set_paused(True, actor, "telegram")
    await reply(
        update,
        "⏸ Campaign paused: nothing publishes; posts falling due are skipped."
        if changed
        else "The campaign was already paused.",
    )


@staff_only
async def resume(
    update: Update, context: ContextTypes.DEFAULT_TYPE, app: BotServices, actor: str
) -> None:
    changed = app.store.set_paused(False, actor, "telegram")
    await reply(update, "▶️ Campaign resumed." if changed else "The campaign was not paused.")


@staff_only
async def stats(
    update: Update, context: ContextTypes.DEFAULT_TYPE, app: BotServices, actor: str
) -> None:
    people = subscriber_stats(app.store)
    lines = [f"<b>Supporters</b>: {people['active']} active, {people['inactive']} inactive"]
    lines += [f"  {lang}: {n}" for lang, n in sorted(people["by_language"].items())]
    lines += [f"  #{topic}: {n}" for topic, n in people["by_topic"].items()]
    lines.append(
        "<b>Deliveries</b>: "
        + ", ".join(f"{status} {n}" for status, n in sorted(delivery_counts(app.store).items()))
        or "none"
    )
    x_today = x_posts_today(app.settings, app.store, app.clock)
    if x_today is not None:
        lines.append(f"<b>X today</b>: {x_today[0]}/{x_today[1]}")
    for extra in app.extra_stats:
        lines.extend(extra())
    await _long(update, lines, "")


@staff_only
async def failed(
    update: Update, context: ContextTypes.DEFAULT_TYPE, app: BotServices, actor: str
) -> None:
    rows = list_problem_deliveries(app.store, limit=30)
    lines = [
        f"{d.id} · post {d.post_id} · {html.escape(d.item_id)} · {d.channel} · {d.lang} · "
        f"<b>{d.status}</b> · {html.escape(d.error or '')}"
        for d in rows
    ]
    await _long(update, lines, "No failed, missed or uncertain deliveries.")


COMMANDS: dict[str, Handler] = {
    "queue": queue,
    "preview": preview,
    "post": post,
    "approve": approve,
    "cancel": cancel,
    "pause": pause,
    "resume": resume,
    "stats": stats,
    "failed": failed,
}
