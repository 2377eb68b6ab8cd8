"""`campaign-bot run` with the Bot API unreachable at start: the other channels publish."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from bot.clock import SystemClock
from bot.store import Store
from bot.store.posts import create_post, list_deliveries
from tests.fakes.mastodon_api import FakeMastodon, mastodon_api_fixture  # noqa: F401
from tests.fakes.telegram_fixtures import CHANNEL, telegram_campaign
from tests.integration.test_telegram_process import (
    REPO,
    BotProcess,
    FakeServer,
    assert_no_token,
    bot_env,
    stop_fake,
    wait_until,
)

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_fake_bot_api(port: int, *options: str) -> FakeServer:
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.telegram_api", "--port", str(port), *options],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
    )
    assert process.stdout is not None
    word, _ = process.stdout.readline().decode().split()
    assert word == "READY"
    return FakeServer(process, f"http://127.0.0.1:{port}")


def statuses(store: Store) -> dict[str, str]:
    return {row.channel: row.status for row in list_deliveries(store)}


def test_mastodon_publishes_while_telegram_is_down_and_telegram_catches_up(
    mastodon_api: FakeMastodon, db_url: str, tmp_path: Path
) -> None:
    campaign = telegram_campaign(tmp_path / "campaign")
    config = campaign.config()
    config["channels"]["mastodon"] = {"visibility": "public"}
    campaign.write_config(config)
    port = free_port()  # nothing listens there yet: connection refused
    env = bot_env(campaign.config_path, db_url, f"http://127.0.0.1:{port}")
    env.update(
        MASTODON_API_BASE_URL=mastodon_api.base_url,
        MASTODON_ACCESS_TOKEN=mastodon_api.token,
        PORT="0",  # the dashboard's server: any free port
    )
    store = Store(db_url)
    store.upgrade()
    post = create_post(
        store,
        item_id="f-attacks",
        lang="en",
        channels=["telegram", "mastodon"],
        due_at=SystemClock().now(),
        created_by="cli:test",
        via="cli",
    )
    assert post is not None
    bot = BotProcess(env, tmp_path)
    fake: FakeServer | None = None
    try:
        wait_until(lambda: "worker running" in bot.output(), 60, "the worker to start")
        wait_until(lambda: statuses(store).get("mastodon") == "sent", 60, "the Mastodon post")
        assert len(mastodon_api.statuses) == 1
        assert "Telegram unreachable at start" in bot.output()
        assert statuses(store)["telegram"] == "pending"  # waiting, not failing
        assert bot.process.poll() is None

        fake = start_fake_bot_api(port, "--record")  # Telegram comes back
        wait_until(lambda: statuses(store)["telegram"] == "sent", 120, "the Telegram post")
        wait_until(lambda: fake.calls().get("getUpdates", 0) > 0, 30, "polling")
        wait_until(lambda: fake.calls().get("setMyCommands", 0) > 0, 30, "the menus")
        assert statuses(store) == {"telegram": "sent", "mastodon": "sent"}
        assert bot.process.poll() is None
        [published] = fake.messages(CHANNEL)
    finally:
        code, _ = bot.stop()
        if fake is not None:
            stop_fake(fake.process)
        store.close()
    output = bot.output()
    assert code == 0, output[-3000:]
    assert "45 attacks" in published
    assert len(mastodon_api.statuses) == 1
    assert "Telegram reachable after" in output
    assert "Traceback" not in output
    assert_no_token(output)


def test_a_token_rejected_once_telegram_answers_stops_the_worker_with_exit_2(
    db_url: str, tmp_path: Path
) -> None:
    campaign = telegram_campaign(tmp_path / "campaign")
    port = free_port()
    env = bot_env(campaign.config_path, db_url, f"http://127.0.0.1:{port}")
    env["PORT"] = "0"  # the dashboard's server: any free port
    bot = BotProcess(env, tmp_path)
    fake: FakeServer | None = None
    try:
        wait_until(lambda: "worker running" in bot.output(), 60, "the worker to start")
        fake = start_fake_bot_api(port, "--token", "1:OTHER")
        code = bot.process.wait(timeout=120)
    finally:
        if bot.process.poll() is None:
            bot.stop()
        if fake is not None:
            stop_fake(fake.process)
    output = bot.output()
    assert code == 2, output[-3000:]
    assert "Telegram rejected TELEGRAM_BOT_TOKEN" in output
    assert "Traceback" not in output
    assert_no_token(output)
