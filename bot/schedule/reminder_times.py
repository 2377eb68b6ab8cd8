"""When a supporter's next reminder falls: local time, weekday, quiet hours, DST, one a day."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.config import Settings

FREQUENCIES = ("daily", "weekly", "off")
# A reminder still unsent this long after its time is missed rather than sent late.
REMINDER_GRACE = timedelta(hours=2)


class ReminderFields(Protocol):
    """The subscriber columns the schedule depends on (a Subscriber row has them all)."""

    @property
    def reminder(self) -> str: ...
    @property
    def reminder_time(self) -> str: ...
    @property
    def reminder_weekday(self) -> int: ...
    @property
    def time_zone(self) -> str: ...
    @property
    def last_reminded_on(self) -> str | None: ...


@dataclass(frozen=True)
class ReminderPrefs:
    """Reminder settings given directly (tests, imports) rather than read from a row."""

    reminder: str = "daily"
    reminder_time: str = "18:00"
    reminder_weekday: int = 0  # Monday
    time_zone: str = "Asia/Baghdad"
    last_reminded_on: str | None = None


def zone_of(fields: ReminderFields, settings: Settings) -> ZoneInfo:
    """The subscriber's zone; the campaign's when theirs is unknown to this system."""
    try:
        return ZoneInfo(fields.time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        return settings.zone


def local_wall_time(day: date, at: time, zone: ZoneInfo) -> datetime:
    """Return ``day at`` in ``zone`` as UTC; a time skipped by DST moves forward by the gap.

    zoneinfo reads a non-existent wall time (02:30 on a spring-forward night) with the offset
    from before the change, which lands after the gap; an ambiguous one (fall back) is read as
    its first occurrence (``fold=0``).
    """
    return datetime.combine(day, at, tzinfo=zone).astimezone(UTC)


def _clock(value: str) -> time:
    return time.fromisoformat(value)


def in_quiet_hours(moment: time, settings: Settings) -> bool:
    """Tell whether a local wall time falls inside the configured quiet hours."""
    start = _clock(settings.reminders.quiet_start)
    end = _clock(settings.reminders.quiet_end)
    if start == end:
        return False
    if start < end:
        return start <= moment < end
    return moment >= start or moment < end  # the window wraps past midnight


def effective_time(fields: ReminderFields, settings: Settings) -> time:
    """The subscriber's reminder time, moved to the end of quiet hours if it falls inside them."""
    try:
        chosen = _clock(fields.reminder_time)
    except ValueError:
        chosen = _clock(settings.reminders.default_time)
    if in_quiet_hours(chosen, settings):
        return _clock(settings.reminders.quiet_end)
    return chosen


def _slot(day: date, fields: ReminderFields, settings: Settings, zone: ZoneInfo) -> datetime:
    at = local_wall_time(day, effective_time(fields, settings), zone)
    local = at.astimezone(zone)
    if in_quiet_hours(local.time().replace(tzinfo=None), settings):
        # Only a DST jump can push a slot into quiet hours; take the end of them that day.
        at = local_wall_time(local.date(), _clock(settings.reminders.quiet_end), zone)
    return at


def next_reminder_at(
    fields: ReminderFields,
    after: datetime,
    settings: Settings,
) -> datetime | None:
    """Return the first reminder time strictly after ``after`` (UTC), or None when off.

    Daily reminders come every local day at the chosen time, weekly ones on the chosen weekday
    (Monday = 0). Never inside quiet hours, never twice on one local day: a day on or before
    ``last_reminded_on`` is skipped.
    """
    if fields.reminder not in ("daily", "weekly"):
        return None
    zone = zone_of(fields, settings)
    first = after.astimezone(zone).date()
    if fields.last_reminded_on:
        with contextlib.suppress(ValueError):  # an unreadable date does not block reminders
            first = max(first, date.fromisoformat(fields.last_reminded_on) + timedelta(days=1))
    for offset in range(9):  # a weekly slot is at most 7 days on, +1 for a slot already passed
        day = first + timedelta(days=offset)
        if fields.reminder == "weekly" and day.weekday() != fields.reminder_weekday % 7:
            continue
        slot = _slot(day, fields, settings, zone)
        if slot > after:
            return slot
    raise AssertionError("no reminder slot within nine days")  # pragma: no cover


def snooze_until(fields: ReminderFields, now: datetime, settings: Settings) -> datetime:
    """Return the reminder time on the subscriber's next local day, whatever their frequency."""
    zone = zone_of(fields, settings)
    tomorrow = now.astimezone(zone).date() + timedelta(days=1)
    return _slot(tomorrow, fields, settings, zone)


def local_day(moment: datetime, fields: ReminderFields, settings: Settings) -> str:
    """The subscriber's local date of ``moment`` (ISO), the unit of 'never twice a day'."""
    return moment.astimezone(zone_of(fields, settings)).date().isoformat()


def expires_at(slot: datetime, fields: ReminderFields, settings: Settings) -> datetime:
    """When a reminder due at ``slot`` stops being worth sending: grace, or quiet hours."""
    zone = zone_of(fields, settings)
    local = slot.astimezone(zone)
    quiet = datetime.combine(local.date(), _clock(settings.reminders.quiet_start), tzinfo=zone)
    if quiet <= local:
        quiet = datetime.combine(
            local.date() + timedelta(days=1), _clock(settings.reminders.quiet_start), tzinfo=zone
        )
    if settings.reminders.quiet_start == settings.reminders.quiet_end:
        return slot + REMINDER_GRACE
    return min(slot + REMINDER_GRACE, quiet.astimezone(UTC))
