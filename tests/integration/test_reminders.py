"""Reminders: the job, the fan-out and the buttons, with a fixed clock, on both stores."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update

from bot.app import Core, build_telegram
from bot.clock import FixedClock
from bot.schedule.reminders import reminder_buttons, reschedule, run_due_reminders
from bot.store import ActionCount, AuditEntry, DeliveryStatus, Store, Subscriber
from bot.telegram.i18n import Translator
from tests.campaign_factory import Campaign, action
from tests.fakes.telegram_api import FakeBotAPI
from tests.fakes.telegram_fixtures import (  # noqa: F401 (fixtures by name)
    TOKEN,
    BotDriver,
    fake_api_fixture,
    ptb_timedelta_fixture,
)
from tests.integration.test_fanout_support import (
    ALL_LANGUAGES,
    Harness,
    add_subscribers,
    make_core,
    messages,
    reviewed_campaign,
    running_harness,
    subscriber,
    wait_until,
)

MONDAY = datetime(2026, 5, 4, tzinfo=UTC)  # Baghdad is UTC+3 all year
WEAPONS_ACTION = action(
    "a-weapons",
    topics=["weapons"],
    text={
        "en": "Ask for a ban on IRAMs.",
        "ar": "اطلبوا حظر القذائف.",
        "ckb": "داوای قەدەغە بکە.",
    },
    reviewed=ALL_LANGUAGES,
)


def at(day: datetime | date, hhmm: str) -> datetime:
    """A UTC time on ``day``."""
    hours, minutes = map(int, hhmm.split(":"))
    return datetime(day.year, day.month, day.day, hours, minutes, tzinfo=UTC)


@dataclass
class Reminders:
    """The worker's reminders job and fan-out, on a clock the test moves."""

    harness: Harness
    clock: FixedClock

    @property
    def store(self) -> Store:
        return self.harness.store

    async def tick(self, when: datetime) -> None:
        """Move the clock and run the reminders job once, as the scheduler does."""
        self.clock.current = when
        await self.harness.audience.reminders_tick()

    async def delivered(self, fake: FakeBotAPI, count: int) -> None:
        """Wait until ``count`` messages reached the fake and every reminder row is final."""
        await fake.wait_for(lambda: fake.delivered >= count)
        await wait_until(
            lambda: all(m.status not in ("pending", "sending") for m in messages(self.store)),
            5,
            "reminders to be recorded",
        )


@dataclass
class Job:
    """The reminders job alone (no fan-out): it writes the messages the fan-out would send."""

    core: Core

    @property
    def store(self) -> Store:
        return self.core.store

    async def tick(self, when: datetime) -> None:
        core = self.core
        await run_due_reminders(core.store, core.library, core.settings, when)


def add(store: Store, chat: int, **columns: Any) -> None:
    defaults: dict[str, Any] = {
        "reminder": "daily",
        "reminder_time": "18:00",
        "time_zone": "Asia/Baghdad",
    }
    add_subscribers(store, [chat], **{**defaults, **columns})


def next_at(store: Store, chat: int) -> datetime | None:
    row = subscriber(store, chat)
    assert row is not None
    return row.next_reminder_at


@pytest.fixture
def reminder_campaign(campaign: Campaign) -> Campaign:
    return reviewed_campaign(campaign, extra=[WEAPONS_ACTION])


@pytest.fixture
def job(reminder_campaign: Campaign, store: Store) -> Job:
    return Job(make_core(reminder_campaign, store, FixedClock(at(MONDAY, "12:00"))))


@pytest.fixture
async def reminders(
    reminder_campaign: Campaign, store: Store, fake_api: FakeBotAPI
) -> AsyncIterator[Reminders]:
    clock = FixedClock(at(MONDAY, "12:00"))
    async with running_harness(reminder_campaign, store, fake_api, clock=clock) as harness:
        yield Reminders(harness, clock)


