"""Turn schedule rules into APScheduler triggers and compute their fire times as pure functions."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from bot.config import Rule, parse_duration

# Interval rules without a start are anchored here, so their times do not depend on restarts.
_INTERVAL_ANCHOR = (2000, 1, 3)
_TICK = timedelta(microseconds=1)
_DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


def _crontab_days(field: str) -> str:
    """Translate a crontab day-of-week field (0 or 7 = Sunday) into APScheduler day names.

    APScheduler 3 reads weekday numbers with 0 = Monday (agronholm/apscheduler#286), so
    ``1-5`` would mean Tuesday to Saturday; names mean the same to both.
    """
    if field in ("*", "?"):
        return "*"
    days: set[int] = set()
    for part in field.lower().split(","):
        span, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if span == "*":
            first, last = 0, 6
        else:
            low, _, high = span.partition("-")
            first = _day_number(low)
            last = _day_number(high) if high else (6 if step_text else first)
            if high and last < first:  # 5-0 style ranges that end on Sunday as 7
                last += 7
        days.update(day % 7 for day in range(first, last + 1, step))
    return ",".join(_DAY_NAMES[day] for day in sorted(days))


def _day_number(text: str) -> int:
    if text in _DAY_NAMES:
        return _DAY_NAMES.index(text)
    number = int(text)
    if not 0 <= number <= 7:
        raise ValueError(f"day of week {number} is out of range 0-7")
    return number


def rule_zone(rule: Rule, default: str) -> ZoneInfo:
    return ZoneInfo(rule.time_zone or default)


def make_trigger(rule: Rule, default_zone: str) -> BaseTrigger:
    """Build the APScheduler trigger of a rule, in the rule's time zone."""
    zone = rule_zone(rule, default_zone)
    if rule.cron:
        fields = rule.cron.split()
        if len(fields) != 5:
            raise ValueError(f"cron {rule.cron!r} needs 5 fields: minute hour day month weekday")
        minute, hour, day, month, weekday = fields
        return CronTrigger(
            minute=minute,
            hour=hour,
            day=day,
            month=month,
            day_of_week=_crontab_days(weekday),
            timezone=zone,
        )
    if rule.every:
        start = rule.start or datetime(*_INTERVAL_ANCHOR, tzinfo=zone)
        return IntervalTrigger(
            seconds=parse_duration(rule.every).total_seconds(), start_date=start, timezone=zone
        )
    assert rule.at is not None  # the config model guarantees exactly one trigger
    return DateTrigger(run_date=rule.at, timezone=zone)


def fire_times(
    rule: Rule, default_zone: str, after: datetime, until: datetime
) -> Iterator[datetime]:
    """Yield the rule's fire times (UTC) in ``(after, until]``, within its start and end."""
    trigger = make_trigger(rule, default_zone)
    moment = after + _TICK
    last_wall: datetime | None = None
    while True:
        # Always ask from `moment` alone: with a previous fire time, APScheduler 3 returns the
        # repeated local hour of a fall-back change again and again.
        fire: datetime | None = trigger.get_next_fire_time(None, moment)
        if fire is None or fire > until:
            return
        if fire < moment:
            if isinstance(trigger, DateTrigger):
                return  # a one-off whose time has passed
            # Around a fall-back change APScheduler 3 can answer with an earlier time.
            moment = max(moment, fire) + timedelta(minutes=1)
            continue
        if rule.end is not None and fire > rule.end:
            return
        wall = fire.replace(tzinfo=None)
        if wall == last_wall:  # the same local time again (fall-back): publish once
            moment = fire + timedelta(minutes=1)
            continue
        last_wall = wall
        if rule.start is None or fire >= rule.start:
            yield fire.astimezone(UTC)
        moment = fire + _TICK
