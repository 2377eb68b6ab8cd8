"""Consent, then language, topics, reminder frequency, day, time and zone (/start, /settings)."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from telegram import Update
from telegram.ext import ContextTypes

from bot.store.models import Subscriber
from bot.store.subscribers import consent, get_subscriber, update_subscriber
from bot.telegram import keyboards
from bot.telegram.i18n import LANGUAGE_NAMES, WEEKDAYS
from bot.telegram.services import BotServices, services
from bot.telegram.signup_start import count_link_signup, with_link_preset
from bot.telegram.supporters import SUPPORTER, reply, show, user_lang

ONBOARDING, SETTINGS = "o", "s"
_TIME = re.compile(r"^([01]?\d|2[0-3])[:.]([0-5]\d)$")
Step = Callable[[Update, BotServices, Subscriber, str], Awaitable[None]]


async def ask_language(update: Update, app: BotServices, sub: Subscriber, mode: str) -> None:
    await show(
        update,
        app.translate(sub.language, "Choose your language:"),
        keyboards.languages(app.settings.campaign.languages, mode, sub.language),
    )


async def ask_topics(update: Update, app: BotServices, sub: Subscriber, mode: str) -> None:
    await show(
        update,
        app.translate(sub.language, "ask_topics"),
        keyboards.topics(app.translate, sub.language, app.topics, sub.topic_list, mode),
    )


async def ask_frequency(update: Update, app: BotServices, sub: Subscriber, mode: str) -> None:
    await show(
        update,
        app.translate(sub.language, "ask_frequency"),
        keyboards.frequency(app.translate, sub.language, mode),
    )


async def ask_weekday(update: Update, app: BotServices, sub: Subscriber, mode: str) -> None:
    await show(
        update,
        app.translate(sub.language, "On which day?"),
        keyboards.weekdays(app.translate, sub.language, mode),
    )


async def ask_time(update: Update, app: BotServices, sub: Subscriber, mode: str) -> None:
    await show(update, app.translate(sub.language, "ask_time"), keyboards.times(mode))


async def ask_zone(update: Update, app: BotServices, sub: Subscriber, mode: str) -> None:
    await show(
        update,
        app.translate(sub.language, "ask_zone", zone=sub.time_zone),
        keyboards.zones(app.translate, sub.language, mode),
    )


async def show_settings(update: Update, app: BotServices, sub: Subscriber, mode: str) -> None:
    t, lang = app.translate, sub.language
    topics = ", ".join(t.topic(lang, topic) for topic in sub.topic_list) or t(lang, "none")
    reminder = t(lang, sub.reminder.capitalize())
    if sub.reminder == "weekly":
        reminder += f" ({t(lang, WEEKDAYS[sub.reminder_weekday])})"
    text = (
        f"<b>{t(lang, 'Your settings')}</b>\n"
        f"{t(lang, 'Language')}: {LANGUAGE_NAMES.get(lang, lang)}\n"
        f"{t(lang, 'Topics')}: {topics}\n"
        f"{t(lang, 'Reminders')}: {reminder}\n"
        f"{t(lang, 'Time')}: \u2068{sub.reminder_time}\u2069 (\u2068{sub.time_zone}\u2069)"
    )
    await show(update, text, keyboards.settings_menu(t, lang))


async def finish(update: Update, app: BotServices, sub: Subscriber, mode: str) -> None:
    await show(update, app.translate(sub.language, "subscribed"))


# What comes after each step during onboarding; in /settings every step returns to the menu.
NEXT: dict[str, Step] = {
    "lang": ask_topics,
    "topics": ask_frequency,
    "freq": ask_time,
    "day": ask_time,
    "time": ask_zone,
    "tz": finish,
}
MENU: dict[str, Step] = {
    "lang": ask_language,
    "topics": ask_topics,
    "rem": ask_frequency,
    "time": ask_time,
    "tz": ask_zone,
}


async def _next(update: Update, app: BotServices, chat_id: int, step: str, mode: str) -> None:
    sub = get_subscriber(app.store, chat_id)
    assert sub is not None
    if app.on_settings_changed is not None:
        app.on_settings_changed(chat_id)
    follow = NEXT[step] if mode == ONBOARDING else show_settings
    await follow(update, app, sub, mode)


async def consent_given(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    chat = update.effective_chat
    if query is None or chat is None:
        return
    await query.answer()
    app = services(context)
    starting = with_link_preset(context, app, _starting_settings(update, app, chat.id))
    sub = consent(app.store, chat.id, **starting)
    count_link_signup(context, app)
    app.store.audit(SUPPORTER, "telegram", "consent", {})
    if app.on_settings_changed is not None:
        app.on_settings_changed(chat.id)
    _set_mode(context, ONBOARDING)
    await ask_language(update, app, sub, ONBOARDING)


def _starting_settings(update: Update, app: BotServices, chat_id: int) -> dict[str, Any]:
    """Defaults for a new supporter; their own settings for one who blocked and came back."""
    old = get_subscriber(app.store, chat_id)
    if old is not None and old.consented_at is not None:  # never stopped or forgotten
        return {
            "language": old.language,
            "topics": old.topics,
            "reminder": old.reminder,
            "reminder_time": old.reminder_time,
            "reminder_weekday": old.reminder_weekday,
            "time_zone": old.time_zone,
        }
    return {
        "language": user_lang(app, update),
        "topics": " ".join(app.topics),
        "reminder": "weekly",
        "reminder_time": app.settings.reminders.default_time,
        "reminder_weekday": 0,
        "time_zone": app.settings.campaign.time_zone,
    }


def _set_mode(context: ContextTypes.DEFAULT_TYPE, mode: str) -> None:
    """Remember whether the supporter is onboarding, so a typed time continues that flow."""
    if context.user_data is not None:
        context.user_data["mode"] = mode


def _mode(context: ContextTypes.DEFAULT_TYPE) -> str:
    mode = context.user_data.get("mode") if context.user_data is not None else None
    return mode if mode in (ONBOARDING, SETTINGS) else SETTINGS


async def button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Every settings button: l: language, t: topic, f: frequency, d: day, h: time, z: zone."""
    query = update.callback_query
    chat = update.effective_chat
    if query is None or chat is None or query.data is None:
        return
    app = services(context)
    sub = get_subscriber(app.store, chat.id)
    if sub is None or sub.consented_at is None:
        await query.answer(app.translate(user_lang(app, update), "expired"), show_alert=True)
        return
    await query.answer()
    kind, _, rest = query.data.partition(":")
    value, _, mode = rest.rpartition(":")
    if mode not in (ONBOARDING, SETTINGS) or len(value) > 64:
        return
    # Choosing the time zone is the last onboarding step; afterwards typed text edits settings.
    _set_mode(context, SETTINGS if kind == "z" else mode)
    await HANDLERS[kind](update, context, app, sub, value, mode)