# -- who gets what, when ----------------------------------------------------------------------


async def test_due_subscribers_get_the_call_to_action_of_their_topics_in_their_language(
    reminders: Reminders, fake_api: FakeBotAPI
) -> None:
    store = reminders.store
    add(store, 1, language="en", topics="acknowledge")
    add(store, 2, language="ar", topics="weapons")
    add(store, 3, language="ckb", topics="weapons")
    add(store, 4, time_zone="America/New_York")  # 18:00 there is 22:00 UTC
    add(store, 5, reminder="weekly", reminder_weekday=3)  # Thursdays
    add(store, 6, reminder="off")
    add(store, 7, active=False)
    await reminders.tick(at(MONDAY, "14:00"))  # imported rows get their next time
    assert next_at(store, 1) == at(MONDAY, "15:00")  # 18:00 in Baghdad
    assert fake_api.delivered == 0

    await reminders.tick(at(MONDAY, "15:00"))
    await reminders.delivered(fake_api, 3)

    core = reminders.harness.core
    translate = Translator()
    expected = {1: ("a-share", "en"), 2: ("a-weapons", "ar"), 3: ("a-weapons", "ckb")}
    assert sorted(fake_api.per_chat_delivered) == [1, 2, 3]
    for chat, (item_id, lang) in expected.items():
        [sent] = fake_api.sent_messages(chat)
        assert sent.text == core.renderer.render(core.library.get(item_id), "telegram", lang).text
        buttons = reminder_buttons(item_id, lang, translate)
        markup = json.loads(sent.params["reply_markup"])["inline_keyboard"]
        # Callback buttons carry their data; the Share button opens inline mode on the item.
        assert [
            [(b["text"], b.get("callback_data") or b["switch_inline_query"]) for b in row]
            for row in markup
        ] == [[(button.label, button.share or button.data) for button in row] for row in buttons]
        assert markup[1][0]["switch_inline_query"] == item_id
    assert {m.chat_id: m.status for m in messages(store)} == dict.fromkeys((1, 2, 3), "sent")

    tuesday = MONDAY + timedelta(days=1)
    assert next_at(store, 1) == at(tuesday, "15:00")
    assert next_at(store, 4) == at(MONDAY, "22:00")
    assert next_at(store, 5) == at(MONDAY + timedelta(days=3), "15:00")
    assert next_at(store, 6) is None and next_at(store, 7) is None


async def test_weekly_reminders_come_on_their_weekday_and_daily_ones_every_day(
    job: Job,
) -> None:
    store = job.store
    add(store, 1, reminder="daily")
    add(store, 2, reminder="weekly", reminder_weekday=2)  # Wednesdays
    await job.tick(at(MONDAY, "14:00"))
    for day in range(8):  # Monday to the next Monday, at 18:00 Baghdad time
        await job.tick(at(MONDAY + timedelta(days=day), "15:00"))

    def days(chat: int) -> list[str]:
        return [m.created_at.date().isoformat() for m in messages(store) if m.chat_id == chat]

    assert days(1) == [(MONDAY + timedelta(days=d)).date().isoformat() for d in range(8)]
    assert days(2) == ["2026-05-06"]
    assert next_at(store, 2) == at(date(2026, 5, 13), "15:00")


