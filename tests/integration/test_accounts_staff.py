"""Staff post from Telegram to a network or one of its accounts (an English and an Arabic
channel): real PTB, the real outbox and worker, the fake Bot API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.fakes.telegram_api import FakeBotAPI
from tests.fakes.telegram_fixtures import (  # noqa: F401 (fixtures by name)
    STAFF_A,
    Running,
    fake_api_fixture,
    ptb_timedelta_fixture,
    start_running,
    stop_running,
    telegram_campaign,
)

ENGLISH = "@campaign_en"
ARABIC = "@campaign_ar"


@pytest.fixture(name="running")
async def running_fixture(
    fake_api: FakeBotAPI, tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Running]:
    campaign = telegram_campaign(tmp_path / "campaign")
    config = campaign.config()
    config["channels"]["telegram"]["accounts"] = {
        "english": {"languages": ["en"]},
        "arabic": {"languages": ["ar"]},
    }
    campaign.write_config(config)
    monkeypatch.setenv("TELEGRAM_CHANNEL_ID__ENGLISH", ENGLISH)
    monkeypatch.setenv("TELEGRAM_CHANNEL_ID__ARABIC", ARABIC)
    running = await start_running(fake_api, campaign, db_url, monkeypatch)
    yield running
    await stop_running(running)


async def say(running: Running, text: str) -> str:
    return "\n".join(r.text for r in await running.driver.send(STAFF_A, text))


async def test_staff_posts_reach_the_accounts_carrying_their_language(running: Running) -> None:
    assert (await say(running, "/post f-attacks telegram +1m ar")).startswith("Post 1 scheduled")
    assert (await say(running, "/post f-aid telegram:english +1m en")).startswith(
        "Post 2 scheduled"
    )
    refused = await say(running, "/post f-aid telegram:english +1m ar")
    assert refused.startswith("⚠️") and "no account of telegram:english carries ar" in refused
    await running.tick(minutes=2)
    await running.tick()

    arabic = [m.text for m in running.fake.sent_messages(ARABIC)]
    english = [m.text for m in running.fake.sent_messages(ENGLISH)]
    assert len(arabic) == 1 and "هجومًا" in arabic[0]
    assert len(english) == 1 and "Aid could not reach west Mosul" in english[0]
    assert [(d.post_id, d.target, d.status) for d in running.deliveries()] == [
        (1, "telegram:arabic", "sent"),
        (2, "telegram:english", "sent"),
    ]
    stats = await say(running, "/stats")
    assert "Deliveries</b>: sent 2" in stats
