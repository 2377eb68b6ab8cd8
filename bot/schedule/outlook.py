"""What comes next, in words: the next few posts with their local times, for the start log."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.clock import Clock
from bot.config import Settings
from bot.library import Library
from bot.schedule.posting import build_queue
from bot.store import Store

HORIZONS = (7.0, 31.0)  # days looked ahead: a week, else a month


def coming_up(
    settings: Settings, library: Library, store: Store, clock: Clock, count: int = 5
) -> list[str]:
    """One line per post to come (skipped firings left out), soonest first; [] if none."""
    for days in HORIZONS:
        rows = [
            r
            for r in build_queue(settings, library, store, clock, days)
            if not r.state.startswith("skip") and r.utc >= clock.now().strftime("%Y-%m-%dT%H:%MZ")
        ]
        if rows:
            return [
                f"{r.local}: {r.item} ({r.lang}) on {','.join(r.channels)} [{r.origin}, {r.state}]"
                for r in rows[:count]
            ]
    return []


def next_post_at(
    settings: Settings, library: Library, store: Store, clock: Clock
) -> datetime | None:
    """When the next post goes out (a one-off or a rule firing), within a month."""
    now = clock.now().strftime("%Y-%m-%dT%H:%MZ")
    for days in HORIZONS:
        for row in build_queue(settings, library, store, clock, days):
            if not row.state.startswith("skip") and row.utc >= now:
                return datetime.strptime(row.utc, "%Y-%m-%dT%H:%MZ").replace(tzinfo=UTC)
    return None
