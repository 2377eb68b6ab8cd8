"""Supporter commands in private chats: /start, /act, /facts, /privacy, /help, /stop, /forget."""

from __future__ import annotations

import html
import logging

from telegram import InlineKeyboardMarkup, LinkPreviewOptions, Update
from telegram.constants import ChatMemberStatus, ParseMode
from telegram.error import BadRequest
from telegram.ext import ContextTypes

from bot.channels.telegram import MAX_MESSAGE_LENGTH, split_html
from bot.library import current_call_to_action, latest_findings
from bot.render import RenderError
from bot.render.limits import telegram_length
from bot.store.models import Subscriber
from bot.store.subscribers import deactivate, forget, get_subscriber, stop
from bot.telegram import keyboards
from bot.telegram.services import BotServices, services
from bot.telegram.signup_start import remember_link

log = logging.getLogger(__name__)
NO_PREVIEW = LinkPreviewOptions(is_disabled=True)
# Supporters' own actions are audited without their chat id: /forget must leave nothing.
SUPPORTER = "telegram:supporter"


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
    """Answer in the chat the update came from, in HTML, without link previews.

    A text longer than Telegram's 4096 characters goes out as several messages, cut at
    paragraphs or lines; the buttons go under the last one.
    """
    chat = update.effective_chat
    if chat is None:
        return
    parts = split_html(text) if telegram_length(text) > MAX_MESSAGE_LENGTH else [text]
    for number, part in enumerate(parts, start=1):
        await chat.send_message(
            part,
            parse_mode=ParseMode.HTML,
            reply_markup=reply_markup if number == len(parts) else None,
            link_preview_options=NO_PREVIEW,
        )


async def show(update: Update, text: str, markup: InlineKeyboardMarkup | None = None) -> None:
    """Replace the message a button was on; fall back to a new message."""
    query = update.callback_query
    if query is not None and query.message is not None:
        try:
            await query.edit_message_text(
                text,
                reply_markup=markup,
                parse_mode=ParseMode.HTML,
                link_preview_options=NO_PREVIEW,
            )
            return
        except BadRequest as exc:  # unchanged text, or a message too old to edit
            if "not modified" in str(exc).lower():
                return
            log.info("could not edit a message, sending a new one: %s", exc.message)
    await reply(update, text, reply_markup=markup)


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Introduce the campaign and ask for consent; a subscriber is told they already are."""
    app = services(context)
    subscriber = _subscriber(update, app)
    preset = remember_link(context, app)
    lang = user_lang(app, update, subscriber)
    if subscriber is None and preset is not None and preset.language:
        lang = preset.language  # a Kurdish poster greets in Kurdish
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
    if subscriber is not None and subscriber.active:
        await reply(update, t(lang, "subscribed"))
        return
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
            "/failed /broadcast /cancelbroadcast"
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
    try:
        text = app.renderer.render(item, "telegram", lang).text if item else None
    except RenderError as exc:  # `campaign-bot check` reports it; the supporter gets a reply
        log.error("cannot render %s for /act: %s", item.id if item else "-", exc)
        text = None
    await reply(update, text or app.translate(lang, "no_action"))


async def facts(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    app = services(context)
    lang, topics = _audience(update, app)
    posts: list[tuple[str, str]] = []
    for item in latest_findings(app.library, topics, lang, app.publishable):
        try:
            posts.append((item.id, app.renderer.render(item, "telegram", lang).text))
        except RenderError as exc:
            log.error("cannot render %s for /facts: %s", item.id, exc)
    if not posts:
        await reply(update, app.translate(lang, "no_findings"))
        return
    texts = [post for _, post in posts]
    text = f"<b>{app.translate(lang, 'Latest findings')}</b>\n\n" + "\n\n— — —\n\n".join(texts)
    # Share opens inline mode: one finding's card under its own message, else the picker.
    if telegram_length(text) > MAX_MESSAGE_LENGTH:  # one finding per message, each whole
        for item_id, post in posts:
            await reply(update, post, reply_markup=keyboards.share(app.translate, lang, item_id))
        return
    query = posts[0][0] if len(posts) == 1 else ""
    await reply(update, text, reply_markup=keyboards.share(app.translate, lang, query))


async def stop_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    app = services(context)
    chat = update.effective_chat
    lang = user_lang(app, update, _subscriber(update, app))
    if chat is not None and stop(app.store, chat.id):
        app.store.audit(SUPPORTER, "telegram", "stop", {})
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
        for data in (context.user_data, context.chat_data):
            if data is not None:
                data.clear()
        app.store.audit(SUPPORTER, "telegram", "forget", {})
        text = app.translate(lang, "Everything about you has been deleted.")
    else:
        text = app.translate(lang, "Nothing was deleted.")
    await show(update, text)


async def chat_member(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A supporter blocked the bot (or unblocked it): deactivate; they reactivate with /start."""
    member = update.my_chat_member
    if member is None or member.chat.type != "private":
        return
    if member.new_chat_member.status in (ChatMemberStatus.BANNED, ChatMemberStatus.LEFT):
        deactivate(services(context).store, member.chat.id, "blocked the bot")
        log.info("a supporter blocked the bot; deactivated")
