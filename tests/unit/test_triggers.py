"""Fire times as pure functions: local time kept across daylight saving, bounds honoured."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bot.config import Rule
from bot.schedule.triggers import fire_times


def rule(**fields: Any) -> Rule:
    return Rule.model_validate({"id": "r", "channels": ["console"], **fields})


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_nine_oclock_london_stays_nine_across_spring_forward() -> None:
    daily = rule(cron="0 9 * * *", time_zone="Europe/London")
    times = list(fire_times(daily, "Asia/Baghdad", utc(2026, 3, 27), utc(2026, 3, 31)))
    # GMT until 29 March 01:00 UTC, then BST (UTC+1): 09:00 local moves from 09:00 to 08:00 UTC.
    assert times == [
        utc(2026, 3, 27, 9),
        utc(2026, 3, 28, 9),
        utc(2026, 3, 29, 8),
        utc(2026, 3, 30, 8),
    ]


def test_nine_oclock_london_stays_nine_across_fall_back() -> None:
    daily = rule(cron="0 9 * * *", time_zone="Europe/London")
    times = list(fire_times(daily, "Asia/Baghdad", utc(2026, 10, 24), utc(2026, 10, 27)))
    assert times == [utc(2026, 10, 24, 8), utc(2026, 10, 25, 9), utc(2026, 10, 26, 9)]


def test_ambiguous_hour_fires_once_at_fall_back() -> None:
    # 01:30 happens twice in London on 25 October 2026; a daily post must go out once.
    nightly = rule(cron="30 1 * * *", time_zone="Europe/London")
    times = list(fire_times(nightly, "UTC", utc(2026, 10, 24, 12), utc(2026, 10, 26, 12)))
    assert len(times) == 2
    assert times[0].date().isoformat() == "2026-10-25"


def test_skipped_hour_at_spring_forward_does_not_fire_twice() -> None:
    nightly = rule(cron="30 1 * * *", time_zone="Europe/London")
    times = list(fire_times(nightly, "UTC", utc(2026, 3, 28, 12), utc(2026, 3, 30, 12)))
    assert len(times) <= 2 and len(set(times)) == len(times)


def test_baghdad_has_no_daylight_saving() -> None:
    daily = rule(cron="0 9 * * *")
    times = list(fire_times(daily, "Asia/Baghdad", utc(2026, 3, 27), utc(2026, 11, 1)))
    assert {t.hour for t in times} == {6}  # 09:00 Baghdad is 06:00 UTC all year
    assert len(times) == 219


def test_weekdays_only() -> None:
    weekdays = rule(cron="0 9 * * 1-5", time_zone="Asia/Baghdad")
    times = list(fire_times(weekdays, "UTC", utc(2026, 11, 23), utc(2026, 11, 30)))
    assert [t.strftime("%a") for t in times] == ["Mon", "Tue", "Wed", "Thu", "Fri"]


def test_interval_is_stable_across_restarts() -> None:
    every = rule(every="6h", time_zone="Asia/Baghdad")
    first = list(fire_times(every, "UTC", utc(2026, 11, 24, 0), utc(2026, 11, 25, 0)))
    later = list(fire_times(every, "UTC", utc(2026, 11, 24, 7, 13), utc(2026, 11, 25, 0)))
    assert len(first) == 4
    assert later == [t for t in first if t > utc(2026, 11, 24, 7, 13)]


def test_one_off_fires_once() -> None:
    once = rule(at="2026-12-01T09:00:00+03:00")
    assert list(fire_times(once, "UTC", utc(2026, 11, 30), utc(2026, 12, 31))) == [
        utc(2026, 12, 1, 6)
    ]
    assert list(fire_times(once, "UTC", utc(2026, 12, 1, 6), utc(2026, 12, 31))) == []


def test_start_and_end_bound_the_rule() -> None:
    bounded = rule(
        cron="0 9 * * *", time_zone="UTC", start="2026-12-02T00:00:00Z", end="2026-12-04T00:00:00Z"
    )
    times = list(fire_times(bounded, "UTC", utc(2026, 12, 1), utc(2026, 12, 10)))
    assert times == [utc(2026, 12, 2, 9), utc(2026, 12, 3, 9)]


def test_crontab_weekday_numbers_mean_what_cron_means() -> None:
    from bot.schedule.triggers import _crontab_days

    assert _crontab_days("1-5") == "mon,tue,wed,thu,fri"
    assert _crontab_days("0") == _crontab_days("7") == "sun"
    assert _crontab_days("5-7") == "sun,fri,sat"
    assert _crontab_days("*/2") == "sun,tue,thu,sat"
    assert _crontab_days("sat,sun") == "sun,sat"
    assert _crontab_days("*") == "*"