async def _language(
    update: Update, context: Any, app: BotServices, sub: Subscriber, value: str, mode: str
) -> None:
    if value in app.settings.campaign.languages:
        update_subscriber(app.store, sub.chat_id, language=value)
        await _next(update, app, sub.chat_id, "lang", mode)


async def _topic(
    update: Update, context: Any, app: BotServices, sub: Subscriber, value: str, mode: str
) -> None:
    if value == "-done":
        await _next(update, app, sub.chat_id, "topics", mode)
        return
    if value not in app.topics:
        return
    chosen = sub.topic_list
    chosen = [t for t in chosen if t != value] if value in chosen else [*chosen, value]
    updated = update_subscriber(app.store, sub.chat_id, topics=" ".join(chosen))
    assert updated is not None
    await ask_topics(update, app, updated, mode)


async def _frequency(
    update: Update, context: Any, app: BotServices, sub: Subscriber, value: str, mode: str
) -> None:
    if value not in ("daily", "weekly", "off"):
        return
    updated = update_subscriber(app.store, sub.chat_id, reminder=value)
    assert updated is not None
    if value == "weekly":
        await ask_weekday(update, app, updated, mode)
    elif value == "off":
        await _next(update, app, sub.chat_id, "time" if mode == ONBOARDING else "freq", mode)
    else:
        await _next(update, app, sub.chat_id, "freq", mode)


async def _weekday(
    update: Update, context: Any, app: BotServices, sub: Subscriber, value: str, mode: str
) -> None:
    if value.isdigit() and 0 <= int(value) <= 6:
        update_subscriber(app.store, sub.chat_id, reminder_weekday=int(value))
        await _next(update, app, sub.chat_id, "day", mode)


async def _time(
    update: Update, context: Any, app: BotServices, sub: Subscriber, value: str, mode: str
) -> None:
    if _TIME.match(value):
        update_subscriber(app.store, sub.chat_id, reminder_time=value)
        await _next(update, app, sub.chat_id, "time", mode)


async def _zone(
    update: Update, context: Any, app: BotServices, sub: Subscriber, value: str, mode: str
) -> None:
    if value != "-keep" and valid_zone(value):
        update_subscriber(app.store, sub.chat_id, time_zone=value)
    await _next(update, app, sub.chat_id, "tz", mode)


async def _menu(
    update: Update, context: Any, app: BotServices, sub: Subscriber, value: str, mode: str
) -> None:
    step = MENU.get(value)
    if step is not None:
        await step(update, app, sub, SETTINGS)


HANDLERS = {
    "l": _language,
    "t": _topic,
    "f": _frequency,
    "d": _weekday,
    "h": _time,
    "z": _zone,
    "s": _menu,
}


def valid_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return "/" in name or name == "UTC"


async def settings_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    app = services(context)
    chat = update.effective_chat
    sub = get_subscriber(app.store, chat.id) if chat else None
    if sub is None or sub.consented_at is None:
        await reply(update, app.translate(user_lang(app, update), "start_first"))
        return
    _set_mode(context, SETTINGS)
    await show_settings(update, app, sub, SETTINGS)


async def typed_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> bool:
    """Take a typed time (19:30) or time zone (Europe/Berlin); tell whether it was one."""
    app = services(context)
    chat, message = update.effective_chat, update.effective_message
    if chat is None or message is None or not message.text:
        return False
    sub = get_subscriber(app.store, chat.id)
    if sub is None or sub.consented_at is None:
        return False
    text = message.text.strip()
    mode = _mode(context)
    if match := _TIME.match(text):
        value = f"{int(match.group(1)):02d}:{match.group(2)}"
        update_subscriber(app.store, sub.chat_id, reminder_time=value)
        await reply(update, app.translate(sub.language, "Saved."))
        await _next(update, app, sub.chat_id, "time", mode)
        return True
    if "/" in text and " " not in text and len(text) <= 64:
        if not valid_zone(text):
            await reply(update, app.translate(sub.language, "bad_zone"))
            return True
        update_subscriber(app.store, sub.chat_id, time_zone=text)
        await reply(update, app.translate(sub.language, "Saved."))
        _set_mode(context, SETTINGS)
        await _next(update, app, sub.chat_id, "tz", mode)
        return True
    return False
