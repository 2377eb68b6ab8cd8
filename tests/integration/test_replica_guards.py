"""What keeps replicas apart: one `run` per SQLite file, and getUpdates only from the poller."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bot.config import ConfigError
from bot.store.single import hold_sqlite, lock_path
from bot.telegram.poll_gate import GatedUpdatesRequest
from tests.campaign_factory import Campaign
from tests.fakes.telegram_api import FakeBotAPI
from tests.fakes.telegram_fixtures import (  # noqa: F401 (fixtures by name)
    TOKEN,
    fake_api_fixture,
    ptb_timedelta_fixture,
)


def test_a_second_lock_on_one_sqlite_file_is_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'data' / 'campaign.sqlite3'}"
    first = hold_sqlite(url)
    assert first is not None
    with pytest.raises(ConfigError, match=rf"another `campaign-bot run` \(pid {os.getpid()}\)"):
        hold_sqlite(url)
    first.close()
    again = hold_sqlite(url)  # released with the file (and with the process, however it ends)
    assert again is not None
    again.close()
    assert lock_path("sqlite://") is None
    assert lock_path("postgresql+psycopg://postgres@127.0.0.1/test") is None


@pytest.mark.slow
def test_a_second_run_on_the_same_sqlite_file_exits_2_with_one_line(
    campaign: Campaign, tmp_path: Path
) -> None:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TELEGRAM_", "X_", "MASTODON_", "BLUESKY_", "DATABASE_URL"))
    }
    env.update(
        CAMPAIGN_CONFIG=str(campaign.config_path),
        DATA_DIR=str(tmp_path / "data"),
        LOG_LEVEL="INFO",
        PYTHONUNBUFFERED="1",
    )
    log = tmp_path / "first.log"
    with log.open("wb") as out:
        first = subprocess.Popen(
            [sys.executable, "-m", "bot", "run"], env=env, stdout=out, stderr=out
        )
    try:
        deadline = time.monotonic() + 60
        while "worker running" not in log.read_text():
            assert first.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "the first worker did not start"
            time.sleep(0.1)
        second = subprocess.run(
            [sys.executable, "-m", "bot", "run"], env=env, capture_output=True, timeout=60
        )
        assert second.returncode == 2
        lines = second.stderr.decode().strip().splitlines()
        assert len(lines) == 1, lines
        assert "another `campaign-bot run`" in lines[0] and "SQLite is for one process" in lines[0]
        assert first.poll() is None  # the first one runs on, untouched
    finally:
        first.send_signal(signal.SIGTERM)
        assert first.wait(timeout=30) == 0


async def test_only_the_poller_sends_get_updates(fake_api: FakeBotAPI) -> None:
    from telegram import Bot

    holder = {"poller": False}

    def gate(seconds: float) -> bool:
        assert seconds == 2 + 1  # the poll's timeout and its slack: the lease must cover both
        return holder["poller"]

    request = GatedUpdatesRequest(gate, connection_pool_size=2)
    bot = Bot(TOKEN, base_url=fake_api.base_url, get_updates_request=request)
    async with bot:
        started = asyncio.get_running_loop().time()
        assert await bot.get_updates(timeout=2) == ()  # answered here, after a short wait
        assert asyncio.get_running_loop().time() - started >= 0.5
        assert fake_api.calls_to("getUpdates") == []
        holder["poller"] = True
        fake_api.push_text(777, 777, "/start")
        updates = await bot.get_updates(timeout=2)
        assert len(updates) == 1
        assert len(fake_api.calls_to("getUpdates")) == 1
