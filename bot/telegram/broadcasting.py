"""Staff broadcasts from Telegram: /broadcast shows the plan, a button confirms, cancel stops."""

from __future__ import annotations

import html
from collections.abc import Sequence

from telegram import Update
from telegram.ext import ContextTypes

from bot.delivery.broadcasts import BroadcastPlan, cancel, plan_broadcast, start_broadcast
from bot.telegram import keyboards
from bot.telegram.access import staff_button, staff_only
from bot.telegram.services import BotServices
from bot.telegram.supporters import reply, show

PATTERN = r"^bc:(go|no):\d{1,9}$"
PENDING = "broadcast_plans"  # bot_data key: confirmation number -> (item, topic, lang)
MAX_PENDING = 50
USAGE = "usage: /broadcast ITEM [topic] [lang], or /broadcast cancel ID"

Request = tuple[str, str | None, str | None]


def parse_request(app: BotServices, args: Sequence[str]) -> Request:
    """Read ``ITEM [topic] [lang]``: a campaign language is the language, else the topic."""
    if not args or len(args) > 3:
        raise ValueError(USAGE)
    topic: str | None = None
    lang: str | None = None
    for arg in args[1:]:
        if arg in app.settings.campaign.languages and lang is None:
            lang = arg
        elif topic is None:
            topic = arg.lstrip("#")
        else:
            raise ValueError(USAGE)
    return args[0], topic, lang


def _plan(app: BotServices, request: Request) -> BroadcastPlan:
    item_id, topic, lang = request
    return plan_broadcast(app.settings, app.library, app.store, item_id, topic=topic, lang=lang)


def _remember(context: ContextTypes.DEFAULT_TYPE, request: Request) -> int:
    pending: dict[int, Request] = context.bot_data.setdefault(PENDING, {})
    number = max(pending, default=0) + 1
    pending[number] = request
    while len(pending) > MAX_PENDING:
        del pending[min(pending)]
    return number


@staff_only
async def broadcast(
    update: Update, context: ContextTypes.DEFAULT_TYPE, app: BotServices, actor: str
) -> None:
    """Show who a broadcast would reach and ask to confirm (or cancel one: cancel ID)."""
    args = context.args or []
    if args[:1] == ["cancel"]:
        await _cancel(update, app, actor, args[1:])
        return
    request = parse_request(app, args)
    plan = _plan(app, request)
    text = html.escape(plan.describe())
    if not plan.recipients:
        await reply(update, f"{text}\nNo active subscriber matches: nothing to send.")
        return
    number = _remember(context, request)
    await reply(update, f"{text}\nSend it?", reply_markup=keyboards.broadcast_confirm(number))


@staff_only
async def cancel_command(
    update: Update, context: ContextTypes.DEFAULT_TYPE, app: BotServices, actor: str
) -> None:
    """Cancel a broadcast that is still selecting or sending: /cancelbroadcast ID."""
    await _cancel(update, app, actor, context.args or [])


async def _cancel(update: Update, app: BotServices, actor: str, args: Sequence[str]) -> None:
    if len(args) != 1 or not args[0].isdigit():
        raise ValueError("give the broadcast id, e.g. /broadcast cancel 3 (see /stats)")
    cancelled = cancel(app.store, int(args[0]), actor, "telegram", app.clock.now())
    await reply(update, f"Broadcast {cancelled.id} cancelled: messages not sent yet are skipped.")


@staff_button
async def confirmed(
    update: Update, context: ContextTypes.DEFAULT_TYPE, app: BotServices, actor: str
) -> None:
    """The Send or Cancel button under a broadcast plan (each works once)."""
    query = update.callback_query
    assert query is not None and query.data is not None
    _, answer, number = query.data.split(":")
    request = context.bot_data.get(PENDING, {}).pop(int(number), None)
    if request is None:
        await query.answer("This confirmation has expired; send /broadcast again.", True)
        return
    await query.answer()
    if answer == "no":
        await show(update, "Broadcast not sent.")
        return
    plan = _plan(app, request)  # counted again: subscribers come and go
    created = start_broadcast(app.store, plan, actor, "telegram", app.clock.now())
    await show(
        update,
        f"Broadcast {created.id} queued: {html.escape(plan.describe())}\n"
        f"The worker sends it; /stats shows progress; /broadcast cancel {created.id} stops it.",
    )
