"""Reminder times: local time and weekday, quiet hours, daylight-saving changes, one a day."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.config import Campaign, Reminders, Settings
from bot.schedule.reminder_times import (
    REMINDER_GRACE,
    ReminderPrefs,
    expires_at,
    local_day,
    next_reminder_at,
    snooze_until,
)

NEW_YORK = ZoneInfo("America/New_York")


def settings(**reminders: Any) -> Settings:
    return Settings(campaign=Campaign(name="Test"), reminders=Reminders(**reminders))


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


def test_daily_reminder_comes_at_the_local_time_in_the_subscribers_zone() -> None:
    prefs = ReminderPrefs("daily", "18:00", time_zone="Asia/Baghdad")  # UTC+3
    assert next_reminder_at(prefs, utc(2026, 5, 4, 10, 0), settings()) == utc(2026, 5, 4, 15, 0)
    # Once today's time has passed, it is tomorrow's.
    assert next_reminder_at(prefs, utc(2026, 5, 4, 15, 0), settings()) == utc(2026, 5, 5, 15, 0)


def test_weekly_reminder_waits_for_the_chosen_weekday() -> None:
    prefs = ReminderPrefs("weekly", "12:00", reminder_weekday=3, time_zone="UTC")  # Thursday
    after = utc(2026, 5, 4, 9, 0)  # a Monday
    assert next_reminder_at(prefs, after, settings()) == utc(2026, 5, 7, 12, 0)
    assert next_reminder_at(prefs, utc(2026, 5, 7, 12, 0), settings()) == utc(2026, 5, 14, 12, 0)


def test_reminders_off_have_no_next_time() -> None:
    assert next_reminder_at(ReminderPrefs("off"), utc(2026, 5, 4), settings()) is None


def test_never_twice_on_one_local_day() -> None:
    # Reminded at 08:00 today, then the supporter moves their time to 20:00: not again today.
    prefs = ReminderPrefs("daily", "20:00", time_zone="UTC", last_reminded_on="2026-05-04")
    after = utc(2026, 5, 4, 9, 0)
    assert next_reminder_at(prefs, after, settings()) == utc(2026, 5, 5, 20, 0)


def test_a_time_inside_quiet_hours_moves_to_their_end_on_the_same_day() -> None:
    prefs = ReminderPrefs("daily", "23:30", time_zone="UTC")
    after = utc(2026, 5, 4, 9, 0)
    assert next_reminder_at(prefs, after, settings()) == utc(2026, 5, 5, 8, 0)
    early = ReminderPrefs("daily", "06:00", time_zone="UTC")
    assert next_reminder_at(early, utc(2026, 5, 4, 0, 0), settings()) == utc(2026, 5, 4, 8, 0)


def test_quiet_hours_that_do_not_wrap_midnight() -> None:
    custom = settings(quiet_start="13:00", quiet_end="15:00")
    prefs = ReminderPrefs("daily", "14:00", time_zone="UTC")
    assert next_reminder_at(prefs, utc(2026, 5, 4, 9, 0), custom) == utc(2026, 5, 4, 15, 0)


@pytest.mark.parametrize("hour", range(24))
def test_no_reminder_time_ever_falls_inside_quiet_hours(hour: int) -> None:
    prefs = ReminderPrefs("daily", f"{hour:02d}:30", time_zone="America/New_York")
    moment = utc(2026, 3, 1, 0, 0)
    for _ in range(60):  # two months, across the spring change
        moment = next_reminder_at(prefs, moment, settings())  # type: ignore[assignment]
        local = moment.astimezone(NEW_YORK).time()
        assert local.hour >= 8 and (local.hour < 22), moment


def test_local_time_is_kept_across_daylight_saving_changes() -> None:
    prefs = ReminderPrefs("daily", "18:00", time_zone="America/New_York")
    before = next_reminder_at(prefs, utc(2026, 3, 7, 12, 0), settings())
    after = next_reminder_at(prefs, utc(2026, 3, 8, 12, 0), settings())  # EST -> EDT overnight
    assert before == utc(2026, 3, 7, 23, 0)
    assert after == utc(2026, 3, 8, 22, 0)
    assert after is not None and after - (before or after) == timedelta(hours=23)
    autumn = next_reminder_at(prefs, utc(2026, 11, 1, 12, 0), settings())  # EDT -> EST
    assert autumn == utc(2026, 11, 1, 23, 0)


def test_a_time_skipped_by_the_spring_change_moves_forward_by_the_gap() -> None:
    no_quiet = settings(quiet_start="00:00", quiet_end="00:00")
    prefs = ReminderPrefs("daily", "02:30", time_zone="America/New_York")
    slot = next_reminder_at(prefs, utc(2026, 3, 8, 5, 0), no_quiet)
    assert slot == utc(2026, 3, 8, 7, 30)  # 03:30 EDT: 02:30 does not exist that night
    assert local_day(slot, prefs, no_quiet) == "2026-03-08"


def test_a_time_repeated_by_the_autumn_change_is_sent_once() -> None:
    no_quiet = settings(quiet_start="00:00", quiet_end="00:00")
    prefs = ReminderPrefs("daily", "01:30", time_zone="America/New_York")
    first = next_reminder_at(prefs, utc(2026, 11, 1, 4, 0), no_quiet)
    assert first == utc(2026, 11, 1, 5, 30)  # the first 01:30 (EDT)
    sent_that_day = ReminderPrefs(
        "daily", "01:30", time_zone="America/New_York", last_reminded_on="2026-11-01"
    )
    # Asked again within the repeated hour, the answer is tomorrow, not the second 01:30.
    again = next_reminder_at(sent_that_day, utc(2026, 11, 1, 5, 45), no_quiet)
    assert again == utc(2026, 11, 2, 6, 30)


def test_an_unknown_zone_falls_back_to_the_campaign_zone() -> None:
    prefs = ReminderPrefs("daily", "18:00", time_zone="Mars/Olympus")
    assert next_reminder_at(prefs, utc(2026, 5, 4, 10, 0), settings()) == utc(2026, 5, 4, 15, 0)


def test_snooze_moves_to_tomorrow_at_the_reminder_time_even_for_weekly() -> None:
    prefs = ReminderPrefs("weekly", "18:00", reminder_weekday=0, time_zone="UTC")
    assert snooze_until(prefs, utc(2026, 5, 4, 18, 5), settings()) == utc(2026, 5, 5, 18, 0)


def test_a_reminder_expires_after_the_grace_or_when_quiet_hours_begin() -> None:
    prefs = ReminderPrefs("daily", "12:00", time_zone="UTC")
    noon = utc(2026, 5, 4, 12, 0)
    assert expires_at(noon, prefs, settings()) == noon + REMINDER_GRACE
    late = utc(2026, 5, 4, 21, 0)
    assert expires_at(late, prefs, settings()) == utc(2026, 5, 4, 22, 0)