async def test_rows_without_a_known_frequency_never_get_a_reminder_nor_stall_the_job(
    job: Job, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("bot.schedule.reminders.BATCH", 2)  # full batches, then the rest
    for chat in range(1, 6):
        add(job.store, chat, reminder="monthly")  # not a frequency this version knows
    add(job.store, 6, reminder="off", next_reminder_at=at(MONDAY, "15:00"))  # a stale time
    add(job.store, 7)
    await asyncio.wait_for(job.tick(at(MONDAY, "14:00")), 5)
    await asyncio.wait_for(job.tick(at(MONDAY, "15:00")), 5)
    assert [m.chat_id for m in messages(job.store)] == [7]


async def test_never_in_quiet_hours_and_a_reminder_held_back_into_them_is_missed(
    reminder_campaign: Campaign, store: Store, fake_api: FakeBotAPI
) -> None:
    tuesday = MONDAY + timedelta(days=1)
    job = Job(make_core(reminder_campaign, store, FixedClock(at(MONDAY, "12:00"))))
    add(store, 1, reminder_time="23:30")  # moved to the end of quiet hours
    add(store, 2, next_reminder_at=at(MONDAY, "20:00"))  # left in them: 23:00 in Baghdad
    add(store, 3, reminder_time="21:30")  # 18:30 UTC; quiet hours start 19:00 UTC
    await job.tick(at(MONDAY, "12:00"))
    assert next_at(store, 1) == at(tuesday, "05:00")  # 08:00 local
    await job.tick(at(MONDAY, "20:00"))
    assert messages(store) == []
    assert next_at(store, 2) == at(tuesday, "15:00")
    assert next_at(store, 3) == at(tuesday, "18:30")

    # The worker writes the 21:30 reminder, then stops before sending it; it is back at 22:01.
    await job.tick(at(tuesday, "18:30"))
    [written] = messages(store)
    assert (written.chat_id, written.expires_at) == (3, at(tuesday, "19:00"))
    clock = FixedClock(at(tuesday, "19:01"))
    async with running_harness(reminder_campaign, store, fake_api, clock=clock):
        await wait_until(lambda: messages(store)[0].status == DeliveryStatus.MISSED, 5, "the miss")
    assert fake_api.delivered == 0


async def test_never_twice_on_one_local_day_also_across_a_restart(
    reminder_campaign: Campaign, store: Store, fake_api: FakeBotAPI
) -> None:
    clock = FixedClock(at(MONDAY, "14:00"))
    add(store, 1)
    async with running_harness(reminder_campaign, store, fake_api, clock=clock) as harness:
        ticks = Reminders(harness, clock)
        await ticks.tick(at(MONDAY, "14:00"))
        await ticks.tick(at(MONDAY, "15:00"))
        await ticks.tick(at(MONDAY, "15:00"))  # the job runs twice in a row
        await ticks.delivered(fake_api, 1)
    async with running_harness(reminder_campaign, store, fake_api, clock=clock) as harness:
        ticks = Reminders(harness, clock)
        await ticks.tick(at(MONDAY, "15:01"))  # after a restart
        # The supporter moves their time to later today: still not again today.
        with store.sessions.begin() as session:
            session.execute(
                update(Subscriber).where(Subscriber.chat_id == 1).values(reminder_time="20:00")
            )
        assert reschedule(store, 1, harness.core.settings, clock.now()) == at(
            MONDAY + timedelta(days=1), "17:00"
        )
        # Even a next time forced back into today writes no second reminder.
        with store.sessions.begin() as session:
            session.execute(
                update(Subscriber)
                .where(Subscriber.chat_id == 1)
                .values(next_reminder_at=at(MONDAY, "17:00"))
            )
        await ticks.tick(at(MONDAY, "17:00"))
        await ticks.tick(at(MONDAY, "17:30"))
        assert len(messages(store)) == 1
    assert fake_api.per_chat_delivered == {1: 1}


async def test_nothing_while_paused_or_in_a_blackout_and_nothing_late_afterwards(
    reminder_campaign: Campaign, store: Store, fake_api: FakeBotAPI
) -> None:
    tuesday = MONDAY + timedelta(days=1)
    data = reminder_campaign.config()
    data["schedule"]["blackouts"] = [
        {"start": at(tuesday, "14:00").isoformat(), "end": at(tuesday, "16:00").isoformat()}
    ]
    reminder_campaign.write_config(data)
    clock = FixedClock(at(MONDAY, "14:00"))
    add(store, 1)
    add(store, 2, reminder_time="18:10")
    async with running_harness(reminder_campaign, store, fake_api, clock=clock) as harness:
        ticks = Reminders(harness, clock)
        await ticks.tick(at(MONDAY, "14:00"))
        store.set_paused(True, "test", "cli")
        await ticks.tick(at(MONDAY, "15:00"))
        assert messages(store) == []
        assert next_at(store, 1) == at(tuesday, "15:00")
        store.set_paused(False, "test", "cli")
        await ticks.tick(at(MONDAY, "15:05"))  # resumed: the 18:00 one is not sent late
        assert messages(store) == []
        await ticks.tick(at(MONDAY, "15:10"))  # but the 18:10 one is on time
        await ticks.delivered(fake_api, 1)

        await ticks.tick(at(tuesday, "15:00"))  # in the blackout
        await ticks.tick(at(tuesday, "15:10"))
        await ticks.tick(at(tuesday, "16:05"))  # after it
        assert [m.chat_id for m in messages(store)] == [2]
        assert next_at(store, 1) == at(tuesday + timedelta(days=1), "15:00")

    # Written just before a pause (and the worker stopped); resumed past its grace: missed.
    wednesday = tuesday + timedelta(days=1)
    core = harness.core
    await run_due_reminders(store, core.library, core.settings, at(wednesday, "15:00"))
    store.set_paused(True, "test", "cli")
    clock.current = at(wednesday, "17:30")
    async with running_harness(reminder_campaign, store, fake_api, clock=clock) as harness:
        await asyncio.sleep(0.1)
        store.set_paused(False, "test", "cli")
        await wait_until(
            lambda: messages(store)[-1].status == DeliveryStatus.MISSED, 5, "the miss"
        )
    assert fake_api.per_chat_delivered == {2: 1}


async def test_the_local_time_holds_across_daylight_saving_changes_in_berlin(job: Job) -> None:
    store = job.store
    add(store, 1, time_zone="Europe/Berlin")
    spring = date(2026, 3, 28)  # CET (UTC+1); clocks go forward on Sunday the 29th
    await job.tick(at(spring, "12:00"))
    assert next_at(store, 1) == at(spring, "17:00")
    await job.tick(at(spring, "17:00"))
    assert next_at(store, 1) == at(date(2026, 3, 29), "16:00")  # 18:00 CEST
    await job.tick(at(date(2026, 3, 29), "16:00"))
    assert next_at(store, 1) == at(date(2026, 3, 30), "16:00")

    autumn = date(2026, 10, 24)  # CEST; clocks go back on Sunday the 25th
    with store.sessions.begin() as session:
        session.execute(update(Subscriber).values(next_reminder_at=None))
    await job.tick(at(autumn, "12:00"))
    assert next_at(store, 1) == at(autumn, "16:00")
    await job.tick(at(autumn, "16:00"))
    assert next_at(store, 1) == at(date(2026, 10, 25), "17:00")  # 18:00 CET
    await job.tick(at(date(2026, 10, 25), "17:00"))
    local = [m.created_at.astimezone(ZoneInfo("Europe/Berlin")) for m in messages(store)]
    assert [(t.date().isoformat(), f"{t:%H:%M}") for t in local] == [
        ("2026-03-28", "18:00"),
        ("2026-03-29", "18:00"),
        ("2026-10-24", "18:00"),
        ("2026-10-25", "18:00"),
    ]


# -- the buttons ------------------------------------------------------------------------------


@pytest.fixture
async def bot_driver(
    reminders: Reminders, fake_api: FakeBotAPI, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[BotDriver]:
    """The real Application the worker runs, built by the composition root."""
    monkeypatch.setenv("TELEGRAM_API_BASE_URL", fake_api.root)
    driver = BotDriver(fake_api, build_telegram(reminders.harness.core, TOKEN))
    await driver.start()
    yield driver
    await driver.stop()


async def reminded(reminders: Reminders, fake_api: FakeBotAPI, chats: list[int]) -> None:
    for chat in chats:
        add(reminders.store, chat)
    await reminders.tick(at(MONDAY, "14:00"))
    await reminders.tick(at(MONDAY, "15:00"))
    await reminders.delivered(fake_api, len(chats))


async def test_done_counts_an_action_without_keeping_who(
    reminders: Reminders, fake_api: FakeBotAPI, bot_driver: BotDriver
) -> None:
    await reminded(reminders, fake_api, [1, 2])
    for chat in (1, 2):
        [reminder] = fake_api.sent_messages(chat)
        since = bot_driver.mark()
        [edited] = await bot_driver.press(chat, "rem:done:a-share", message_id=reminder.message_id)
        [answer] = bot_driver.answers(since)
        assert "Thank you" in answer.params["text"]
        assert "rem:done:a-share" not in edited.data and "rem:stop" in edited.data

    with reminders.store.sessions() as session:
        counts = list(session.execute(select(ActionCount.item_id, ActionCount.count)))
    assert counts == [("a-share", 2)]
    assert {c.name for c in ActionCount.__table__.columns} == {"item_id", "day", "count"}


async def test_snooze_moves_the_next_reminder_to_tomorrow(
    reminders: Reminders, fake_api: FakeBotAPI, bot_driver: BotDriver
) -> None:
    add(reminders.store, 1, reminder="weekly", reminder_weekday=0)  # Mondays
    await reminders.tick(at(MONDAY, "14:00"))
    await reminders.tick(at(MONDAY, "15:00"))
    await reminders.delivered(fake_api, 1)
    [reminder] = fake_api.sent_messages(1)
    since = bot_driver.mark()
    await bot_driver.press(1, "rem:snooze", message_id=reminder.message_id)
    [answer] = bot_driver.answers(since)
    assert "18:00" in answer.params["text"]
    assert next_at(reminders.store, 1) == at(MONDAY + timedelta(days=1), "15:00")

    await reminders.tick(at(MONDAY + timedelta(days=1), "15:00"))
    await reminders.delivered(fake_api, 2)
    assert next_at(reminders.store, 1) == at(MONDAY + timedelta(days=7), "15:00")  # weekly again


async def test_stop_turns_reminders_off_and_removes_the_buttons(
    reminders: Reminders, fake_api: FakeBotAPI, bot_driver: BotDriver
) -> None:
    await reminded(reminders, fake_api, [1])
    [reminder] = fake_api.sent_messages(1)
    [edited] = await bot_driver.press(1, "rem:stop", message_id=reminder.message_id)
    assert edited.buttons == []
    row = subscriber(reminders.store, 1)
    assert row is not None and row.active and row.reminder == "off"
    assert row.next_reminder_at is None
    with reminders.store.sessions() as session:  # the audit log outlives /forget
        actors = set(session.scalars(select(AuditEntry.actor)))
    assert not any("1" in actor for actor in actors), actors

    await reminders.tick(at(MONDAY + timedelta(days=1), "15:00"))
    assert len(messages(reminders.store)) == 1


async def test_subscribers_without_a_time_get_one_at_the_first_tick_then_every_15_minutes(
    reminders: Reminders,
) -> None:
    """The scan for subscribers who want reminders but have no time (rows older than
    reminder times) runs at the job's first tick and then every 15 minutes, not every minute."""
    store = reminders.store
    add(store, 1)  # no next_reminder_at: an older row
    await reminders.tick(at(MONDAY, "12:00"))
    assert next_at(store, 1) == at(MONDAY, "15:00")  # 18:00 in Baghdad
    add(store, 2)
    await reminders.tick(at(MONDAY, "12:01"))
    await reminders.tick(at(MONDAY, "12:14"))
    assert next_at(store, 2) is None  # not looked for yet
    await reminders.tick(at(MONDAY, "12:15"))
    assert next_at(store, 2) == at(MONDAY, "15:00")
