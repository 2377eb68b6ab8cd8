"""Build t.me deep links for sign-up codes and turn a /start payload into a preset."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from bot.config import Settings, SignupLink

# Telegram usernames: 5-32 characters, letters, digits and underscores, starting with a letter.
USERNAME_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_]{3,31}$")
_PAYLOAD = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def valid_username(name: str) -> bool:
    """Tell whether ``name`` (without @) is a possible Telegram bot username."""
    return bool(USERNAME_PATTERN.fullmatch(name))


def bot_link(username: str) -> str:
    """The link that opens a chat with the bot (the ordinary /start)."""
    return f"https://t.me/{username}"


def signup_url(username: str, code: str) -> str:
    """The deep link that starts the bot with ``code`` as the /start payload."""
    return f"{bot_link(username)}?start={code}"


@dataclass(frozen=True)
class LinkPreset:
    """What a sign-up link preselects: its code (for the total), language and topics."""

    code: str
    language: str | None
    topics: tuple[str, ...]


def preset_for(
    payload: str | None, settings: Settings, topics: Sequence[str]
) -> LinkPreset | None:
    """The preset of a /start payload, or None for no, a malformed or an unknown code.

    Topics the library does not have (any more) are dropped; a link without topics, or with
    none left, preselects nothing, so the ordinary default (every topic) applies.
    """
    if not payload or not _PAYLOAD.fullmatch(payload):
        return None
    link = settings.signup_link(payload)
    if link is None:
        return None
    known = [topic for topic in link.topics if topic in topics]
    return LinkPreset(link.code, link.language, tuple(known))


def link_for_language(settings: Settings, lang: str) -> SignupLink | None:
    """The first configured sign-up link for ``lang`` (the channel's "Get reminders" button)."""
    return next((link for link in settings.signup_links if link.language == lang), None)
