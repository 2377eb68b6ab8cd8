"""Staff commands: queue, preview, post, approve, cancel, pause, resume, stats, failed."""

from __future__ import annotations

import asyncio
import html
from collections.abc import Sequence

from telegram import Update
from telegram.ext import ContextTypes

from bot.channels.telegram import MAX_MESSAGE_LENGTH, split_html
from bot.library import unknown_message
from bot.render import RenderError
from bot.render.limits import telegram_length
from bot.schedule.posting import build_queue, schedule_post, x_accounts_today, x_totals
from bot.schedule.when import parse_when
from bot.store.posts import approve_post, cancel_post, delivery_counts, list_problem_deliveries
from bot.store.subscribers import subscriber_stats
from bot.store.tallies import share_totals, signup_totals
from bot.telegram.access import Handler, staff_only
from bot.telegram.services import BotServices
from bot.telegram.supporters import reply

MAX_PARTS = 4  # messages per listing: a burst Telegram allows in one chat
MAX_FIELD = 300  # characters of one free-text field (an error) in a listing


async def send_lines(update: Update, lines: Sequence[str], empty: str, more: str) -> None:
    """Send a listing in as few messages as fit Telegram's limit, at most ``MAX_PARTS``.

    Each line is complete HTML; a line too long for one message is cut (its tags closed).
    What does not fit in ``MAX_PARTS`` messages is left out, and ``more`` says where to look.
    """
    if not lines:
        await reply(update, empty)
        return
    parts: list[str] = []
    current: list[str] = []
    for line in lines:
        if telegram_length(line) > MAX_MESSAGE_LENGTH:
            line = split_html(line, MAX_MESSAGE_LENGTH - 1)[0] + "…"
        if current and telegram_length("\n".join([*current, line])) > MAX_MESSAGE_LENGTH:
            parts.append("\n".join(current))
            current = []
        current.append(line)
    parts.append("\n".join(current))
    if len(parts) > MAX_PARTS:
        shown = sum(part.count("\n") + 1 for part in parts[:MAX_PARTS])
        parts = parts[:MAX_PARTS]
        note = f"\n… {len(lines) - shown} more: {more}"
        last = parts[-1]
        while telegram_length(last + note) > MAX_MESSAGE_LENGTH and "\n" in last:
            last = last.rsplit("\n", 1)[0]
            note = f"\n… {len(lines) - shown + 1} more: {more}"
            shown -= 1
        parts[-1] = last + note
    for part in parts:
        await reply(update, part)


def _cut(text: str, limit: int = MAX_FIELD) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


@staff_only
async def queue(
    update: Update, context: ContextTypes.DEFAULT_TYPE, app: BotServices, actor: str
) -> None:
    try:
        days = float(context.args[0]) if context.args else 7.0
    except ValueError:
        raise ValueError("usage: /queue [days], e.g. /queue 14") from None
    if not 0 < days <= 366:
        raise ValueError("give a number of days between 0 and 366")
    rows = await asyncio.to_thread(
        build_queue, app.settings, app.library, app.store, app.clock, days
    )
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
            "<code>campaign-bot queue</code> lists them)"
        )
    await send_lines(update, lines, "Nothing scheduled.", "<code>campaign-bot queue</code>")


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
        now=app.clock.now(),
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
    post_id = _post_id(context, "approve")
    approved = approve_post(app.store, post_id, actor, "telegram", app.clock.now())
    await reply(update, f"Post {approved.id} approved; it goes out at its time.")


@staff_only
async def cancel(
    update: Update, context: ContextTypes.DEFAULT_TYPE, app: BotServices, actor: str
) -> None:
    cancelled = cancel_post(app.store, _post_id(context, "cancel"), actor, "telegram")
    await reply(update, f"Post {cancelled.id} cancelled.")


def _post_id(context: ContextTypes.DEFAULT_TYPE, command: str) -> int:
    if not context.args or not context.args[0].isdigit():
        raise ValueError(f"give the post id, e.g. /{command} 12 (see /queue)")
    return int(context.args[0])


@staff_only
async def pause(
    update: Update, context: ContextTypes.DEFAULT_TYPE, app: BotServices, actor: str
) -> None:
    changed = app.store.set_paused(True, actor, "telegram", app.clock.now())
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
    changed = app.store.set_paused(False, actor, "telegram", app.clock.now())
    await reply(update, "▶️ Campaign resumed." if changed else "The campaign was not paused.")


@staff_only
async def stats(
    update: Update, context: ContextTypes.DEFAULT_TYPE, app: BotServices, actor: str
) -> None:
    people = subscriber_stats(app.store)
    lines = [f"<b>Supporters</b>: {people['active']} active, {people['inactive']} inactive"]
    lines += [f"  {lang}: {n}" for lang, n in sorted(people["by_language"].items())]
    lines += [f"  #{topic}: {n}" for topic, n in people["by_topic"].items()]
    counts = sorted(delivery_counts(app.store).items())
    lines.append(
        "<b>Deliveries</b>: " + (", ".join(f"{status} {n}" for status, n in counts) or "none")
    )
    x_per_account = x_accounts_today(app.settings, app.store, app.clock)
    x_today = x_totals(x_per_account)
    x_accounts = x_per_account or []
    if len(x_accounts) > 1:
        each = ", ".join(f"{key} {sent}/{cap}" for key, sent, cap in x_accounts)
        lines.append(f"<b>X today</b>: {each}")
    elif x_today is not None:
        lines.append(f"<b>X today</b>: {x_today[0]}/{x_today[1]}")
    lines += tally_lines(app)
    for extra in app.extra_stats:
        lines.extend(html.escape(line) for line in extra())
    await send_lines(update, lines, "", "<code>campaign-bot subscribers</code>")


def tally_lines(app: BotServices) -> list[str]:
    """Sign-ups per sign-up link code and shares per item (totals only)."""
    signups = signup_totals(app.store)
    for link in app.settings.signup_links:
        signups.setdefault(link.code, 0)  # a link nobody used yet shows as 0
    lines = ["<b>Sign-ups by link</b>" + ("" if signups else ": no sign-up links")]
    lines += [f"  {html.escape(code)}: {n}" for code, n in signups.items()]
    shares = share_totals(app.store)
    lines.append("<b>Shares</b>" + ("" if shares else ": none yet"))
    lines += [f"  {html.escape(item)}: {n}" for item, n in shares.items()]
    return lines


@staff_only
async def failed(
    update: Update, context: ContextTypes.DEFAULT_TYPE, app: BotServices, actor: str
) -> None:
    rows = list_problem_deliveries(app.store, limit=30)
    lines = [
        f"{d.id} · post {d.post_id} · {html.escape(d.item_id)} · {d.target} · {d.lang} · "
        f"<b>{d.status}</b> · {html.escape(_cut(d.error or ''))}"
        for d in rows
    ]
    await send_lines(
        update,
        lines,
        "No failed, missed or uncertain deliveries.",
        "<code>campaign-bot deliveries --status failed</code>",
    )


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
