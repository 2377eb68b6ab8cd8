"""The Telegram part comes up in the background when the Bot API is unreachable at start."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from telegram.error import InvalidToken

from bot.store import Store
from bot.store.posts import list_deliveries
from bot.telegram.application import AnyApplication, build_application
from bot.telegram.application import stop as stop_application
from bot.telegram.notifier import TelegramNotifier
from bot.telegram.startup import Backoff, TelegramStartup
from tests.campaign_factory import Campaign
from tests.fakes.telegram_api import FakeBotAPI
from tests.fakes.telegram_fixtures import (  # noqa: F401 (fixtures by name)
    STAFF_A,
    STAFF_B,
    TOKEN,
    fake_api_fixture,
    make_services,
    ptb_timedelta_fixture,
    telegram_campaign,
)
from tests.integration.test_outbox import make_engine
from tests.integration.test_telegram_outage_process import free_port

WAIT = 60.0  # generous: a loaded 2-core machine


def quick() -> Backoff:
    return Backoff(first=0.05, cap=0.2)


class Started:
    def __init__(self) -> None:
        self.calls = 0
        self.rejected = asyncio.Event()

    async def __call__(self) -> None:
        self.calls += 1


@pytest.fixture(name="services_url")
def services_url_fixture(tmp_path: Path) -> Iterator[str]:
    yield f"sqlite:///{tmp_path / 'bot.sqlite3'}"


async def application_on(root: str, tmp_path: Path, db_url: str) -> AnyApplication:
    campaign = telegram_campaign(tmp_path / "campaign")
    return build_application(TOKEN, root, make_services(campaign, db_url))


@pytest.fixture(name="started")
def started_fixture() -> Started:
    return Started()


def startup_for(application: AnyApplication, started: Started) -> TelegramStartup:
    return TelegramStartup(
        application,
        on_started=started,
        on_rejected=started.rejected.set,
        backoff=quick,
    )


@pytest.fixture(name="down_root")
async def down_root_fixture() -> AsyncIterator[tuple[str, int]]:
    port = free_port()
    yield f"http://127.0.0.1:{port}", port


async def test_unreachable_at_start_then_up_in_the_background(
    down_root: tuple[str, int],
    tmp_path: Path,
    services_url: str,
    started: Started,
    caplog: pytest.LogCaptureFixture,
) -> None:
    root, port = down_root
    application = await application_on(root, tmp_path, services_url)
    startup = startup_for(application, started)
    await startup.start()  # returns: the rest of the worker goes on
    assert not startup.started.is_set() and started.calls == 0
    assert "Telegram unreachable at start" in caplog.text
    later: list[str] = []

    async def also() -> None:
        later.append("audience")

    await startup.after_start(also)
    async with FakeBotAPI(port=port) as fake:
        await asyncio.wait_for(startup.started.wait(), WAIT)
        await asyncio.wait_for(startup.menus_set.wait(), WAIT)
        await fake.wait_for_calls("getUpdates", 1, timeout=WAIT)
        assert (started.calls, later) == (1, ["audience"])
        assert fake.commands  # the menus were published
        await startup.stop()
        await stop_application(application)
    assert not started.rejected.is_set()


async def test_a_token_rejected_later_stops_the_worker(
    down_root: tuple[str, int], tmp_path: Path, services_url: str, started: Started
) -> None:
    root, port = down_root
    application = await application_on(root, tmp_path, services_url)
    startup = startup_for(application, started)
    await startup.start()
    async with FakeBotAPI(port=port, token="1:OTHER"):
        await asyncio.wait_for(started.rejected.wait(), WAIT)
    assert isinstance(startup.rejected, InvalidToken)
    assert TOKEN not in str(startup.rejected)
    assert started.calls == 0
    await startup.stop()
    await stop_application(application)


async def test_a_rejected_token_at_start_is_raised_at_once(
    fake_api: FakeBotAPI, tmp_path: Path, services_url: str, started: Started
) -> None:
    fake_api.token = "1:OTHER"
    application = await application_on(fake_api.root, tmp_path, services_url)
    startup = startup_for(application, started)
    with pytest.raises(InvalidToken):
        await startup.start()
    await startup.stop()


async def test_failing_menus_are_retried_and_never_stop_the_bot(
    fake_api: FakeBotAPI,
    tmp_path: Path,
    services_url: str,
    started: Started,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    fake_api.fail_next("setMyCommands", 500, "Internal Server Error", times=3)
    application = await application_on(fake_api.root, tmp_path, services_url)
    startup = startup_for(application, started)
    await startup.start()
    assert startup.started.is_set() and started.calls == 1  # updates flow meanwhile
    await asyncio.wait_for(startup.menus_set.wait(), WAIT)
    assert fake_api.commands
    assert caplog.text.count("could not set the command menus") == 1
    assert "command menus set after 3 failed attempts" in caplog.text
    await startup.stop()
    await stop_application(application)


async def test_a_held_channel_waits_without_spending_attempts_and_blocks_no_other(
    campaign: Campaign, store: Store
) -> None:
    engine = make_engine(campaign, store)
    engine.outbox.hold("telegram", "Telegram is not reachable yet")
    for _ in range(60):  # more than one page of ready deliveries
        engine.post(channels=["telegram"])
    engine.post(channels=["mastodon"])
    await engine.tick()
    assert len(engine.channels["mastodon"].published) == 1
    assert engine.channels["telegram"].published == []
    rows = [d for d in list_deliveries(store) if d.channel == "telegram"]
    assert {(d.status, d.attempts) for d in rows} == {("pending", 0)}
    engine.outbox.hold("telegram", None)  # Telegram is up
    await engine.tick()
    await engine.tick()
    assert len(engine.channels["telegram"].published) == 60


async def test_staff_notices_wait_for_telegram_and_go_out_once_it_answers(
    down_root: tuple[str, int], tmp_path: Path, services_url: str, started: Started
) -> None:
    root, port = down_root
    application = await application_on(root, tmp_path, services_url)
    startup = startup_for(application, started)
    await startup.start()
    notifier = TelegramNotifier(application.bot, [STAFF_A, STAFF_B])
    await notifier.notify_staff("Delivery 1 (f-attacks on x, en) uncertain: timed out")
    await notifier.notify_staff("Post 2 (f-aid) missed: fell due while the bot was down")
    assert len(notifier.waiting) == 4  # two notices for two staff members
    await startup.after_start(notifier.flush)
    async with FakeBotAPI(port=port) as fake:
        await asyncio.wait_for(startup.started.wait(), WAIT)
        staff = (STAFF_A, STAFF_B)
        await fake.wait_for(lambda: all(len(fake.sent_messages(s)) == 2 for s in staff), WAIT)
        for staff_id in staff:
            texts = [m.text for m in fake.sent_messages(staff_id)]
            assert len(texts) == 2
            assert "uncertain" in texts[0] and "missed" in texts[1]  # in order
        await notifier.flush()  # waits for the flush in progress; sends nothing twice
        assert not notifier.waiting
        assert all(len(fake.sent_messages(s)) == 2 for s in staff)
        await startup.stop()
        await stop_application(application)
