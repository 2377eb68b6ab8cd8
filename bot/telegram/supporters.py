"""Supporter commands in private chats: /start, /act, /facts, /privacy, /help, /stop, /forget."""

from __future__ import annotations

import html
import logging

from telegram import InlineKeyboardMarkup, LinkPreviewOptions, Update
from telegram.constants import ChatMemberStatus, ParseMode
from telegram.ext import ContextTypes

from bot.library import current_call_to_action, latest_findings
from bot.store.models import Subscriber
from bot.store.subscribers import deactivate, forget, get_subscriber, stop
from bot.telegram import keyboards
from bot.telegram.services import BotServices, services

log = logging.getLogger(__name__)
NO_PREVIEW = LinkPreviewOptions(is_disabled=True)


def user_lang(app: BotServices, update: Update, subscriber: Subscriber | None = None) -> str:
    """The supporter's language, else their Telegram language if we have it, else the default."""
    if subscriber is not None:
        return subscriber.language
    code = update.effective_user.language_code if update.effective_user else None
    if code and code.split("-")[0] in app.settings.campaign.languages:
        return code.split("-")[0]
    return app.settings.campaign.default_language


async def reply(
    update: Update, text: str, reply_markup: InlineKeyboardMarkup | None = None
) -> None:
    """Answer in the chat the update came from, in HTML, without link previews."""
    chat = update.effective_chat
    if chat is not None:
        await chat.send_message(
            text,
            parse_mode=ParseMode.HTML,
            reply_markup=reply_markup,
            link_preview_options=NO_PREVIEW,
        )


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    app = services(context)
    lang = user_lang(app, update)
    t = app.translate
    campaign = app.settings.campaign
    await reply(
        update,
        t(
            lang,
            "intro",
            campaign=html.escape(campaign.name),
            description=html.escape(campaign.description),
        ),
    )
    await reply(update, t(lang, "privacy"), reply_markup=keyboards.consent(t, lang))


async def privacy(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    app = services(context)
    await reply(update, app.translate(user_lang(app, update, _subscriber(update, app)), "privacy"))


async def help_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    app = services(context)
    lang = user_lang(app, update, _subscriber(update, app))
    text = app.translate(lang, "help")
    if app.is_staff(update.effective_user.id if update.effective_user else None):
        text += (
            "\n\nStaff: /queue /preview /post /approve /cancel /pause /resume /stats "
            "/failed /broadcast"
        )
    await reply(update, text)


async def unknown(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    app = services(context)
    lang = user_lang(app, update, _subscriber(update, app))
    await reply(update, app.translate(lang, "not_understood"))


def _subscriber(update: Update, app: BotServices) -> Subscriber | None:
    chat = update.effective_chat
    if chat is None:
        return None
    row = get_subscriber(app.store, chat.id)
    return row if row is not None and row.consented_at is not None else None


def _audience(update: Update, app: BotServices) -> tuple[str, list[str]]:
    """The language and topics to answer in: the supporter's, or defaults for a visitor."""
    subscriber = _subscriber(update, app)
    return user_lang(app, update, subscriber), subscriber.topic_list if subscriber else []


async def act(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    app = services(context)
    lang, topics = _audience(update, app)
    item = current_call_to_action(app.library, topics, lang, app.publishable)
    if item is None:
        await reply(update, app.translate(lang, "no_action"))
        return
    await reply(update, app.renderer.render(item, "telegram", lang).text)


async def facts(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    app = services(context)
    lang, topics = _audience(update, app)
    found = latest_findings(app.library, topics, lang, app.publishable)
    if not found:
        await reply(update, app.translate(lang, "no_findings"))
        return
    posts = [app.renderer.render(item, "telegram", lang).text for item in found]
    text = f"<b>{app.translate(lang, 'Latest findings')}</b>\n\n" + "\n\n— — —\n\n".join(posts)
    if len(text) > 4000:  # stay inside one message: send them one by one instead
        for post in posts:
            await reply(update, post)
        return
    await reply(update, text)


async def stop_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    app = services(context)
    chat = update.effective_chat
    lang = user_lang(app, update, _subscriber(update, app))
    if chat is not None:
        stop(app.store, chat.id)
        app.store.audit(f"telegram:{chat.id}", "telegram", "stop", {})
    await reply(update, app.translate(lang, "unsubscribed"))


async def forget_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    app = services(context)
    lang = user_lang(app, update, _subscriber(update, app))
    t = app.translate
    await reply(update, t(lang, "forget_confirm"), reply_markup=keyboards.forget_confirm(t, lang))


async def forget_answer(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    app = services(context)
    if query is None or update.effective_chat is None:
        return
    await query.answer()
    lang = user_lang(app, update, _subscriber(update, app))
    if query.data == "x:yes":
        forget(app.store, update.effective_chat.id)
        if context.user_data is not None:
            context.user_data.clear()
        # The audit log keeps no chat id for a forgotten supporter.
        app.store.audit("telegram:supporter", "telegram", "forget", {})
        text = app.translate(lang, "Everything about you has been deleted.")
    else:
        text = app.translate(lang, "Nothing was deleted.")
    await query.edit_message_text(text)


async def chat_member(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A supporter blocked the bot (or unblocked it): deactivate; they reactivate with /start."""
    member = update.my_chat_member
    if member is None or member.chat.type != "private":
        return
    if member.new_chat_member.status in (ChatMemberStatus.BANNED, ChatMemberStatus.LEFT):
        deactivate(services(context).store, member.chat.id, "blocked the bot")
        log.info("a supporter blocked the bot; deactivated")
