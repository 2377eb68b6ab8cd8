"""Choose what a supporter sees: the current call to action and the latest findings."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from bot.library.loader import Library
from bot.library.models import Item

Publishable = Callable[[Item, str], bool]


def current_call_to_action(
    library: Library, topics: Sequence[str], lang: str, publishable: Publishable
) -> Item | None:
    """Return the action (else demand) sharing most topics with the supporter, in library order."""
    wanted = set(topics)
    for kind in ("action", "demand"):
        ranked = sorted(
            (
                item
                for item in library.items.values()
                if item.kind == kind and publishable(item, lang)
            ),
            key=lambda item: -len(wanted & set(item.topics)),
        )
        if ranked:
            return ranked[0]
    return None


def latest_findings(
    library: Library, topics: Sequence[str], lang: str, publishable: Publishable, limit: int = 3
) -> list[Item]:
    """Return the findings on the supporter's topics with the newest sources first."""
    wanted = set(topics)
    findings = [
        item
        for item in library.items.values()
        if item.kind == "finding"
        and publishable(item, lang)
        and (not wanted or wanted & set(item.topics))
    ]
    findings.sort(key=lambda item: item.source.date if item.source else "", reverse=True)
    return findings[:limit]
