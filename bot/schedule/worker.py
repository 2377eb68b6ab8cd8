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
from bot.store.outage import OutageReporter

log = logging.getLogger(__name__)

POLL_SECONDS = 1.0


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

    async def tick(self) -> None:
        """Write posts for due firings, dispatch due posts, send ready deliveries."""
        # One bad tick must not stop the worker; the next retries.
        async with self._lock:
            with self.outage.guard("publishing tick failed", log):
                for hook in self.before_tick:
                    await hook()
                self.planner.materialize()
                await self.outbox.dispatch_due()
                await self.outbox.send_ready()

    async def start(self) -> None:
        """Recover from a crash, then schedule rule jobs and the poll job on this loop."""
        await self.outbox.recover()
        scheduler = AsyncIOScheduler(timezone=self.settings.campaign.time_zone)
        # Each rule fires at its exact time; the poll job picks up posts made by other
        # processes (CLI, Telegram), retries, and anything a rule job missed.
        for rule in self.settings.schedule.rules:
            if rule.enabled:
                scheduler.add_job(
                    self.tick,
                    make_trigger(rule, self.settings.campaign.time_zone),
                    id=f"rule:{rule.id}",
                    coalesce=True,
                    max_instances=1,
                    misfire_grace_time=None,
                )
        scheduler.add_job(
            self.tick,
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
