"""Act on corrections and retractions as soon as the worker sees them: reload the library,
skip the item's pending posts, broadcasts and reminders, and tell staff how many."""

from __future__ import annotations

import asyncio
import logging

from bot.clock import Clock
from bot.delivery.notify import Notifier
from bot.library import Item, Library
from bot.library.reload import library_stamp, reload_library
from bot.plurals import counted
from bot.store import Store
from bot.store.corrections import (
    Skipped,
    forget_status,
    published_deliveries,
    seen_statuses,
    withdraw_item,
)

log = logging.getLogger(__name__)


class StatusWatch:
    """Runs before each publishing tick: a status added to the library takes effect in it."""

    def __init__(self, library: Library, store: Store, clock: Clock, notifier: Notifier) -> None:
        self.library = library
        self.store = store
        self.clock = clock
        self.notifier = notifier
        self.stamp = library_stamp(library.root)
        self._synced = False
        self._told_problems: object = None

    async def check(self) -> None:
        """Reload the library if its files changed; act on statuses not acted on yet."""
        reloaded = await self._reload()
        if not reloaded and self._synced:
            return
        acted = await asyncio.to_thread(self.sync)
        self._synced = True
        for item, skipped in acted:
            published = await asyncio.to_thread(published_deliveries, self.store, item.id)
            await self.notifier.notify_staff(notice(item, skipped, len(published)))

    async def _reload(self) -> bool:
        stamp = library_stamp(self.library.root)
        if stamp == self.stamp:
            return False
        problems = await asyncio.to_thread(reload_library, self.library)
        if problems:
            if self._told_problems != stamp:  # once per version of the files
                self._told_problems = stamp
                await self.notifier.notify_staff(
                    f"The message library changed but has {len(problems)} problem(s), so the "
                    f"bot keeps the version it had (first: {problems[0]}). Run `campaign-bot "
                    "check`, fix the files, and the bot reloads them."
                )
            return False
        self.stamp = stamp
        log.info("message library reloaded (%d items)", len(self.library.items))
        return True

    def sync(self) -> list[tuple[Item, Skipped]]:
        """Skip the pending work of every newly corrected or retracted item, once; return
        the items acted on (another process may have acted on some already)."""
        seen = seen_statuses(self.store)
        current = {i.id: i for i in self.library.items.values() if i.status is not None}
        notices = []
        for item in current.values():
            assert item.status is not None
            if seen.get(item.id) == item.status.state:
                continue
            reason = f"{item.id} was {item.status.summary()}"
            skipped = withdraw_item(
                self.store, item.id, item.status.state, reason, self.clock.now()
            )
            if skipped is not None:
                log.warning("%s; skipped %d pending posts and messages", reason, skipped.total)
                notices.append((item, skipped))
        for item_id in seen.keys() - current.keys():
            forget_status(self.store, item_id)
        return notices


def notice(item: Item, skipped: Skipped, published: int) -> str:
    """What staff read in chat when the worker first sees a correction or retraction."""
    assert item.status is not None
    parts = [
        counted(skipped.posts, "scheduled post"),
        counted(skipped.deliveries, "pending delivery").replace("deliverys", "deliveries"),
        counted(skipped.broadcast_messages, "broadcast message"),
        counted(skipped.reminders, "reminder"),
    ]
    cancelled = (
        f" ({counted(skipped.broadcasts, 'broadcast')} stopped)" if skipped.broadcasts else ""
    )
    reply = (
        f" It went out in {counted(published, 'post')}: `campaign-bot correct {item.id}` "
        "replies under each."
        if published
        else " It was never published, so there is nothing to correct."
    )
    return (
        f"{item.id} was {item.status.summary().rstrip('.')}. Skipped {skipped.total} in all: "
        f"{', '.join(parts)}{cancelled}. Rotation, /facts and /act no longer offer it.{reply}"
    )
