"""Several accounts per network: an English and an Arabic Telegram channel, an English and a
Kurdish X account; each language goes only to the accounts that carry it, exactly once.

PTB talks to the fake Bot API (two channels, two chat ids), tweepy to ``responses``, which tells
the X accounts apart by their signed OAuth consumer key and access token.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
import responses
from click.testing import CliRunner
from telegram import Bot

from bot.app import Runtime, build_channels, build_core, build_runtime
from bot.channels import Channel, Outgoing, Published
from bot.cli import cli
from bot.clock import FixedClock
from bot.schedule.posting import schedule_post
from bot.store import Store
from bot.store.posts import list_deliveries
from tests.campaign_factory import Campaign, finding
from tests.fakes.telegram_api import FakeBotAPI
from tests.fakes.telegram_fixtures import (  # noqa: F401 (fixtures by name)
    TOKEN,
    make_bot,
    ptb_timedelta_fixture,
)
from tests.fakes.x_accounts import FakeXAccounts, make_account

START = datetime(2026, 11, 24, 5, 0, tzinfo=UTC)  # 08:00 in Baghdad; the rule fires at 09:00
ENGLISH_CHANNEL = "@campaign_en"
ARABIC_CHAT = -1_001_777_000_001  # a channel given by its numeric id
X_ENGLISH = make_account("english")
X_KURDISH = make_account("kurdish")
CHANNELS: dict[str, Any] = {
    "console": {"enabled": False},
    "telegram": {
        "accounts": {"english": {"languages": ["en"]}, "arabic": {"languages": ["ar"]}},
    },
    "x": {
        "max_posts_per_day": 10,
        "accounts": {
            "english": {"languages": ["en"]},
            "kurdish": {"languages": ["ckb"], "max_posts_per_day": 1},
        },
    },
}
RULE = {
    "id": "daily",
    "cron": "0 9 * * *",
    "time_zone": "Asia/Baghdad",
    "channels": ["telegram", "x"],
    "languages": ["en", "ar", "ckb"],
    "pick": {"kinds": ["finding"]},
}
MARKS = {"en": "Finding", "ar": "النتيجة", "ckb": "دۆزینەوە"}


def items() -> list[dict[str, Any]]:
    base = finding()["text"]
    return [
        finding(
            f"f-{n}",
            text={lang: f"{MARKS[lang]} {n}: {text}" for lang, text in base.items()},
            reviewed=["en", "ar", "ckb"],
        )
        for n in range(3)
    ]


def write_campaign(campaign: Campaign, rules: list[dict[str, Any]]) -> None:
    campaign.write_items("items.yaml", items())
    data = campaign.config()
    data["channels"] = CHANNELS
    data["schedule"]["rules"] = rules
    campaign.write_config(data)


@dataclass
class Networks:
    telegram: FakeBotAPI
    x: FakeXAccounts

    def posts(self) -> dict[str, list[str]]:
        """What each account published, in order."""
        return {
            "telegram:english": [m.text for m in self.telegram.sent_messages(ENGLISH_CHANNEL)],
            "telegram:arabic": [m.text for m in self.telegram.sent_messages(ARABIC_CHAT)],
            "x:english": self.x.texts("english"),
            "x:kurdish": self.x.texts("kurdish"),
        }

    def languages(self) -> dict[str, list[str]]:
        """The language of each post per account, told by its opening word."""
        found: dict[str, list[str]] = {}
        for account, texts in self.posts().items():
            found[account] = [
                next(lang for lang, mark in MARKS.items() if mark in text) for text in texts
            ]
        return found


@pytest.fixture(name="networks")
async def networks_fixture(
    campaign: Campaign, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Networks]:
    write_campaign(campaign, [RULE])
    async with FakeBotAPI() as telegram:
        telegram.register_channel("campaign_en", -1_001_777_000_000)
        with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
            settings = {
                "CAMPAIGN_CONFIG": str(campaign.config_path),
                "DATABASE_URL": db_url,
                "TELEGRAM_BOT_TOKEN": TOKEN,
                "TELEGRAM_CHANNEL_ID__ENGLISH": ENGLISH_CHANNEL,
                "TELEGRAM_CHANNEL_ID__ARABIC": str(ARABIC_CHAT),
                **X_ENGLISH.environment("__ENGLISH"),
                **X_KURDISH.environment("__KURDISH"),
            }
            for name, value in settings.items():
                monkeypatch.setenv(name, value)
            fake_x = FakeXAccounts({"english": X_ENGLISH, "kurdish": X_KURDISH}).install(mock)
            yield Networks(telegram, fake_x)


@dataclass
class Process:
    runtime: Runtime
    bot: Bot

    async def tick(self, times: int = 1) -> None:
        for _ in range(times):
            await self.runtime.worker.tick()

    async def stop(self) -> None:
        await self.runtime.worker.stop()
        for channel in self.runtime.channels.values():
            await channel.close()
        await self.bot.shutdown()
        self.runtime.core.store.close()


class ProcessDied(BaseException):
    """The worker was killed (a BaseException: the tick's error handler must not catch it)."""


@dataclass
class CrashAfterPublish:
    """Publishes for real, then the process dies before the outbox records it."""

    inner: Channel

    @property
    def name(self) -> str:
        return self.inner.name

    async def publish(self, post: Outgoing) -> Published:
        await self.inner.publish(post)
        raise ProcessDied

    async def close(self) -> None:
        await self.inner.close()


class Notices:
    def __init__(self) -> None:
        self.sent: list[str] = []

    async def notify_staff(self, text: str) -> None:
        self.sent.append(text)


async def boot(
    networks: Networks,
    clock: FixedClock,
    *,
    start: bool = True,
    notices: Notices | None = None,
    crash_on: str | None = None,
) -> Process:
    core = build_core(None, clock=clock)
    bot = make_bot(networks.telegram)
    await bot.initialize()
    channels = build_channels(core.settings, core.store, dry_run=False, bot=bot)
    assert sorted(channels) == ["telegram:arabic", "telegram:english", "x:english", "x:kurdish"]
    if crash_on is not None:
        channels[crash_on] = CrashAfterPublish(channels[crash_on])
    process = Process(build_runtime(core, channels, notices or Notices()), bot)
    if start:
        await process.runtime.worker.start()
    return process


def cli_json(*args: str) -> Any:
    result = CliRunner().invoke(cli, [*args, "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


async def test_each_language_reaches_only_its_accounts_once_across_a_restart(
    networks: Networks, store: Store
) -> None:
    clock = FixedClock(START)
    first = await boot(networks, clock, start=False)
    await first.tick()  # the rule is new: it starts now
    clock.advance(hours=1)
    await first.tick(2)
    assert networks.languages() == {
        "telegram:english": ["en"],
        "telegram:arabic": ["ar"],
        "x:english": ["en"],
        "x:kurdish": ["ckb"],
    }
    await first.stop()

    restarted = await boot(networks, clock)
    await restarted.tick(2)
    assert {k: len(v) for k, v in networks.posts().items()} == dict.fromkeys(networks.posts(), 1)
    clock.advance(days=1)  # the next day's firing
    await restarted.tick(3)
    await restarted.stop()

    assert networks.languages() == {
        "telegram:english": ["en", "en"],
        "telegram:arabic": ["ar", "ar"],
        "x:english": ["en", "en"],
        "x:kurdish": ["ckb", "ckb"],
    }
    assert networks.x.rejected == 0
    rows = list_deliveries(store)
    by_target: dict[str, list[str]] = {}
    for row in rows:
        assert row.status == "sent", (row.target, row.error)
        by_target.setdefault(row.target, []).append(row.lang)
    assert by_target == {
        "telegram:english": ["en", "en"],
        "telegram:arabic": ["ar", "ar"],
        "x:english": ["en", "en"],
        "x:kurdish": ["ckb", "ckb"],
    }
    # The same firing's item went to every account, and the next day another one.
    items_by_target: dict[str, list[str]] = {}
    for row in rows:
        items_by_target.setdefault(row.target, []).append(row.item_id)
    first_item, second_item = items_by_target["x:kurdish"]
    assert first_item != second_item
    assert items_by_target == {key: [first_item, second_item] for key in by_target}
    tweet_ids = [t["id"] for t in networks.x.tweets["kurdish"]]
    kurdish = [r for r in rows if r.target == "x:kurdish"]
    assert [r.external_id for r in kurdish] == tweet_ids
    assert len({r.idempotency_key for r in rows}) == len(rows)
    assert all(f"-{r.channel}-{r.account}-" in r.idempotency_key for r in rows)
    listed = CliRunner().invoke(cli, ["deliveries"], catch_exceptions=False).stdout.splitlines()
    assert listed[-1] == "8 deliveries"
    # One column per field: the account sits where the channel did, the language after it.
    assert sorted(line.split()[5:7] for line in listed[:-1]) == sorted(
        [row.target, row.lang] for row in rows
    )
    shown = cli_json("deliveries")
    assert {(d["channel"], d["account"], d["lang"]) for d in shown} == {
        ("telegram", "english", "en"),
        ("telegram", "arabic", "ar"),
        ("x", "english", "en"),
        ("x", "kurdish", "ckb"),
    }


def post_now(process: Process, item_id: str, channels: list[str], lang: str) -> int:
    core = process.runtime.core
    created = schedule_post(
        settings=core.settings,
        library=core.library,
        renderer=core.renderer,
        store=core.store,
        item_id=item_id,
        channels=channels,
        lang=lang,
        due_at=core.clock.now(),
        actor="cli:test",
        via="cli",
        now=core.clock.now(),
    )
    return created.id


async def test_the_x_daily_cap_counts_each_account_on_its_own(
    networks: Networks, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FixedClock(START)
    monkeypatch.setattr("bot.app.SystemClock", lambda: clock)  # the CLI's "today" too
    process = await boot(networks, clock, start=False)
    await process.tick()
    clock.advance(hours=1)
    await process.tick(2)  # the firing: one post on each X account
    clock.advance(minutes=5)
    kurdish_post = post_now(process, "f-2", ["x"], "ckb")  # x:kurdish allows 1 a day
    english_post = post_now(process, "f-2", ["x:english"], "en")
    await process.tick(2)
    await process.stop()

    assert networks.languages()["x:kurdish"] == ["ckb"]
    assert networks.languages()["x:english"] == ["en", "en"]
    rows = {(r.post_id, r.target): r for r in list_deliveries(store)}
    capped = rows[(kurdish_post, "x:kurdish")]
    assert capped.status == "skipped"
    assert capped.error == "X daily cap of 1 posts reached on x:kurdish"
    assert rows[(english_post, "x:english")].status == "sent"
    assert (english_post, "x:kurdish") not in rows  # an English post never goes to x:kurdish

    queue = cli_json("queue")
    assert queue["x_accounts"] == [
        {"account": "x:english", "posts_today": 2, "max_posts_per_day": 10},
        {"account": "x:kurdish", "posts_today": 1, "max_posts_per_day": 1},
    ]
    result = CliRunner().invoke(cli, ["queue"], catch_exceptions=False)
    assert "X posts today: x:english 2/10, x:kurdish 1/1" in result.stdout


async def test_an_account_with_a_wrong_secret_fails_alone(
    networks: Networks, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("X_ACCESS_TOKEN_SECRET__KURDISH", "not-the-kurdish-secret")
    clock = FixedClock(START)
    process = await boot(networks, clock, start=False)
    await process.tick()
    clock.advance(hours=1)
    await process.tick(2)
    await process.stop()

    assert networks.x.rejected == 1  # X refused the badly signed request
    assert networks.languages()["x:english"] == ["en"]
    assert networks.posts()["x:kurdish"] == []
    rows = list_deliveries(store)
    [failed] = [r for r in rows if r.status == "failed"]
    assert failed.error is not None and failed.error.startswith("X credentials are invalid (401)")
    assert failed.error.endswith("(for x:kurdish: the ones ending in __KURDISH)")
    statuses = {r.target: r.status for r in rows}
    assert statuses == {
        "telegram:english": "sent",
        "telegram:arabic": "sent",
        "x:english": "sent",
        "x:kurdish": "failed",
    }


async def test_a_crash_mid_send_on_one_account_leaves_only_it_uncertain(
    networks: Networks, store: Store
) -> None:
    clock = FixedClock(START)
    dying = await boot(networks, clock, start=False, crash_on="x:kurdish")
    await dying.tick()
    clock.advance(hours=1)
    with pytest.raises(ProcessDied):
        await dying.tick(2)  # x:kurdish published, but the process died before recording it
    await dying.stop()

    notices = Notices()
    restarted = await boot(networks, clock, notices=notices)
    await restarted.tick(2)
    await restarted.stop()

    assert networks.languages() == {
        "telegram:english": ["en"],
        "telegram:arabic": ["ar"],
        "x:english": ["en"],
        "x:kurdish": ["ckb"],  # once: an uncertain delivery is never re-sent
    }
    statuses = {r.target: r.status for r in list_deliveries(store)}
    assert statuses == {
        "telegram:english": "sent",
        "telegram:arabic": "sent",
        "x:english": "sent",
        "x:kurdish": "uncertain",
    }
    [notice] = notices.sent
    assert " on x:kurdish, ckb) is uncertain" in notice
