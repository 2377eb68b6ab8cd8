"""Choose the item a rule publishes: no repeat inside the window, topics weighted."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from bot.library import Item

# (item id, channel) -> when it was last published or planned there.
History = dict[tuple[str, str], datetime]


def _uniform(key: str, item_id: str) -> float:
    digest = hashlib.sha256(f"{key}|{item_id}".encode()).digest()
    return (int.from_bytes(digest[:8], "big") + 1) / (2**64 + 2)


def item_weight(item: Item, weights: Mapping[str, float]) -> float:
    return max((weights.get(topic, 1.0) for topic in item.topics), default=1.0)


def pick_item(
    candidates: Sequence[Item],
    channels: Sequence[str],
    history: History,
    *,
    key: str,
    at: datetime,
    window: timedelta,
    weights: Mapping[str, float],
) -> Item | None:
    """Pick one item for a firing identified by ``key``; None when there is no candidate.

    Items used on any of ``channels`` inside ``window`` are left out; if that leaves none,
    the least recently used item is taken. Among the rest, weighted rendezvous hashing gives
    each item a chance proportional to its topic weight, the same every time for the same key.
    """
    if not candidates:
        return None

    def last_used(item: Item) -> datetime | None:
        times = [history[(item.id, ch)] for ch in channels if (item.id, ch) in history]
        return max(times) if times else None

    fresh = [
        item for item in candidates if (used := last_used(item)) is None or at - used >= window
    ]
    if not fresh:
        oldest = min(last_used(item) for item in candidates)  # type: ignore[type-var]
        fresh = [item for item in candidates if last_used(item) == oldest]
    return min(
        fresh, key=lambda item: -math.log(_uniform(key, item.id)) / item_weight(item, weights)
    )
