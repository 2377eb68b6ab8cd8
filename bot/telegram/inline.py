"""Inline mode: ``@bot irams`` in any chat offers sourced finding and demand cards to send.

Counting a share needs Telegram's inline feedback (BotFather: /setinlinefeedback); without it
Telegram sends no chosen_inline_result and shares are simply not counted.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from telegram import (
    InlineQueryResultArticle,
    InlineQueryResultsButton,
    InputTextMessageContent,
    Update,
)
from telegram.constants import ParseMode
from telegram.ext import Application, ChosenInlineResultHandler, ContextTypes, InlineQueryHandler

from bot.channels.telegram import MAX_MESSAGE_LENGTH
from bot.library import Item, shareable_items
from bot.render import RenderError
from bot.render.limits import telegram_length
from bot.store.subscribers import get_subscriber
from bot.store.tallies import count_share
from bot.telegram.services import BotServices, services
from bot.telegram.supporters import NO_PREVIEW, user_lang

log = logging.getLogger(__name__)
# Seconds Telegram may reuse an answer for the same user and query: short, so a correction
# or a retraction in the library reaches the picker within minutes.
CACHE_SECONDS = 300
MAX_RESULT_ID = 64  # bytes, Telegram's limit
# Opening the bot from the picker: an unknown payload, so the ordinary sign-up follows.
START_PARAMETER = "inline"


def register(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """Add the inline query and chosen result handlers (pass to build_application's ``extra``)."""
    application.add_handler(InlineQueryHandler(answer))
    application.add_handler(ChosenInlineResultHandler(chosen))


def result_id(item_id: str) -> str:
    """The item id, or a hash of it when too long for a result id."""
    if len(item_id.encode()) <= MAX_RESULT_ID:
        return item_id
    return "#" + hashlib.sha1(item_id.encode()).hexdigest()[:20]


def item_of_result(app: BotServices, value: str) -> str | None:
    """The item a chosen result stands for, or None if the library no longer has it."""
    if value in app.library.items:
        return value
    return next((i for i in app.library.items if result_id(i) == value), None)


def _language(update: Update, app: BotServices) -> str:
    """The user's subscriber language, else their Telegram language, else the default."""
    user = update.effective_user
    sub = get_subscriber(app.store, user.id) if user is not None else None
    if sub is not None and sub.consented_at is None:
        sub = None
    return user_lang(app, update, sub)


def _description(item: Item, lang: str) -> str:
    if item.source is None:
        return ""
    return f"{item.source.publisher}, {item.source.display_date(lang)}"


def _article(app: BotServices, item: Item, lang: str) -> InlineQueryResultArticle | None:
    try:
        text = app.renderer.render(item, "telegram", lang).text
    except RenderError as exc:  # `campaign-bot check` reports it; the card is left out
        log.error("cannot render %s for inline mode: %s", item.id, exc)
        return None
    if telegram_length(text) > MAX_MESSAGE_LENGTH:
        return None
    label = app.translate(lang, item.kind.capitalize())
    body = " ".join(item.text[lang].split())
    title = f"{label}: {body}"
    return InlineQueryResultArticle(
        id=result_id(item.id),
        title=title if len(title) <= 100 else title[:99] + "…",
        input_message_content=InputTextMessageContent(
            text, parse_mode=ParseMode.HTML, link_preview_options=NO_PREVIEW
        ),
        description=_description(item, lang),
    )


async def answer(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Offer the publishable cards matching the query, in the user's language."""
    query = update.inline_query
    if query is None:
        return
    app = services(context)
    lang = _language(update, app)
    items = shareable_items(app.library, query.query, lang, app.publishable)
    results = [article for item in items if (article := _article(app, item, lang)) is not None]
    await query.answer(
        results,
        cache_time=CACHE_SECONDS,
        is_personal=True,
        button=InlineQueryResultsButton(
            text=app.translate(lang, "Get reminders"), start_parameter=START_PARAMETER
        ),
    )


async def chosen(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Count a share of the chosen card (a total per item: who shared it is not kept)."""
    result = update.chosen_inline_result
    if result is None:
        return
    app = services(context)
    item_id = item_of_result(app, result.result_id)
    if item_id is not None:
        count_share(app.store, item_id)
