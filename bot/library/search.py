"""Find the items a supporter may share from inline mode: findings and demand cards."""

from __future__ import annotations

from bot.library.loader import Library
from bot.library.models import Item
from bot.library.selection import Publishable

SHAREABLE_KINDS = ("finding", "demand")
MAX_RESULTS = 50  # Telegram's limit per answer to an inline query


def _haystack(item: Item, lang: str) -> str:
    """What a query word may match: id, topics, hashtags, the text (also in English), source."""
    parts = [item.id, item.kind, *item.topics, *item.hashtags, item.text.get(lang, "")]
    parts.append(item.text.get("en", ""))  # a Latin keyword (irams) finds the card in Arabic
    if item.source is not None:
        parts += [item.source.publisher, item.source.title]
    return " ".join(parts).casefold()


def _matches(haystack: str, words: list[str]) -> bool:
    return all(word in haystack for word in words)


def shareable_items(
    library: Library, query: str, lang: str, publishable: Publishable, limit: int = MAX_RESULTS
) -> list[Item]:
    """The publishable findings and demands in ``lang`` matching every word of ``query``.

    A query that is exactly an item id (the Share button under a reminder or /facts) finds that
    item of any kind. Findings come first, newest source first, then demands.
    """
    words = query.casefold().split()
    exact = library.items.get(query.strip())
    if exact is not None and exact.kind != "update" and publishable(exact, lang):
        return [exact]
    found = [
        item
        for item in library.items.values()
        if item.kind in SHAREABLE_KINDS
        and publishable(item, lang)
        and _matches(_haystack(item, lang), words)
    ]
    found.sort(key=lambda item: item.source.date if item.source else "", reverse=True)
    found.sort(key=lambda item: SHAREABLE_KINDS.index(item.kind))
    return found[:limit]
