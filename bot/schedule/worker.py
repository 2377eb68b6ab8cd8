"""The publishing worker: APScheduler is the clock, the database the source of truth."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from bot.config import Settings
from bot.delivery.outbox import Outbox
from bot.schedule.planner import Planner
from bot.schedule.triggers import make_trigger
from bot.store.due import next_posting_work
from bot.store.outage import OutageReporter

log = logging.getLogger(__name__)

POLL_SECONDS = 1.0
# The poll job runs a full tick only when a post or delivery is due (one small query says),
# and at least this often anyway: for a firing a rule job missed, whatever else changed.
FULL_TICK_SECONDS = 15.0


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

    async def poll(self) -> None:
        """The poll job: the before-tick hooks (cheap when nothing changed: a retraction still
        counts within a second), then a full tick if work is due or the last one is old."""
        if asyncio.get_running_loop().time() - self._full_tick_at >= FULL_TICK_SECONDS:
            await self.tick()
            return
        async with self._lock:
            try:
                for hook in self.before_tick:
                    await hook()
                held = list(self.outbox.held)
                due = await asyncio.to_thread(next_posting_work, self.outbox.store, held)
            except Exception as exc:  # the next poll retries
                if not self.outage.failed(exc):
                    log.exception("publishing poll failed")
                return
            self.outage.succeeded()
        if due is not None and due <= self.outbox.clock.now():
            await self.tick(hooks=False)  # the poll has just run them

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

    async def scheduled_poll(self) -> None:
        """The poll job: cancelled at shutdown, it ends quietly (not a job error)."""
        try:
            await self.poll()
        except asyncio.CancelledError:
            log.debug("publishing poll cancelled at shutdown")

    async def start(self) -> None:
        """Recover from a crash, then schedule rule jobs and the poll job on this loop."""
        await self.outbox.recover()
        scheduler = AsyncIOScheduler(timezone=self.settings.campaign.time_zone)
        # Each rule fires at its exact time; the poll job picks up posts made by other
        # processes (CLI, Telegram), retries, and anything a rule job missed.
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
        scheduler.add_job(
            self.scheduled_poll,
            IntervalTrigger(seconds=POLL_SECONDS),
            id="poll",
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

    async def stop(self) -> None:
        """Stop scheduling and let a tick in progress finish its current send."""
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=False)
            self.scheduler = None
        async with self._lock:
            pass
