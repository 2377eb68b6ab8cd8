"""The reminders job: turn due subscribers into reminder messages and advance their next time."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import datetime

from sqlalchemy import select

from bot.config import Settings
from bot.delivery.private import Button, Keyboard
from bot.library import Item, Library, current_call_to_action
from bot.schedule.reminder_times import (
    REMINDER_GRACE,
    ReminderFields,
    ReminderPrefs,
    expires_at,
    in_quiet_hours,
    local_day,
    next_reminder_at,
    snooze_until,
    zone_of,
)
from bot.store import DeliveryStatus, Store, Subscriber
from bot.store.blackouts import BlackoutWindow, stored_blackout_at, window_at
from bot.store.private_outbox import insert_messages
from bot.store.subscribers import get_subscriber, update_subscriber

__all__ = [
    "ReminderFields",
    "ReminderPrefs",
    "item_of_done",
    "next_reminder_at",
    "reminder_buttons",
    "reschedule",
    "run_due_reminders",
    "snooze",
    "stop_reminders",
]

log = logging.getLogger(__name__)
BATCH = 1000
# Callback data of the reminder buttons (Telegram allows 64 bytes).
DONE = "rem:done:"
SNOOZE = "rem:snooze"
STOP = "rem:stop"
MAX_CALLBACK = 64
REMINDING = ("daily", "weekly")  # the frequencies that have a next reminder
Translate = Callable[[str, str], str]


def _done_data(item_id: str) -> str:
    data = DONE + item_id
    if len(data.encode()) <= MAX_CALLBACK:
        return data
    return DONE + "#" + hashlib.sha1(item_id.encode()).hexdigest()[:16]


def item_of_done(data: str, library: Library) -> str | None:
    """The item a Done button was for, or None if the library no longer has it."""
    key = data.removeprefix(DONE)
    if key.startswith("#"):
        return next((i for i in library.items if _done_data(i) == data), None)
    return key if key in library.items else None


def reminder_buttons(item_id: str, lang: str, translate: Translate) -> Keyboard:
    """Done (counts an action), Snooze 1 day, Share, Stop reminders: in the subscriber's
    language."""
    return (
        (
            Button("✅ " + translate(lang, "I did it"), _done_data(item_id)),
            Button("⏰ " + translate(lang, "Snooze 1 day"), SNOOZE),
        ),
        (
            Button("📤 " + translate(lang, "Share"), "", share=item_id),
            Button("🔕 " + translate(lang, "Stop reminders"), STOP),
        ),
    )


def blackout_at(
    settings: Settings,
    now: datetime,
    store: Store | None = None,
    stored: Sequence[BlackoutWindow] | None = None,
) -> tuple[datetime, str] | None:
    """The end and reason of the blackout window ``now`` falls in: a configured one, else a
    stored one (from ``stored`` if the caller loaded them, else asked of ``store``)."""
    for window in settings.schedule.blackouts:
        if window.start <= now < window.end:
            return window.end, window.reason
    if stored is not None:
        found = window_at(stored, now)
    else:
        found = stored_blackout_at(store, now) if store is not None else None
    return (found.end, found.reason) if found is not None else None


def blackout_reason(
    settings: Settings,
    now: datetime,
    store: Store | None = None,
    stored: Sequence[BlackoutWindow] | None = None,
) -> str | None:
    """Say why nothing may go out now (see ``blackout_at``), or None."""
    window = blackout_at(settings, now, store, stored)
    return f"blackout until {window[0]:%Y-%m-%d %H:%M} UTC" if window is not None else None


class _Picker:
    """The current call to action per (topics, language), cached for one run."""

    def __init__(self, library: Library, settings: Settings, now: datetime) -> None:
        self.library = library
        self.settings = settings
        self.today = now.astimezone(settings.zone).date()
        self.cache: dict[tuple[str, str], Item | None] = {}

    def publishable(self, item: Item, lang: str) -> bool:
        if item.ends is not None and item.ends < self.today:
            return False
        return item.publishable(lang, self.settings.publish_unreviewed)

    def __call__(self, topics: str, lang: str) -> Item | None:
        key = (topics, lang)
        if key not in self.cache:
            self.cache[key] = current_call_to_action(
                self.library, topics.split(), lang, self.publishable
            )
        return self.cache[key]


def _verdict(sub: Subscriber, due: datetime, now: datetime, settings: Settings) -> str | None:
    """Why this due reminder must not go out now, or None."""
    if now - due > REMINDER_GRACE:
        return "late"  # the worker was down: a late reminder would come at the wrong time
    local = now.astimezone(zone_of(sub, settings)).time().replace(tzinfo=None)
    if in_quiet_hours(local, settings):
        return "quiet hours"
    return None


def _due_batch(
    store: Store, library: Library, settings: Settings, now: datetime, hold: str | None
) -> Counter[str]:
    """Handle one batch of due subscribers in one transaction; count what happened."""
    counts: Counter[str] = Counter()
    pick = _Picker(library, settings, now)
    with store.sessions.begin() as session:
        due_rows = session.scalars(
            select(Subscriber)
            .where(
                Subscriber.active.is_(True),
                Subscriber.reminder.in_(REMINDING),
                Subscriber.next_reminder_at <= now,
            )
            .order_by(Subscriber.next_reminder_at)
            .limit(BATCH)
            .with_for_update(skip_locked=True)
        ).all()
        messages = []
        for sub in due_rows:
            due = sub.next_reminder_at
            assert due is not None
            reason = hold or _verdict(sub, due, now, settings)
            item = pick(sub.topics, sub.language) if reason is None else None
            if reason is None and item is None:
                reason = f"no reviewed {sub.language} call to action"
            if item is not None and reason is None:
                day = local_day(due, sub, settings)
                messages.append(
                    {
                        "idempotency_key": f"rem:{sub.chat_id}:{day}",
                        "kind": "reminder",
                        "broadcast_id": None,
                        "chat_id": sub.chat_id,
                        "item_id": item.id,
                        "lang": sub.language,
                        "status": DeliveryStatus.PENDING,
                        "attempts": 0,
                        "next_attempt_at": now,
                        "expires_at": expires_at(due, sub, settings),
                        "created_at": now,
                        "updated_at": now,
                    }
                )
                sub.last_reminded_on = day
            counts[reason or "written"] += 1
            sub.next_reminder_at = next_reminder_at(sub, max(now, due), settings)
            sub.updated_at = now
        insert_messages(session, messages)
    counts["batch"] = len(due_rows)
    return counts


def _schedule_batch(store: Store, settings: Settings, now: datetime) -> int:
    """Give active subscribers without a next reminder time one (imports, older rows)."""
    with store.sessions.begin() as session:
        rows = session.scalars(
            select(Subscriber)
            .where(
                Subscriber.active.is_(True),
                Subscriber.next_reminder_at.is_(None),
                # Not ``!= "off"``: a row with an unknown value would get no time, stay NULL
                # and be selected again forever.
                Subscriber.reminder.in_(REMINDING),
            )
            .limit(BATCH)
        ).all()
        for sub in rows:
            sub.next_reminder_at = next_reminder_at(sub, now, settings)
            sub.updated_at = now
    return len(rows)


async def run_due_reminders(
    store: Store,
    library: Library,
    settings: Settings,
    now: datetime,
    *,
    assign_missing: bool = True,
) -> Counter[str]:
    """Write a reminder message for every due subscriber, batch by batch; advance them all.

    While the campaign is paused or in a blackout window the due subscribers are advanced to
    their next time without a message. Each batch is one transaction, run off the event loop.
    ``assign_missing`` first gives a time to subscribers who want reminders but have none
    (rows older than reminder times): a scan of every active subscriber without a time, so
    the worker does it now and then, not every minute (sign-ups and imports set the time).
    """
    while (
        assign_missing and await asyncio.to_thread(_schedule_batch, store, settings, now) == BATCH
    ):
        pass
    paused = await asyncio.to_thread(store.is_paused)
    hold = "paused" if paused else await asyncio.to_thread(blackout_reason, settings, now, store)
    total: Counter[str] = Counter()
    while True:
        counts = await asyncio.to_thread(_due_batch, store, library, settings, now, hold)
        size = counts.pop("batch")
        total.update(counts)
        if size < BATCH:
            break
    if total:
        log.info("reminders: %s", ", ".join(f"{n} {what}" for what, n in sorted(total.items())))
    return total


def reschedule(store: Store, chat_id: int, settings: Settings, now: datetime) -> datetime | None:
    """Recompute a subscriber's next reminder after they changed their settings."""
    sub = get_subscriber(store, chat_id)
    if sub is None:
        return None
    upcoming = next_reminder_at(sub, now, settings) if sub.active else None
    update_subscriber(store, chat_id, next_reminder_at=upcoming)
    return upcoming


def snooze(store: Store, chat_id: int, settings: Settings, now: datetime) -> datetime | None:
    """Move the next reminder to the subscriber's reminder time tomorrow; None if inactive."""
    sub = get_subscriber(store, chat_id)
    if sub is None or not sub.active or sub.reminder == "off":
        return None
    upcoming = snooze_until(sub, now, settings)
    update_subscriber(store, chat_id, next_reminder_at=upcoming)
    return upcoming


def stop_reminders(store: Store, chat_id: int) -> bool:
    """Turn a subscriber's reminders off (they stay subscribed); tell if they were known."""
    return update_subscriber(store, chat_id, reminder="off", next_reminder_at=None) is not None
