"""Supporters' updates during a database outage: one line for all of them, one when it ends."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from bot.clock import SystemClock
from bot.config import load_config
from bot.library import load_library
from bot.render import Renderer
from bot.store import Store
from bot.store.outage import OutageReporter
from bot.telegram.application import OUTAGE_KEY
from bot.telegram.i18n import Translator
from bot.telegram.services import BotServices
from tests.fakes.telegram_api import FakeBotAPI
from tests.fakes.telegram_fixtures import (  # noqa: F401 (fixtures by name)
    fake_api_fixture,
    ptb_timedelta_fixture,
    running_bot,
    telegram_campaign,
)

WAIT = 60.0


async def wait_for_failures(reporter: OutageReporter, count: int) -> None:
    async def failures() -> None:
        while reporter.failures < count:  # noqa: ASYNC110 (the reporter has no event)
            await asyncio.sleep(0.05)

    await asyncio.wait_for(failures(), WAIT)


async def test_updates_while_the_database_is_away_log_once_and_the_return_once(
    fake_api: FakeBotAPI, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    campaign = telegram_campaign(tmp_path / "campaign")
    loaded = load_config(campaign.config_path)
    library, _ = load_library(loaded.library_dir)
    folder = tmp_path / "not-yet"  # SQLite cannot open a file in a missing folder
    url = f"sqlite:///{folder / 'bot.sqlite3'}"
    store = Store(url)
    services = BotServices(
        loaded.settings,
        library,
        Renderer(library, loaded.settings),
        store,
        SystemClock(),
        Translator(),
    )
    driver = await running_bot(fake_api, services)
    try:
        reporter: OutageReporter = driver.application.bot_data[OUTAGE_KEY]
        for chat in (501, 502, 503, 504):
            fake_api.push_text(chat, chat, "/start")
        await wait_for_failures(reporter, 4)
        assert reporter.down
        outage = [r for r in caplog.records if "database" in r.getMessage()]
        assert [r.getMessage().split(":")[0] for r in outage] == ["telegram updates"]
        assert not any(r.exc_info for r in caplog.records)  # no traceback per update

        folder.mkdir()  # the database is back
        Store(url).upgrade()
        replies = await driver.send(505, "/start")
        assert replies  # the supporter is answered again
        assert not reporter.down
        lines = [r.getMessage() for r in caplog.records if "database" in r.getMessage()]
        assert len(lines) == 2
        assert lines[1].startswith("telegram updates: database reachable again after")
    finally:
        await driver.stop()
        store.close()
