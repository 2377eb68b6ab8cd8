"""The fan-out engine: sends the private-chat outbox (broadcasts, reminders) at Telegram's pace.

Guarantee on a crash (SIGKILL, power loss): a message is ``sending`` in the database only
from the commit just before its request is handed to the HTTP client until its outcome is
written (see ``journal``): a message waiting for its turn is still ``pending``. On restart
every ``sending`` row becomes ``uncertain`` and is never sent again automatically; every other
row is either final or ``pending`` and is sent. So nobody is skipped except the recipients
whose request was in flight (or whose answer had not been written yet), and nobody receives a
message twice.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.channels.base import ErrorKind
from bot.clock import Clock, wait_for_due
from bot.delivery.feeds import Feed, Lane
from bot.delivery.journal import Journal
from bot.delivery.notify import Notifier
from bot.delivery.outcomes import Decision, after_error, final, sent
from bot.delivery.private import Keyboard, PrivateSender, RecipientError
from bot.delivery.ratelimit import ChatSpacing, Departure, Pacer
from bot.delivery.replicas import PACER, SOLO, Ownership
from bot.delivery.selection import Selector
from bot.delivery.tuning import FanOutOptions as FanOutOptions
from bot.store import BlackoutWindow, DeliveryStatus, Store
from bot.store.outage import OutageReporter
from bot.store.private_outbox import FeedRow, Outcome, Pulse, recover_sending
from bot.store.subscribers import migrate_chat

log = logging.getLogger(__name__)
KeyboardFor = Callable[[str, str], Keyboard | None]


@dataclass(slots=True)
class Job:
    """A granted message waiting for its claim to commit."""

    row: FeedRow
    lane: Lane
    text: str
    keyboard: Keyboard | None


class FanOut:
    """Sends pending private messages through a PrivateSender, paced per lane."""

    def __init__(
        self,
        *,
        store: Store,
        selector: Selector,
        sender: PrivateSender,
        clock: Clock,
        notifier: Notifier,
        keyboard: KeyboardFor | None = None,
        options: FanOutOptions | None = None,
        ownership: Ownership = SOLO,
    ) -> None:
        self.store = store
        self.ownership = ownership
        self.selector = selector
        self.sender = sender
        self.clock = clock
        self.notifier = notifier
        self.keyboard = keyboard
        self.options = options or FanOutOptions()
        self.held: set[int] = set()  # ids in memory: queued, deferred, in flight
        # One reporter for the lanes, feeds, journal, refresher and selection.
        self.outage = OutageReporter("fan-out")
        self.journal: Journal[Job] = Journal(
            store, clock, self._claimed, self._recorded, outage=self.outage, ownership=ownership
        )
        self.spacing = ChatSpacing()

        def pacer_duty() -> bool:  # one pacer for the bot: grants only its holder's
            return ownership.holds(PACER)

        self.free = Lane("free", Pacer(self.options.rate, gate=pacer_duty), paid=False)
        self.paid = Lane("paid", Pacer(self.options.paid_rate, gate=pacer_duty), paid=True)
        self.free.add(None, self.new_feed(None))
        self._poked = asyncio.Event()
        self._pulse: Pulse | None = None
        self._windows: list[BlackoutWindow] = []  # stored blackouts not over at that pulse
        self._seen: int | None = None  # the database's commit count at that pulse
        self._loop: asyncio.AbstractEventLoop | None = None
        store.watch(self.poke)
        self._slots = asyncio.Semaphore(self.options.concurrency)
        self._open = asyncio.Event()  # cleared while paused, in a blackout, or refused
        self._hold: str | None = "starting"
        self._refused_until = 0.0
        self._stopping = False
        self._tasks: set[asyncio.Task[Any]] = set()
        self._loops: list[asyncio.Task[None]] = []
        self._texts: dict[tuple[str, str], str | RecipientError] = {}
        self._texts_revision = selector.library.revision
        self._drained = asyncio.Event()
        self.sent = 0
        self.rate_limited = 0  # 429 answers (flood control), for /metrics

    def new_feed(self, source: int | None) -> Feed:
        """A feed of one broadcast's pending rows (None: the reminders)."""
        return Feed(self.store, self.clock, source, self.options.page, self.held)

    def poke(self) -> None:
        """Look at broadcasts, pause and due rows now (this process queued work; any thread)."""
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._poked.set)

    async def recover(self, horizon: datetime | None = None) -> int:
        """Rows left ``sending`` by a process silent since ``horizon`` (default: dead by this
        process's lease) become ``uncertain``; tell staff; count them."""
        since = horizon if horizon is not None else self.ownership.silent_since()
        counts = await asyncio.to_thread(recover_sending, self.store, self.clock.now(), since)
        total = sum(counts.values())
        if total:
            where = ", ".join(
                f"broadcast {source}: {n}" if source is not None else f"reminders: {n}"
                for source, n in sorted(counts.items(), key=lambda kv: kv[0] or 0)
            )
            await self.notifier.notify_staff(
                f"{total} private messages were being sent when the bot stopped ({where}). "
                "Telegram may or may not have delivered them; they are marked uncertain and "
                "not sent again."
            )
        return total

    async def start(self) -> None:
        """Recover from a crash, then run the lanes, the journal and the refresher."""
        self._loop = asyncio.get_running_loop()
        await self.recover()
        self.journal.start()
        await self.selector.refresh(self)
        self._loops = [
            asyncio.create_task(self._dispatch(self.free), name="fanout-free"),
            asyncio.create_task(self._dispatch(self.paid), name="fanout-paid"),
            asyncio.create_task(self._refresher(), name="fanout-refresh"),
        ]

    async def stop(self) -> None:
        """Stop taking rows, let requests in flight finish and record them, then return."""
        self._stopping = True
        self.store.unwatch(self.poke)
        self._open.set()
        for task in self._loops:
            task.cancel()
        await asyncio.gather(*self._loops, return_exceptions=True)
        await self.selector.stop()
        await self.journal.stop_claims()  # a round in flight may still start its requests
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        await self.journal.close()

    async def drained(self) -> None:
        """Wait until a refresh finds nothing to send and nothing in flight (for tests)."""
        self._drained.clear()
        await self._drained.wait()

    def hold(self, reason: str | None) -> None:
        """Stop sending while ``reason`` holds (paused, blackout); None sends again."""
        if reason != self._hold:
            log.info("fan-out %s", f"on hold: {reason}" if reason else "sending")
        self._hold = reason
        refused = asyncio.get_running_loop().time() < self._refused_until
        if reason is None and not refused:
            self._open.set()
        else:
            self._open.clear()

    def is_idle(self) -> bool:
        lanes = (self.free, self.paid)
        return (
            not self.held
            and not self._tasks
            and self.journal.backlog == 0
            and all(lane.next_deferred_in() is None for lane in lanes)
            and all(feed.exhausted for lane in lanes for feed in lane.feeds.values())
        )

    async def _refresher(self) -> None:
        while not self._stopping:
            busy = not self.is_idle()
            poked = self._poked.is_set()
            self._poked.clear()
            # The next refresh retries; sending goes on meanwhile.
            with self.outage.guard("fan-out refresh failed", log):
                if busy or poked or await self._work_waiting():
                    await self.selector.refresh(self)
                    self._rescan(0.0 if poked else self.options.rescan)
                if self.is_idle():
                    self._drained.set()
            try:
                async with asyncio.timeout(self._wait(busy)):
                    await self._poked.wait()
            except TimeoutError:
                pass

    def _wait(self, busy: bool) -> float:
        """Seconds until the refresher looks again, unless poked: soon while busy; idle, at
        the next message due (a reminder, a retry) or after ``poll`` (other processes' work)."""
        if busy:
            return self.options.refresh
        due = self._pulse.next_due if self._pulse is not None else None
        # Due already and still pending after the refresh (paused, in a blackout): ``poll``.
        poll = self.options.poll
        return wait_for_due(due, self.clock.now(), most=poll, overdue=poll)

    async def _work_waiting(self) -> bool:
        """One small look: did anything change that an idle fan-out must act on? (Holds or
        releases it at a blackout's edge on the way.)

        Nothing committed to the database since the last look (SQLite tells in microseconds):
        the pulse and the stored windows are as they were, so the queries are skipped; the
        time is still compared with the next due message and the blackout windows.
        """
        last = self._pulse
        commits = self.store.commits.read()
        if last is not None and commits is not None and commits == self._seen:
            current = last
        else:
            current, self._windows = await self.selector.look()
            self._pulse, self._seen = current, commits
        due = current.next_due
        if current.changed(last) or (due is not None and due <= self.clock.now()):
            return True
        self.hold(self.selector.hold_reason(current.paused, self._windows))
        return False

    def _rescan(self, older_than: float) -> None:
        for lane in (self.free, self.paid):
            for stream in lane.feeds.values():
                stream.rescan(older_than=older_than)

    def release(self, ids: Sequence[int]) -> None:
        self.held.difference_update(ids)

    def _recorded(self, outcomes: Sequence[Outcome]) -> None:
        self.held.difference_update(o.id for o in outcomes if o.status != DeliveryStatus.PENDING)
        if not self.held:  # the last outcome is written: finish the broadcast now
            self._poked.set()

    async def _dispatch(self, lane: Lane) -> None:
        while not self._stopping:
            await self._open.wait()
            try:
                row = await lane.next_row()
                if row is None:
                    await lane.rest()
                else:
                    await self._dispatch_row(lane, row)
            except Exception as exc:  # the database went away: rows stay pending, lane goes on
                if not self.outage.failed(exc):
                    log.exception("fan-out %s lane failed; trying again", lane.name)
                await asyncio.sleep(self.options.db_retry)

    async def _dispatch_row(self, lane: Lane, row: FeedRow) -> None:
        """Wait for the row's turn (chat spacing, a free slot, the pacer), then claim it."""
        prepared = self._prepare(row)
        if isinstance(prepared, Outcome):
            self.journal.record(prepared)
            return
        chat = row.chat_id
        if (gap := self.spacing.wait(chat)) > 0:
            lane.defer(row, gap)
            return
        self.spacing.reserve(chat)  # before waiting: the other lane sees the chat busy
        await self._slots.acquire()
        await lane.pacer.acquire()
        if self._stopping or not self._open.is_set():  # paused while this one waited
            self._slots.release()
            self.spacing.done(chat, delivered=False)
            lane.defer(row, 0.0)
            return
        self.journal.claim(row.id, Job(row, lane, *prepared))

    def _claimed(self, job: Job, claimed: bool) -> None:
        """The claim's round committed: start the request at once, or give the row up."""
        if not claimed:
            self.spacing.done(job.row.chat_id, delivered=False)
            self._slots.release()
            self.release([job.row.id])
            return
        departure = job.lane.pacer.departed()
        self.selector.touched(job.row.broadcast_id)
        self._spawn(self._deliver(job, departure))

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _prepare(self, row: FeedRow) -> tuple[str, Keyboard | None] | Outcome:
        """The text and buttons to send, or the outcome of a row that must not be sent."""
        now = self.clock.now()
        if row.expires_at is not None and now > row.expires_at:
            reason = "its time passed (paused, blackout or backlog); a late reminder is not sent"
            return final(row, DeliveryStatus.MISSED, reason, now, claimed=False)
        if not row.active:
            reason = "the subscriber stopped, was deactivated or is gone"
            return final(row, DeliveryStatus.SKIPPED, reason, now, claimed=False)
        if (retracted := self.selector.library.retraction(row.item_id)) is not None:
            return final(row, DeliveryStatus.SKIPPED, retracted, now, claimed=False)
        text = self._text(row.item_id, row.lang)
        if isinstance(text, RecipientError):
            return final(row, DeliveryStatus.FAILED, text.reason, now, claimed=False)
        keyboard = None
        if row.kind == "reminder" and self.keyboard is not None:
            keyboard = self.keyboard(row.item_id, row.lang)
        return text, keyboard

    def _text(self, item_id: str, lang: str) -> str | RecipientError:
        key = (item_id, lang)
        if self._texts_revision != self.selector.library.revision:  # reloaded: texts changed
            self._texts.clear()
            self._texts_revision = self.selector.library.revision
        if key not in self._texts:
            self._texts[key] = self.selector.render(item_id, lang)
        return self._texts[key]

    async def _deliver(self, job: Job, departure: Departure) -> None:
        """Send a claimed row (after the departure's hold, when commits bunched departures)."""
        row, lane = job.row, job.lane
        chat = row.chat_id
        delivered = True  # unless Telegram said otherwise
        try:
            if departure.hold > 0:
                await asyncio.sleep(departure.hold)
            lane.pacer.left(departure)
            message_id = await self.sender.send(
                chat, job.text, keyboard=job.keyboard, paid=lane.paid
            )
        except RecipientError as exc:
            delivered = exc.kind is ErrorKind.UNCERTAIN
            await self._failed(row, lane, exc)
        except Exception as exc:  # the request may have left: never resend blindly
            log.exception("unexpected error sending message %d", row.id)
            reason = f"unexpected error while sending: {type(exc).__name__}"
            self.journal.record(final(row, DeliveryStatus.UNCERTAIN, reason, self.clock.now()))
        else:
            self.sent += 1
            self.journal.record(sent(row, message_id, self.clock.now()))
        finally:
            self.spacing.done(chat, delivered=delivered)
            self._slots.release()

    async def _failed(self, row: FeedRow, lane: Lane, exc: RecipientError) -> None:
        old_chat = row.chat_id
        decision: Decision = after_error(row, exc, self.clock.now(), self.options.retry)
        if exc.migrate_to is not None:
            await asyncio.to_thread(migrate_chat, self.store, old_chat, exc.migrate_to)
        if decision.rate_limited is not None:
            self.rate_limited += 1
            lane.pacer.penalize(decision.rate_limited)
            log.warning("Telegram flood control: %s lane waits %g s", lane.name, exc.retry_after)
        if decision.auth_failed:
            await self._refused(exc.reason)
        self.journal.record(decision.outcome)
        if decision.retry_in is not None and not self._stopping:
            lane.defer(row, decision.retry_in)

    async def _refused(self, reason: str) -> None:
        loop = asyncio.get_running_loop()
        if loop.time() < self._refused_until:
            return
        pause = self.options.retry.auth_pause
        self._refused_until = loop.time() + pause
        self.hold(self._hold)
        loop.call_later(pause, lambda: self.hold(self._hold))
        await self.notifier.notify_staff(
            f"Telegram refused the bot token ({reason}); private messages wait {pause:g} s "
            "before trying again."
        )
