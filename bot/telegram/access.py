"""The staff check on every staff command and button: allow-listed users only, refusals audited."""

from __future__ import annotations

import functools
import html
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from telegram import Update
from telegram.ext import ContextTypes

from bot.delivery.broadcasts import BroadcastError
from bot.store import PostError
from bot.telegram.services import BotServices, services
from bot.telegram.supporters import reply, user_lang

Handler = Callable[[Update, ContextTypes.DEFAULT_TYPE], Coroutine[Any, Any, None]]
StaffAction = Callable[[Update, ContextTypes.DEFAULT_TYPE, BotServices, str], Awaitable[None]]
# What a staff member can get wrong; the reply says what (other errors are bugs: logged).
STAFF_ERRORS = (PostError, BroadcastError, ValueError, KeyError)
MAX_DETAIL = 200  # characters of a refused command's arguments kept in the audit log


def actor_of(update: Update) -> str:
    user = update.effective_user
    return f"telegram:{user.id}" if user else "telegram:unknown"


def _refuse(update: Update, app: BotServices, action: str, detail: str) -> str:
    """Audit a refused attempt; return the refusal in the user's language."""
    app.store.audit(
        actor_of(update),
        "telegram",
        action[:50] or "staff",
        {"args": detail[:MAX_DETAIL]},
        allowed=False,
    )
    return app.translate(user_lang(app, update), "staff_only")


def staff_only(func: StaffAction) -> Handler:
    """Run a staff command only for allow-listed users; refuse and audit everyone else."""

    @functools.wraps(func)
    async def wrapper(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        app = services(context)
        user = update.effective_user
        message = update.effective_message
        text = (message.text or "") if message else ""
        command, _, detail = text.partition(" ")
        if user is None or not app.is_staff(user.id):
            await reply(update, _refuse(update, app, command.lstrip("/").split("@")[0], detail))
            return
        try:
            await func(update, context, app, actor_of(update))
        except STAFF_ERRORS as exc:
            await reply(update, f"⚠️ {html.escape(_reason(exc))}")

    return wrapper


def staff_button(func: StaffAction) -> Handler:
    """Handle a staff button only for allow-listed users; refuse and audit everyone else."""

    @functools.wraps(func)
    async def wrapper(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        if query is None:
            return
        app = services(context)
        user = update.effective_user
        if user is None or not app.is_staff(user.id):
            data = query.data or ""
            await query.answer(_refuse(update, app, "button", data), show_alert=True)
            return
        try:
            await func(update, context, app, actor_of(update))
        except STAFF_ERRORS as exc:
            await reply(update, f"⚠️ {html.escape(_reason(exc))}")

    return wrapper


def _reason(exc: Exception) -> str:
    return str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
