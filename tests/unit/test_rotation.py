"""Rotation: no repeat on a channel inside the window, weighted topics, deterministic picks."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

from bot.library import Item
from bot.schedule.rotation import History, pick_item

START = datetime(2026, 1, 1, 9, tzinfo=UTC)


def items(n: int, topic: str = "weapons") -> list[Item]:
    pool = [
        Item(
            id=f"{topic}-{i}",
            kind="finding",
            topics=[topic],
            text={"en": "x"},
            confidence="corrected",
            source={"publisher": "P", "title": "T", "url": "https://e.org", "date": "2017-07"},
        )
        for i in range(n)
    ]
    for item in pool:
        item.set_reviewed(frozenset({"en"}))
    return pool


def run_days(pool: list[Item], days: int, window: int, weights: dict[str, float]) -> list[str]:
    history: History = {}
    picked = []
    for day in range(days):
        at = START + timedelta(days=day)
        item = pick_item(
            pool,
            ["x"],
            history,
            key=f"daily@{at.isoformat()}",
            at=at,
            window=timedelta(days=window),
            weights=weights,
        )
        assert item is not None
        history[(item.id, "x")] = at
        picked.append(item.id)
    return picked


def test_no_repeat_inside_the_window() -> None:
    picked = run_days(items(20), days=200, window=14, weights={})
    for i, item_id in enumerate(picked):
        assert item_id not in picked[max(0, i - 13) : i], (i, item_id)


def test_every_item_gets_its_turn() -> None:
    picked = run_days(items(10), days=100, window=7, weights={})
    counts = Counter(picked)
    assert len(counts) == 10
    assert max(counts.values()) - min(counts.values()) <= 8


def test_small_library_falls_back_to_least_recently_used() -> None:
    pool = items(3)
    picked = run_days(pool, days=9, window=14, weights={})
    assert picked[:3] == picked[3:6] == picked[6:9]
    assert len(set(picked[:3])) == 3


def test_topic_weights_shift_the_share() -> None:
    pool = items(5, "weapons") + items(5, "aid")
    picked = run_days(pool, days=2000, window=1, weights={"weapons": 3.0})
    weapons = sum(1 for p in picked if p.startswith("weapons"))
    assert 0.65 < weapons / len(picked) < 0.85


def test_deterministic_given_history() -> None:
    assert run_days(items(12), 60, 14, {}) == run_days(items(12), 60, 14, {})


def test_other_channels_do_not_block() -> None:
    pool = items(2)
    history: History = {("weapons-0", "mastodon"): START, ("weapons-1", "x"): START}
    item = pick_item(
        pool,
        ["x"],
        history,
        key="k",
        at=START + timedelta(hours=1),
        window=timedelta(days=14),
        weights={},
    )
    assert item is not None and item.id == "weapons-0"


def test_empty_pool() -> None:
    assert (
        pick_item([], ["x"], {}, key="k", at=START, window=timedelta(days=1), weights={}) is None
    )
