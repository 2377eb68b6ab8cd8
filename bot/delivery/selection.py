"""Broadcast bookkeeping for the fan-out: recipients, feeds and lane rates, texts, completion."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from bot.channels.base import ErrorKind
from bot.clock import Clock
from bot.config import Settings
from bot.delivery.notify import Notifier
from bot.delivery.private import RecipientError
from bot.library import Library
from bot.render import Renderer, RenderError
from bot.schedule.reminders import blackout_reason
from bot.store import BlackoutWindow, Broadcast, Store
from bot.store.audience import (
    ACTIVE_BROADCAST,
    BroadcastStatus,
    finish_if_done,
    get_broadcast,
    list_broadcasts,
    mark_started,
    materialize_batch,
)
from bot.store.blackouts import stored_blackouts
from bot.store.private_outbox import Pulse, pulse, status_counts

if TYPE_CHECKING:
    from bot.delivery.fanout import FanOut

log = logging.getLogger(__name__)
MAX_TEXT = 4096  # Telegram's limit for one message


def publishable_languages(
    library: Library, settings: Settings, item_id: str, lang: str | None
) -> list[str]:
    """The languages a broadcast of ``item_id`` may go out in (``lang`` alone, if given)."""
    item = library.items.get(item_id)
    if item is None:
        return []
    wanted = [lang] if lang else settings.campaign.languages
    return [code for code in wanted if item.publishable(code, settings.publish_unreviewed)]


def summary(broadcast: Broadcast, counts: dict[str, int]) -> str:
    """One line on a finished broadcast for staff."""
    parts = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
    line = (
        f"Broadcast {broadcast.id} ({broadcast.item_id}) {broadcast.status}: {parts or 'nobody'}"
    )
    if broadcast.started_at and broadcast.finished_at:
        seconds = (broadcast.finished_at - broadcast.started_at).total_seconds()
        if seconds > 0:
            line += f" in {seconds:.0f} s ({counts.get('sent', 0) / seconds:.1f}/s)"
    return line + "."


class Selector:
    """Keeps the fan-out's lanes in step with the broadcasts table, and renders texts."""

    def __init__(
        self,
        *,
        store: Store,
        library: Library,
        renderer: Renderer,
        settings: Settings,
        clock: Clock,
        notifier: Notifier,
        batch: int = 2000,
    ) -> None:
        self.store = store
        self.library = library
        self.renderer = renderer
        self.settings = settings
        self.clock = clock
        self.notifier = notifier
        self.batch = batch
        self._selecting: asyncio.Task[None] | None = None
        self._touched: set[int] = set()
        self._started: set[int] = set()

    def render(self, item_id: str, lang: str) -> str | RecipientError:
        """The Telegram text of an item, or the error that stops every message of it."""
        try:
            rendered = self.renderer.render(self.library.get(item_id), "telegram", lang)
        except (KeyError, RenderError) as exc:
            reason = str(exc.args[0]) if isinstance(exc, KeyError) else str(exc)
            return RecipientError(ErrorKind.PERMANENT, reason)
        if rendered.length > MAX_TEXT:
            return RecipientError(
                ErrorKind.PERMANENT, f"{item_id} ({lang}) is too long for one Telegram message"
            )
        return rendered.text

    def touched(self, broadcast_id: int | None) -> None:
        """Note that a broadcast's first request went out (its start time is recorded)."""
        if broadcast_id is not None and broadcast_id not in self._started:
            self._touched.add(broadcast_id)

    async def stop(self) -> None:
        if self._selecting is not None:
            self._selecting.cancel()
            await asyncio.gather(self._selecting, return_exceptions=True)
            self._selecting = None

    async def look(self) -> tuple[Pulse, list[BlackoutWindow]]:
        """The small look an idle fan-out takes, in one trip to a thread: for work queued by
        other processes (the pulse), and the stored blackout windows not over yet (whether
        one holds the fan-out is then a matter of the time: ``hold_reason``)."""

        def read() -> tuple[Pulse, list[BlackoutWindow]]:
            return pulse(self.store, ACTIVE_BROADCAST), stored_blackouts(
                self.store, self.clock.now()
            )

        return await asyncio.to_thread(read)

    def hold_reason(
        self, paused: bool, stored: Sequence[BlackoutWindow] | None = None
    ) -> str | None:
        """Why the fan-out must hold now (the pause, else a blackout), or None. The stored
        windows are ``stored`` if given, else asked of the database (then call it in a
        thread)."""
        if paused:
            return "the campaign is paused"
        return blackout_reason(self.settings, self.clock.now(), self.store, stored)

    async def refresh(self, fanout: FanOut) -> None:
        """Pause or resume, follow new and ended broadcasts, and finish the completed ones."""
        now = self.clock.now()
        # Hold while paused or in a blackout now; release otherwise.
        fanout.hold(await asyncio.to_thread(lambda: self.hold_reason(self.store.is_paused())))
        active = await asyncio.to_thread(list_broadcasts, self.store, active_only=True, limit=100)
        ids = {b.id for b in active}
        for lane in (fanout.free, fanout.paid):
            for source in [s for s in lane.feeds if s is not None and s not in ids]:
                fanout.release(lane.drop(source))
        for broadcast in active:
            lane = fanout.paid if broadcast.paid else fanout.free
            if broadcast.id not in lane.feeds:
                lane.add(broadcast.id, fanout.new_feed(broadcast.id))
            if broadcast.status == BroadcastStatus.SENDING and lane.feeds[broadcast.id].exhausted:
                await self._finish(broadcast.id)
        free = [b.rate for b in active if not b.paid]
        paid = [b.rate for b in active if b.paid]
        fanout.free.pacer.set_base(min(free) if free else fanout.options.rate)
        fanout.paid.pacer.set_base(min(paid) if paid else fanout.options.paid_rate)
        for broadcast_id in self._touched - self._started:
            await asyncio.to_thread(mark_started, self.store, broadcast_id, now)
            self._started.add(broadcast_id)
        selecting = [b for b in active if b.status == BroadcastStatus.SELECTING]
        if selecting and (self._selecting is None or self._selecting.done()):
            self._selecting = asyncio.create_task(self._select(selecting, fanout))

    async def _select(self, broadcasts: list[Broadcast], fanout: FanOut) -> None:
        """Write every recipient's row, batch by batch, behind the journal's lock."""
        try:
            await self._select_each(broadcasts, fanout)
        except Exception as exc:  # the next refresh starts over from the saved cursor
            if not fanout.outage.failed(exc):
                log.exception("selecting broadcast recipients failed")

    async def _select_each(self, broadcasts: list[Broadcast], fanout: FanOut) -> None:
        for broadcast in broadcasts:
            languages = publishable_languages(
                self.library, self.settings, broadcast.item_id, broadcast.lang
            )
            done = False
            while not done:
                async with fanout.journal.lock:
                    inserted, done = await asyncio.to_thread(
                        materialize_batch,
                        self.store,
                        broadcast.id,
                        languages,
                        self.batch,
                        self.clock.now(),
                    )
                lane = fanout.paid if broadcast.paid else fanout.free
                if inserted and (feed := lane.feeds.get(broadcast.id)) is not None:
                    feed.wake()  # the first recipients go out while the rest are selected
            log.info("broadcast %d: recipients selected", broadcast.id)

    async def _finish(self, broadcast_id: int) -> None:
        if not await asyncio.to_thread(finish_if_done, self.store, broadcast_id, self.clock.now()):
            return
        counts = await asyncio.to_thread(status_counts, self.store, broadcast_id)
        finished = await asyncio.to_thread(get_broadcast, self.store, broadcast_id)
        line = summary(finished, counts)
        log.info("%s", line)
        await self.notifier.notify_staff(line)
