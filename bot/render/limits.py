"""Per-channel post length rules: how each network counts a post and its limit."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import grapheme
from mastodon import Mastodon
from twitter_text import parse_tweet

_HTML_TAG = re.compile(r"<[^>]+>")
_HTML_ENTITY = re.compile(r"&(lt|gt|amp|quot|#39|#x27);")
_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"', "#39": "'", "#x27": "'"}

# The app.bsky.feed.post lexicon caps `text` twice: 300 graphemes and 3000 UTF-8 bytes.
BLUESKY_MAX_GRAPHEMES = 300
BLUESKY_MAX_BYTES = 3000
_BYTES_PER_GRAPHEME = BLUESKY_MAX_BYTES // BLUESKY_MAX_GRAPHEMES


def x_length(text: str) -> int:
    """Return the weighted length X counts (twitter-text v3).

    URLs count 23; CJK, emoji sequences and the bidi controls (U+200E/F, U+202A-E,
    U+2066-9) count 2 each, as in twitter-text's own conformance cases.
    """
    return int(parse_tweet(text).weightedLength)


def mastodon_length(text: str) -> int:
    """Return the length Mastodon counts: graphemes, a linked URL as 23, ``@user@domain`` as
    ``@user``.

    Mastodon.py's counter ports the server's StatusLengthValidator, including its URL regex and
    TLD list: punctuation or a bidi isolate after a URL is text, and a URL whose TLD Mastodon
    does not know is not linked, so it counts in full. The content warning counts too; pass it
    to ``Mastodon.get_status_length`` where it matters.
    """
    return int(Mastodon.get_status_length(text))


def bluesky_length(text: str) -> int:
    """Return the graphemes Bluesky counts in the text as sent (URLs in full), or more when
    the text breaks the 3000-byte cap.

    Both caps of the post lexicon fold into the one limit of 300: a text over 3000 UTF-8 bytes
    counts as its bytes / 10 (rounded up, so at least 301) when that is more than its
    graphemes. Heavy emoji sequences (a family is one grapheme, 25 bytes) reach the byte cap
    long before 300 graphemes.
    """
    graphemes = int(grapheme.length(text))
    size = len(text.encode("utf-8"))
    if size <= BLUESKY_MAX_BYTES:
        return graphemes
    return max(graphemes, -(-size // _BYTES_PER_GRAPHEME))


def bluesky_bytes_note(text: str) -> str | None:
    """Say why a Bluesky post is over length when the byte cap, not graphemes, is the reason."""
    size = len(text.encode("utf-8"))
    if size <= BLUESKY_MAX_BYTES:
        return None
    return (
        f"Bluesky also caps a post at {BLUESKY_MAX_BYTES} UTF-8 bytes and this one has {size} "
        f"({grapheme.length(text)} graphemes); the length counts 10 bytes as one"
    )


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
    # Explains an over-length text whose length is not the plain count (Bluesky's byte cap).
    explain: Callable[[str], str | None] | None = None


RULES: dict[str, LengthRule] = {
    "telegram": LengthRule("telegram", 4096, telegram_length),
    "x": LengthRule("x", 280, x_length),
    "mastodon": LengthRule("mastodon", 500, mastodon_length),
    "bluesky": LengthRule(
        "bluesky", BLUESKY_MAX_GRAPHEMES, bluesky_length, explain=bluesky_bytes_note
    ),
    "console": LengthRule("console", 4096, plain_length),
}
