"""Streams of pending messages for the fan-out: one feed per source, grouped in paced lanes."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections import deque
from collections.abc import Callable

from bot.clock import Clock
from bot.delivery.ratelimit import SendPacer
from bot.store import Store
from bot.store.private_outbox import FeedRow, feed


class Feed:
    """The pending messages of one broadcast (or of the reminders, ``source`` None), by id.

    Reads a page at a time with a keyset (``id > after``), so memory holds one page however
    many rows the broadcast has. Rows already held in memory elsewhere are skipped. Once a
    pass finds nothing more, the feed reads again only when woken (``wake``: new rows;
    ``rescan``: a new pass from the start), so an idle fan-out makes no queries.
    """

    def __init__(
        self,
        store: Store,
        clock: Clock,
        source: int | None,
        page: int,
        held: set[int],
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.clock = clock
        self.source = source
        self.page = page
        self.held = held
        self._monotonic = monotonic
        self.rows: deque[FeedRow] = deque()
        self.after = 0
        self.exhausted_at: float | None = None
        self.dropped = False
        self.on_wake: Callable[[], None] = lambda: None  # set by the lane it joins

    @property
    def exhausted(self) -> bool:
        """True once a full pass found nothing more to send."""
        return self.exhausted_at is not None and not self.rows

    async def next(self) -> FeedRow | None:
        """The next pending row, reading the next page (off the event loop) when needed."""
        if not self.rows:
            await self._fill()
        return self.rows.popleft() if self.rows else None

    def wake(self) -> None:
        """New rows were written after the last read: read on from where it stopped."""
        self.exhausted_at = None
        self.on_wake()

    def rescan(self, *, older_than: float = 0.0) -> None:
        """Read again from the start (rows due for a retry, rows released), if the last pass
        ended at least ``older_than`` seconds ago."""
        if self.exhausted_at is not None and self._monotonic() - self.exhausted_at >= older_than:
            self.after = 0
            self.wake()

    def drop(self) -> list[int]:
        """Forget the rows in memory (a cancelled broadcast); return their ids."""
        self.dropped = True
        ids = [row.id for row in self.rows]
        self.rows.clear()
        return ids

    async def _fill(self) -> None:
        now = self._monotonic()
        if self.exhausted_at is not None:
            return
        # In a thread: the loop also serves the supporters' replies.
        rows = await asyncio.to_thread(
            feed, self.store, self.source, self.after, self.clock.now(), self.page
        )
        if self.dropped:  # cancelled while reading: hold on to nothing
            return
        self.exhausted_at = now if len(rows) < self.page else None
        if rows:
            self.after = rows[-1].id
        for row in rows:
            if row.id not in self.held:
                self.held.add(row.id)
                self.rows.append(row)


class Lane:
    """Feeds sharing one pacer: the free lane (reminders first) or the paid-broadcast lane."""

    def __init__(
        self,
        name: str,
        pacer: SendPacer,
        *,
        paid: bool,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.pacer = pacer
        self.paid = paid
        self.feeds: dict[int | None, Feed] = {}
        self._monotonic = monotonic
        self._deferred: list[tuple[float, int, FeedRow]] = []
        self._order = itertools.count()
        self._turn = 0
        self._work = asyncio.Event()  # set when a row may have become ready

    def add(self, source: int | None, stream: Feed) -> None:
        """Add a feed; its wake-ups wake the lane."""
        stream.on_wake = self._work.set
        self.feeds[source] = stream
        self._work.set()

    async def rest(self) -> None:
        """Wait until woken, or until the earliest deferred row is ready."""
        wait = self.next_deferred_in()
        if wait is None:
            await self._work.wait()
            return
        try:
            async with asyncio.timeout(wait):
                await self._work.wait()
        except TimeoutError:
            pass

    def defer(self, row: FeedRow, seconds: float) -> None:
        """Hold a row back for ``seconds`` (per-chat spacing, retry backoff, 429)."""
        heapq.heappush(self._deferred, (self._monotonic() + seconds, next(self._order), row))
        self._work.set()

    def next_deferred_in(self) -> float | None:
        """Seconds until the earliest deferred row is ready, if any."""
        if not self._deferred:
            return None
        return max(0.0, self._deferred[0][0] - self._monotonic())

    def drop(self, source: int | None) -> list[int]:
        """Remove a feed and its deferred rows; return the ids released."""
        ids = self.feeds.pop(source).drop() if source in self.feeds else []
        kept = [entry for entry in self._deferred if entry[2].broadcast_id != source]
        ids += [entry[2].id for entry in self._deferred if entry[2].broadcast_id == source]
        heapq.heapify(kept)
        self._deferred = kept
        return ids

    async def next_row(self) -> FeedRow | None:
        """The next row to send: a ready deferred one, reminders, then broadcasts in turn.

        Clears the lane's wake-up first, so a wake-up while it reads is not lost.
        """
        self._work.clear()
        if self._deferred and self._deferred[0][0] <= self._monotonic():
            return heapq.heappop(self._deferred)[2]
        reminders = self.feeds.get(None)
        if reminders is not None and (row := await reminders.next()) is not None:
            return row
        sources = [source for source in self.feeds if source is not None]
        for step in range(len(sources)):
            source = sources[(self._turn + step) % len(sources)]
            stream = self.feeds.get(source)
            row = await stream.next() if stream is not None else None  # None: dropped
            if row is not None:
                self._turn = (self._turn + step + 1) % len(sources)
                return row
        return None
