"""Wiring for the worker: the reminders job and the fan-out, built once by the composition root."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from bot.config import parse_duration
from bot.delivery.broadcasts import FREE_LIMIT, PAID_LIMIT, progress_lines
from bot.delivery.fanout import FanOut
from bot.delivery.notify import Notifier
from bot.delivery.private import Keyboard, PrivateSender
from bot.delivery.replicas import SOLO, Ownership
from bot.delivery.selection import Selector
from bot.delivery.tuning import FanOutOptions
from bot.schedule.reminders import Translate, reminder_buttons, reschedule, run_due_reminders
from bot.store.outage import OutageReporter

if TYPE_CHECKING:
    from bot.app import Core

log = logging.getLogger(__name__)
Job = tuple[str, float, Callable[[], Awaitable[None]]]
# How often the reminders job looks for subscribers who want reminders but have no time yet.
ASSIGN_MISSING_EVERY = timedelta(minutes=15)


@dataclass
class Audience:
    """The reminders job and the fan-out engine, sharing one store and clock."""

    core: Core
    fanout: FanOut
    outage: OutageReporter = field(default_factory=lambda: OutageReporter("reminders"))
    assigned_at: datetime | None = None  # when subscribers without a reminder time got one

    @property
    def jobs(self) -> list[Job]:
        """Interval jobs for ``Worker.extra_jobs``: (id, seconds, coroutine function)."""
        every = parse_duration(self.core.settings.reminders.every).total_seconds()
        return [("reminders", every, self.reminders_tick)]

    async def reminders_tick(self) -> None:
        """Write the due reminders (the fan-out sends them)."""
        core = self.core
        # The next tick retries; the column only moves forward on success.
        with self.outage.guard("reminders job failed", log):
            now = core.clock.now()
            assign = self.assigned_at is None or now - self.assigned_at >= ASSIGN_MISSING_EVERY
            await run_due_reminders(
                core.store, core.library, core.settings, now, assign_missing=assign
            )
            if assign:
                self.assigned_at = now
            self.fanout.poke()  # the rows just written go out now

    async def start(self) -> None:
        """Recover messages a crash left sending, then start sending."""
        await self.fanout.start()

    async def stop(self) -> None:
        """Finish the requests in flight, record them, and stop."""
        await self.fanout.stop()

    def reschedule(self, chat_id: int) -> None:
        """Recompute a supporter's next reminder (BotServices.on_settings_changed)."""
        core = self.core
        reschedule(core.store, chat_id, core.settings, core.clock.now())

    def stats_lines(self) -> list[str]:
        """Broadcast progress for /stats (BotServices.extra_stats)."""
        return progress_lines(self.core.store)


def build_audience(
    core: Core,
    sender: PrivateSender,
    notifier: Notifier,
    *,
    translate: Translate | None = None,
    options: FanOutOptions | None = None,
    ownership: Ownership = SOLO,
) -> Audience:
    """Build the fan-out on ``sender`` (reminders get Done/Snooze/Stop buttons)."""
    if translate is None:
        from bot.telegram.i18n import Translator  # gettext catalogues only, no telegram import

        translate = Translator()
    labels = translate
    settings = core.settings

    def keyboard(item_id: str, lang: str) -> Keyboard:
        return reminder_buttons(item_id, lang, labels)

    if options is None:
        rate = settings.broadcast.rate
        options = FanOutOptions(
            rate=rate if rate <= FREE_LIMIT else FanOutOptions.rate,
            paid_rate=rate if settings.broadcast.paid else PAID_LIMIT,
        )
    selector = Selector(
        store=core.store,
        library=core.library,
        renderer=core.renderer,
        settings=settings,
        clock=core.clock,
        notifier=notifier,
        batch=options.selection_batch,
    )
    fanout = FanOut(
        store=core.store,
        selector=selector,
        sender=sender,
        clock=core.clock,
        notifier=notifier,
        keyboard=keyboard,
        options=options,
        ownership=ownership,
    )
    return Audience(core, fanout)
