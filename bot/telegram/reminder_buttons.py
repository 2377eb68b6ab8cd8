"""The buttons under each reminder: Done (counts an action), Snooze 1 day, Share, Stop."""

from __future__ import annotations

import logging
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import BadRequest
from telegram.ext import Application, CallbackQueryHandler, ContextTypes

from bot.schedule.reminder_times import zone_of
from bot.schedule.reminders import (
    DONE,
    SNOOZE,
    STOP,
    Translate,
    item_of_done,
    reminder_buttons,
    snooze,
    stop_reminders,
)
from bot.store.subscribers import count_action, get_subscriber
from bot.telegram.keyboards import telegram_button
from bot.telegram.services import services
from bot.telegram.supporters import SUPPORTER

log = logging.getLogger(__name__)
PATTERN = r"^rem:(done:.+|snooze|stop)$"


def reminder_keyboard(item_id: str, lang: str, translate: Translate) -> InlineKeyboardMarkup:
    """The reminder's buttons as a Telegram keyboard."""
    return InlineKeyboardMarkup(
        [[telegram_button(b) for b in row] for row in reminder_buttons(item_id, lang, translate)]
    )


def register(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """Add the handler for the three reminder buttons (pass to build_application's ``extra``)."""
    application.add_handler(CallbackQueryHandler(pressed, pattern=PATTERN))


async def pressed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Handle Done, Snooze or Stop under a reminder."""
    query = update.callback_query
    chat = update.effective_chat
    if query is None or chat is None or query.data is None:
        return
    app = services(context)
    sub = get_subscriber(app.store, chat.id)
    lang = sub.language if sub is not None else app.settings.campaign.default_language
    t = app.translate
    now = app.clock.now()
    keep: list[list[InlineKeyboardButton]] | None = None
    if query.data.startswith(DONE):
        item_id = item_of_done(query.data, app.library)
        if item_id is not None:
            day = now.astimezone(app.settings.zone).date().isoformat()
            count_action(app.store, item_id, day)  # an aggregate: who pressed is not kept
        answer = t(lang, "Thank you! Every action counts.")
        keep = _without(query, DONE)
    elif query.data == SNOOZE:
        when = snooze(app.store, chat.id, app.settings, now)
        if when is None:
            answer = t(lang, "Reminders are off. Turn them on in /settings.")
        else:
            zone = zone_of(sub, app.settings) if sub is not None else app.settings.zone
            local = when.astimezone(zone)
            answer = t(lang, "I will remind you tomorrow at {time}.", time=f"{local:%H:%M}")
        keep = _without(query, SNOOZE)
    elif query.data == STOP:
        stop_reminders(app.store, chat.id)
        # Anonymous, as /stop: the audit log outlives /forget, so it keeps no chat id.
        app.store.audit(SUPPORTER, "telegram", "stop-reminders", {})
        answer = t(lang, "Reminders are off. Turn them on in /settings.")
        keep = []
    else:
        return
    await query.answer(answer)
    await _update_buttons(query, keep)


def _without(query: Any, prefix: str) -> list[list[InlineKeyboardButton]] | None:
    """The message's buttons minus the one pressed (so Done cannot be counted twice)."""
    markup = query.message.reply_markup if query.message is not None else None
    if markup is None:
        return None
    rows = [
        [b for b in row if not (b.callback_data or "").startswith(prefix)]
        for row in markup.inline_keyboard
    ]
    return [row for row in rows if row]


async def _update_buttons(query: Any, rows: list[list[InlineKeyboardButton]] | None) -> None:
    if rows is None:
        return
    try:
        await query.edit_message_reply_markup(InlineKeyboardMarkup(rows) if rows else None)
    except BadRequest as exc:  # the message is too old to edit, or already edited
        log.info("could not update reminder buttons: %s", exc.message)
