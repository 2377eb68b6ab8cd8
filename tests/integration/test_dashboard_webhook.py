"""Telegram updates arrive through the dashboard's server: real PTB, the fake Bot API."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.app import build_core
from bot.telegram.application import build_application, receiver, start, stop
from bot.web import Dashboard, build_web_app
from tests.fakes.telegram_api import FakeBotAPI
from tests.fakes.telegram_fixtures import (  # noqa: F401 (fixtures by name)
    TOKEN,
    fake_api_fixture,
    make_services,
    ptb_timedelta_fixture,
    telegram_campaign,
)

USER = 5551
SECRET = "s3cret-Value_1"


async def test_updates_come_in_on_the_one_port_and_the_bot_answers(
    fake_api: FakeBotAPI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    campaign = telegram_campaign(tmp_path / "campaign")
    db = f"sqlite:///{tmp_path / 'bot.sqlite3'}"
    services = make_services(campaign, db)
    monkeypatch.setenv("DATABASE_URL", db)
    core = build_core(str(campaign.config_path))
    application = build_application(TOKEN, fake_api.root, services)
    url = "https://campaign.example.org/telegram/hook"
    await start(application, webhook_url=url, secret=SECRET, own_server=True)
    board = Dashboard(
        core,
        ["telegram"],
        on_update=receiver(application),
        webhook_path="/telegram/hook",
        webhook_secret=SECRET,
    )
    client: TestClient[Any, Any] = TestClient(TestServer(build_web_app(board)))
    await client.start_server()
    try:
        [registered] = fake_api.calls_to("setWebhook")
        assert registered.params["url"] == url
        assert registered.params["secret_token"] == SECRET
        assert not fake_api.calls_to("getUpdates")  # no polling, and no second server
        update = fake_api.push_text(USER, USER, "/privacy")
        fake_api.reset()
        refused = await client.post("/telegram/hook", json=update)
        assert refused.status == 403
        headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
        assert (await client.post("/telegram/hook", json=update, headers=headers)).status == 200
        await fake_api.wait_for(lambda: bool(fake_api.sent_messages(USER)))
        [reply] = fake_api.sent_messages(USER)
        assert reply.text.startswith("What we keep, and why")
        health = await client.get("/healthz")  # the same server answers the rest
        assert health.status == 200
    finally:
        await client.close()
        await stop(application)
        core.store.close()
        services.store.close()
