"""Two Mastodon accounts on two servers and two Bluesky accounts on two PDSes, each with its
languages: each account gets only its languages, once across a restart, and each Bluesky
account keeps its own saved session."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
import responses

from bot.app import build_channels, build_core, build_runtime, learn_limits
from bot.clock import FixedClock
from bot.store import Store
from bot.store.posts import list_deliveries
from tests.campaign_factory import Campaign, finding
from tests.fakes.bluesky_api import CREATE_SESSION, FakeBluesky
from tests.fakes.mastodon_api import FakeMastodon

START = datetime(2026, 11, 24, 5, 0, tzinfo=UTC)  # 08:00 in Baghdad; the rule fires at 09:00
MARKS = {"en": "Finding", "ar": "النتيجة", "ckb": "دۆزینەوە"}
CHANNELS: dict[str, Any] = {
    "console": {"enabled": False},
    "mastodon": {
        "accounts": {"english": {"languages": ["en"]}, "arabic": {"languages": ["ar"]}},
    },
    "bluesky": {
        "accounts": {"english": {"languages": ["en"]}, "kurdish": {"languages": ["ckb"]}},
    },
}
RULE = {
    "id": "daily",
    "cron": "0 9 * * *",
    "time_zone": "Asia/Baghdad",
    "channels": ["mastodon", "bluesky"],
    "languages": ["en", "ar", "ckb"],
    "pick": {"kinds": ["finding"]},
}


@dataclass
class Servers:
    mastodon: dict[str, FakeMastodon]
    bluesky: dict[str, FakeBluesky]

    def languages(self) -> dict[str, list[str]]:
        texts = {
            f"mastodon:{n}": [s["content"] for s in m.statuses] for n, m in self.mastodon.items()
        }
        texts |= {f"bluesky:{n}": [p["text"] for p in b.posts] for n, b in self.bluesky.items()}
        return {
            account: [next(lang for lang, mark in MARKS.items() if mark in t) for t in found]
            for account, found in texts.items()
        }


@pytest.fixture(name="servers")
def servers_fixture(
    campaign: Campaign, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Servers]:
    base = finding()["text"]
    items = [
        finding(
            f"f-{n}",
            text={lang: f"{MARKS[lang]} {n}: {text}" for lang, text in base.items()},
            reviewed=["en", "ar", "ckb"],
        )
        for n in range(3)
    ]
    campaign.write_items("items.yaml", items)
    data = campaign.config()
    data["channels"] = CHANNELS
    data["schedule"]["rules"] = [RULE]
    campaign.write_config(data)
    with (
        FakeMastodon(token="english-token", max_characters=1000) as english,
        FakeMastodon(token="arabic-token", account="campaign_ar") as arabic,
        FakeBluesky(handle="campaign.bsky.test", did="did:plc:english") as sky_english,
        FakeBluesky(handle="kurdish.bsky.test", did="did:plc:kurdish") as sky_kurdish,
        responses.RequestsMock(assert_all_requests_are_fired=False) as mock,
    ):
        for server in (english, arabic):
            mock.add_passthru(server.base_url)  # Mastodon.py uses requests
        settings = {
            "CAMPAIGN_CONFIG": str(campaign.config_path),
            "DATABASE_URL": db_url,
            "MASTODON_API_BASE_URL__ENGLISH": english.base_url,
            "MASTODON_ACCESS_TOKEN__ENGLISH": english.token,
            "MASTODON_API_BASE_URL__ARABIC": arabic.base_url,
            "MASTODON_ACCESS_TOKEN__ARABIC": arabic.token,
            "BLUESKY_HANDLE__ENGLISH": sky_english.handle,
            "BLUESKY_APP_PASSWORD__ENGLISH": sky_english.password,
            "BLUESKY_BASE_URL__ENGLISH": sky_english.base_url,
            "BLUESKY_HANDLE__KURDISH": sky_kurdish.handle,
            "BLUESKY_APP_PASSWORD__KURDISH": sky_kurdish.password,
            "BLUESKY_BASE_URL__KURDISH": sky_kurdish.base_url,
        }
        for name, value in settings.items():
            monkeypatch.setenv(name, value)
        yield Servers(
            {"english": english, "arabic": arabic},
            {"english": sky_english, "kurdish": sky_kurdish},
        )


async def run_once(clock: FixedClock, *, fire: bool) -> None:
    """One process: build from config and environment, tick (and let the rule fire), stop."""
    core = build_core(None, clock=clock)
    channels = build_channels(core.settings, core.store, dry_run=False)
    await learn_limits(core.renderer, channels)
    # The strictest server decides: 500 on the Arabic account's, though 1000 on the other.
    assert core.renderer.server_limits["mastodon"] == 500

    class Quiet:
        async def notify_staff(self, text: str) -> None:
            raise AssertionError(text)

    runtime = build_runtime(core, channels, Quiet())
    await runtime.worker.tick()
    if fire:
        clock.advance(hours=1)
    await runtime.worker.tick()
    await runtime.worker.tick()
    await runtime.worker.stop()
    for channel in channels.values():
        await channel.close()
    core.store.close()


async def test_each_account_gets_its_languages_once_with_its_own_session(
    servers: Servers, store: Store
) -> None:
    clock = FixedClock(START)
    await run_once(clock, fire=True)
    await run_once(clock, fire=False)  # a restart: nothing again
    expected = {
        "mastodon:english": ["en"],
        "mastodon:arabic": ["ar"],
        "bluesky:english": ["en"],
        "bluesky:kurdish": ["ckb"],
    }
    assert servers.languages() == expected
    assert {r.target: r.status for r in list_deliveries(store)} == dict.fromkeys(expected, "sent")
    # Each Mastodon server saw only its own token; each Bluesky account logged in once and
    # its session is kept under its own name.
    for name, server in servers.mastodon.items():
        tokens = {r.headers["authorization"] for r in server.calls("POST")}
        assert tokens == {f"Bearer {name}-token"}
    for name, server in servers.bluesky.items():
        assert len(server.calls("POST", CREATE_SESSION)) == 1
        saved = store.load(f"bluesky:{name}")
        assert saved is not None and saved.startswith(f"{server.handle}:::{server.did}:::")
    assert store.load("bluesky") is None
