"""The publishing worker: APScheduler is the clock, the database the source of truth."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from bot.clock import wait_for_due
from bot.config import Settings
from bot.delivery.outbox import Outbox
from bot.schedule.planner import Planner
from bot.schedule.triggers import make_trigger
from bot.store.due import next_posting_work
from bot.store.outage import OutageReporter

log = logging.getLogger(__name__)

# The poll looks for work (one small query) when this process changed posts (at once), when
# the next post or delivery it knows of falls due (on time), and at least this often, for
# what other processes (the command line) changed.
POLL_SECONDS = 5.0
# A post or delivery that stays due after a round (held, or failing) is looked at this often.
DUE_AGAIN_SECONDS = 1.0
# The poll runs a full tick only when a post or delivery is due, and at least this often
# anyway: for a firing a rule job missed, whatever else changed.
FULL_TICK_SECONDS = 60.0


def poll_wait(due: datetime | None, now: datetime) -> float:
    """Seconds until the next poll, given the earliest work the last one found."""
    return wait_for_due(due, now, most=POLL_SECONDS, overdue=DUE_AGAIN_SECONDS)


class Worker:
    """Runs rule firings and the outbox on a shared event loop."""

    def __init__(self, settings: Settings, planner: Planner, outbox: Outbox) -> None:
        self.settings = settings
        self.planner = planner
        self.outbox = outbox
        self.scheduler: AsyncIOScheduler | None = None
        self._lock = asyncio.Lock()
        self.outage = OutageReporter("publishing")
        # More periodic jobs on the same scheduler: (id, seconds, coroutine function).
        self.extra_jobs: list[tuple[str, float, Callable[[], Awaitable[None]]]] = []
        # Run first in every tick (the library reload: a retraction counts from this tick).
        self.before_tick: list[Callable[[], Awaitable[None]]] = []
        self._full_tick_at = 0.0
        self.next_due: datetime | None = None  # the earliest work the last poll found
        # The database's commit count and the held channels when that poll looked.
        self._seen: tuple[int | None, list[str]] | None = None
        self._poked = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._poller: asyncio.Task[None] | None = None

    def poke(self) -> None:
        """Poll now: this process changed posts or the pause (from any thread)."""
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._poked.set)

    async def poll(self) -> None:
        """One poll: the before-tick hooks (cheap when nothing changed: a retraction counts
        at the next poll), then a full tick if work is due or the last one is old; then note
        when work next falls due."""
        if asyncio.get_running_loop().time() - self._full_tick_at >= FULL_TICK_SECONDS:
            await self.tick()
            await self._look(hooks=False)
            return
        due = await self._look(hooks=True)
        if due is not None and due <= self.outbox.clock.now():
            await self.tick(hooks=False)  # the poll has just run them
            await self._look(hooks=False)

    async def _look(self, *, hooks: bool) -> datetime | None:
        """The hooks (if asked), then one small query: when is the next post or delivery due?

        Nothing committed to the database since the last look (SQLite tells in microseconds)
        and the same channels held: the answer is the same, so the query is skipped.
        """
        async with self._lock:
            try:
                for hook in self.before_tick if hooks else ():
                    await hook()
                held = sorted(self.outbox.held)
                commits = self.outbox.store.commits.read()
                if commits is not None and (commits, held) == self._seen:
                    return self.next_due
                due = await asyncio.to_thread(next_posting_work, self.outbox.store, held)
            except Exception as exc:  # the next poll retries
                if not self.outage.failed(exc):
                    log.exception("publishing poll failed")
                self.next_due = self._seen = None
                return None
            self.outage.succeeded()
        self.next_due, self._seen = due, (commits, held)
        return due

    async def _poll_forever(self) -> None:
        while True:
            wait = poll_wait(self.next_due, self.outbox.clock.now())
            try:
                async with asyncio.timeout(wait):
                    await self._poked.wait()
            except TimeoutError:
                pass
            self._poked.clear()
            try:
                await self.poll()
            except asyncio.CancelledError:
                log.debug("publishing poll cancelled at shutdown")
                raise
            except Exception:  # poll reports its own failures; this is a bug: keep polling
                log.exception("publishing poll failed")

    async def tick(self, *, hooks: bool = True) -> None:
        """Write posts for due firings, dispatch due posts, send ready deliveries (after the
        before-tick hooks, unless the caller has just run them)."""
        self._full_tick_at = asyncio.get_running_loop().time()
        # One bad tick must not stop the worker; the next retries.
        async with self._lock:
            with self.outage.guard("publishing tick failed", log):
                for hook in self.before_tick if hooks else ():
                    await hook()
                self.planner.materialize()
                await self.outbox.dispatch_due()
                await self.outbox.send_ready()

    async def scheduled_tick(self) -> None:
        """A rule job's tick: cancelled at shutdown, it ends quietly (not a job error)."""
        try:
            await self.tick()
        except asyncio.CancelledError:
            log.debug("publishing tick cancelled at shutdown")
            return
        self._poked.set()  # the poll learns when the deliveries it wrote are due again

    async def start(self) -> None:
        """Recover from a crash, then schedule rule jobs and the poll job on this loop."""
        await self.outbox.recover()
        scheduler = AsyncIOScheduler(timezone=self.settings.campaign.time_zone)
        # Each rule fires at its exact time; the poll picks up posts made by other processes
        # (CLI) or this one (Telegram, dashboard), retries, and anything a rule job missed.
        for rule in self.settings.schedule.rules:
            if rule.enabled:
                scheduler.add_job(
                    self.scheduled_tick,
                    make_trigger(rule, self.settings.campaign.time_zone),
                    id=f"rule:{rule.id}",
                    coalesce=True,
                    max_instances=1,
                    misfire_grace_time=None,
                )
        for job_id, seconds, func in self.extra_jobs:
            scheduler.add_job(
                func,
                IntervalTrigger(seconds=seconds),
                id=job_id,
                coalesce=True,
                max_instances=1,
                misfire_grace_time=None,
            )
        scheduler.start()
        self.scheduler = scheduler
        await self.tick()
        await self._look(hooks=False)
        self._loop = asyncio.get_running_loop()
        self.outbox.store.watch(self.poke)
        self._poller = asyncio.create_task(self._poll_forever(), name="publishing-poll")

    async def stop(self) -> None:
        """Stop scheduling and let a tick in progress finish its current send."""
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=False)
            self.scheduler = None
        if self._poller is not None:
            self.outbox.store.unwatch(self.poke)
            self._poller.cancel()
            await asyncio.gather(self._poller, return_exceptions=True)
            self._poller = None
        async with self._lock:
            pass
