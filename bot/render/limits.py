"""Per-channel post length rules: how each network counts a post and its limit."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

import grapheme
from twitter_text import parse_tweet

# Mastodon counts every http(s) URL as 23 characters, whatever its real length.
_MASTODON_URL = re.compile(r"https?://[^\s<>\"]+", re.IGNORECASE)
MASTODON_URL_WEIGHT = 23
_HTML_TAG = re.compile(r"<[^>]+>")
_HTML_ENTITY = re.compile(r"&(lt|gt|amp|quot|#39|#x27);")
_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"', "#39": "'", "#x27": "'"}


def x_length(text: str) -> int:
    """Return the weighted length X counts (twitter-text v3: URLs 23, CJK and emoji 2)."""
    return int(parse_tweet(text).weightedLength)


def mastodon_length(text: str) -> int:
    """Return the length Mastodon counts: code points, every URL as 23."""
    total = 0
    last = 0
    for match in _MASTODON_URL.finditer(text):
        total += len(text[last : match.start()]) + MASTODON_URL_WEIGHT
        last = match.end()
    return total + len(text[last:])


def bluesky_length(text: str) -> int:
    """Return the number of graphemes Bluesky counts (NFC, URLs in full)."""
    return int(grapheme.length(unicodedata.normalize("NFC", text)))


def telegram_length(html: str) -> int:
    """Return the length of a Telegram HTML message as Telegram counts it (text after parsing)."""
    visible = _HTML_ENTITY.sub(lambda m: _ENTITIES[m.group(1)], _HTML_TAG.sub("", html))
    # Telegram counts UTF-16 code units.
    return len(visible.encode("utf-16-le")) // 2


def plain_length(text: str) -> int:
    """Return the number of code points (console has no real limit)."""
    return len(text)


@dataclass(frozen=True)
class LengthRule:
    """How one channel measures a post and how long it may be."""

    channel: str
    limit: int
    measure: Callable[[str], int]


RULES: dict[str, LengthRule] = {
    "telegram": LengthRule("telegram", 4096, telegram_length),
    "x": LengthRule("x", 280, x_length),
    "mastodon": LengthRule("mastodon", 500, mastodon_length),
    "bluesky": LengthRule("bluesky", 300, bluesky_length),
    "console": LengthRule("console", 4096, plain_length),
}
