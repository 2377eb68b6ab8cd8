"""Inline keyboards for the supporter flow; callback data stays short ASCII (64-byte limit)."""

from __future__ import annotations

from collections.abc import Sequence

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.delivery.private import Button
from bot.telegram.i18n import LANGUAGE_NAMES, WEEKDAYS, Translator

TIMES = ("08:00", "12:00", "18:00", "20:00")
ZONES = (
    "Asia/Baghdad",
    "Europe/Istanbul",
    "Europe/Berlin",
    "Europe/London",
    "America/New_York",
    "UTC",
)


def _rows(buttons: Sequence[InlineKeyboardButton], width: int) -> list[list[InlineKeyboardButton]]:
    return [list(buttons[i : i + width]) for i in range(0, len(buttons), width)]


def consent(t: Translator, lang: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton(t(lang, "I agree"), callback_data="c:ok")]])


def languages(
    languages: Sequence[str], mode: str, current: str | None = None
) -> InlineKeyboardMarkup:
    """One button per language; ``current`` (preset by a sign-up link, or chosen) is ticked."""
    buttons = [
        InlineKeyboardButton(
            ("✅ " if code == current else "") + LANGUAGE_NAMES.get(code, code),
            callback_data=f"l:{code}:{mode}",
        )
        for code in languages
    ]
    return InlineKeyboardMarkup([buttons])


def topics(
    t: Translator, lang: str, all_topics: Sequence[str], chosen: Sequence[str], mode: str
) -> InlineKeyboardMarkup:
    buttons = [
        InlineKeyboardButton(
            ("✅ " if topic in chosen else "▫️ ") + t.topic(lang, topic),
            callback_data=f"t:{topic}:{mode}",
        )
        for topic in all_topics
    ]
    done = InlineKeyboardButton(t(lang, "Done"), callback_data=f"t:-done:{mode}")
    return InlineKeyboardMarkup([*_rows(buttons, 1), [done]])


def frequency(t: Translator, lang: str, mode: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(t(lang, label), callback_data=f"f:{value}:{mode}")
                for value, label in (("daily", "Daily"), ("weekly", "Weekly"), ("off", "Off"))
            ]
        ]
    )


def weekdays(t: Translator, lang: str, mode: str) -> InlineKeyboardMarkup:
    buttons = [
        InlineKeyboardButton(t(lang, day), callback_data=f"d:{i}:{mode}")
        for i, day in enumerate(WEEKDAYS)
    ]
    return InlineKeyboardMarkup(_rows(buttons, 4))


def times(mode: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(value, callback_data=f"h:{value}:{mode}") for value in TIMES]]
    )


def zones(t: Translator, lang: str, mode: str) -> InlineKeyboardMarkup:
    buttons = [InlineKeyboardButton(zone, callback_data=f"z:{zone}:{mode}") for zone in ZONES]
    keep = InlineKeyboardButton(t(lang, "Keep"), callback_data=f"z:-keep:{mode}")
    return InlineKeyboardMarkup([*_rows(buttons, 2), [keep]])


def settings_menu(t: Translator, lang: str) -> InlineKeyboardMarkup:
    entries = (
        ("lang", "Language"),
        ("topics", "Topics"),
        ("rem", "Reminders"),
        ("time", "Time"),
        ("tz", "Time zone"),
    )
    buttons = [
        InlineKeyboardButton(t(lang, label), callback_data=f"s:{key}:s") for key, label in entries
    ]
    return InlineKeyboardMarkup(_rows(buttons, 3))


def telegram_button(button: Button) -> InlineKeyboardButton:
    """A fan-out button as Telegram's: a callback button, or a Share button (inline mode)."""
    if button.share is not None:
        return InlineKeyboardButton(button.label, switch_inline_query=button.share)
    return InlineKeyboardButton(button.label, callback_data=button.data)


def share(t: Translator, lang: str, query: str = "") -> InlineKeyboardMarkup:
    """A Share button: the supporter picks a chat, then a card from the bot's inline mode."""
    label = "📤 " + t(lang, "Share")
    return InlineKeyboardMarkup([[InlineKeyboardButton(label, switch_inline_query=query)]])


def forget_confirm(t: Translator, lang: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(t(lang, "Yes, delete everything"), callback_data="x:yes"),
                InlineKeyboardButton(t(lang, "Cancel"), callback_data="x:no"),
            ]
        ]
    )


def broadcast_confirm(number: int) -> InlineKeyboardMarkup:
    """Send or drop a planned broadcast (staff only; the interface for staff is English)."""
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton("📣 Send", callback_data=f"bc:go:{number}"),
                InlineKeyboardButton("Cancel", callback_data=f"bc:no:{number}"),
            ]
        ]
    )
