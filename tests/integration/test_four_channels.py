"""A rule posting to Telegram, X, Mastodon and Bluesky, through the composition `run` builds.

The real clients talk to fakes: PTB to the fake Bot API, Mastodon.py and atproto to loopback
servers, tweepy to ``responses`` (it hard-codes api.twitter.com). The worker ticks on a fixed
clock; a restart rebuilds everything from the same database.
"""

from __future__ import annotations

import json
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import responses
from click.testing import CliRunner
from telegram import Bot

from bot.app import Runtime, build_channels, build_core, build_runtime
from bot.channels import Channel, Outgoing, Published
from bot.cli import cli
from bot.clock import FixedClock
from bot.store import Delivery, Store
from bot.store.posts import list_deliveries
from tests.campaign_factory import Campaign, finding
from tests.fakes.bluesky_api import CREATE_SESSION, FakeBluesky
from tests.fakes.mastodon_api import FakeMastodon
from tests.fakes.telegram_api import FakeBotAPI
from tests.fakes.telegram_fixtures import (  # noqa: F401 (fixtures by name)
    TOKEN,
    make_bot,
    ptb_timedelta_fixture,
)

START = datetime(2026, 11, 24, 5, 0, tzinfo=UTC)  # 08:00 in Baghdad; the rule fires at 09:00
CHANNELS = ["telegram", "x", "mastodon", "bluesky"]
RULE = {
    "id": "daily",
    "cron": "0 9 * * *",
    "time_zone": "Asia/Baghdad",
    "channels": CHANNELS,
    "languages": ["en"],
    "pick": {"kinds": ["finding"]},
}
TELEGRAM_CHAT = "@campaign"
TWEETS = "https://api.twitter.com/2/tweets"
X_SECRETS = {
    "X_CONSUMER_KEY": "x-consumer-key",
    "X_CONSUMER_SECRET": "x-consumer-secret-value",
    "X_ACCESS_TOKEN": "x-access-token",
    "X_ACCESS_TOKEN_SECRET": "x-access-secret-value",
}


class FakeX:
    """POST /2/tweets through ``responses``: each post gets the next id; faults come first."""

    def __init__(self, mock: responses.RequestsMock) -> None:
        self.tweets: list[dict[str, Any]] = []
        self._faults: deque[tuple[int, dict[str, str], str]] = deque()
        mock.add_callback(responses.POST, TWEETS, callback=self._create)

    def fail(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        """Answer the next post with this status (JSON body) and headers."""
        self._faults.append((status, headers or {}, json.dumps(body)))

    def _create(self, request: Any) -> tuple[int, dict[str, str], str]:
        if self._faults:
            return self._faults.popleft()
        body = json.loads(request.body)
        tweet_id = str(1_860_000_000_000_000_000 + len(self.tweets) + 1)
        self.tweets.append({"id": tweet_id, **body})
        data = {"id": tweet_id, "text": body["text"], "edit_history_tweet_ids": [tweet_id]}
        return 201, {}, json.dumps({"data": data})


@dataclass
class Networks:
    """The four fake networks, running for the whole test (across restarts)."""

    telegram: FakeBotAPI
    x: FakeX
    mastodon: FakeMastodon
    bluesky: FakeBluesky

    def posts(self) -> dict[str, list[str]]:
        """The text of every post each network published, in order."""
        return {
            "telegram": [m.text for m in self.telegram.sent_messages(TELEGRAM_CHAT)],
            "x": [t["text"] for t in self.x.tweets],
            "mastodon": [
                s["content"].removeprefix("<p>").removesuffix("</p>")
                for s in self.mastodon.statuses
            ],
            "bluesky": [p["text"] for p in self.bluesky.posts],
        }

    def counts(self) -> dict[str, int]:
        return {name: len(texts) for name, texts in self.posts().items()}


class Notices:
    """Staff notices, as the Telegram notifier would send them."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    async def notify_staff(self, text: str) -> None:
        self.sent.append(text)


class ProcessDied(BaseException):
    """The worker was killed (a BaseException: the tick's error handler must not catch it)."""


@dataclass
class CrashAfterPublish:
    """Publishes for real, then the process dies before the outbox records it."""

    inner: Channel
    name: str = field(init=False)

    def __post_init__(self) -> None:
        self.name = self.inner.name

    async def publish(self, post: Outgoing) -> Published:
        await self.inner.publish(post)
        raise ProcessDied

    async def close(self) -> None:
        await self.inner.close()


@dataclass
class Process:
    """One run of the bot, composed as `campaign-bot run` composes it."""

    runtime: Runtime
    bot: Bot
    notices: Notices

    async def tick(self, times: int = 1) -> None:
        for _ in range(times):
            await self.runtime.worker.tick()

    async def stop(self) -> None:
        await self.runtime.worker.stop()
        for channel in self.runtime.channels.values():
            await channel.close()
        await self.bot.shutdown()
        self.runtime.core.store.close()


@pytest.fixture(name="networks")
async def networks_fixture(
    campaign: Campaign, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Networks]:
    text = finding()["text"]
    items = [
        finding(f"f-{n}", text={**text, "en": f"Finding {n}: {text['en']}"}) for n in range(3)
    ]
    campaign.write_items("items.yaml", items)
    data = campaign.config()
    data["channels"]["console"]["enabled"] = False
    data["schedule"]["rules"] = [RULE]
    campaign.write_config(data)
    async with FakeBotAPI() as telegram:
        with (
            FakeMastodon() as mastodon,
            FakeBluesky() as bluesky,
            responses.RequestsMock(assert_all_requests_are_fired=False) as mock,
        ):
            mock.add_passthru(mastodon.base_url)  # Mastodon.py uses requests too
            settings = {
                "CAMPAIGN_CONFIG": str(campaign.config_path),
                "DATABASE_URL": db_url,
                "TELEGRAM_BOT_TOKEN": TOKEN,
                "TELEGRAM_CHANNEL_ID": TELEGRAM_CHAT,
                "MASTODON_API_BASE_URL": mastodon.base_url,
                "MASTODON_ACCESS_TOKEN": mastodon.token,
                "BLUESKY_HANDLE": bluesky.handle,
                "BLUESKY_APP_PASSWORD": bluesky.password,
                "BLUESKY_BASE_URL": bluesky.base_url,
                **X_SECRETS,
            }
            for name, value in settings.items():
                monkeypatch.setenv(name, value)
            yield Networks(telegram, FakeX(mock), mastodon, bluesky)


@pytest.fixture(name="clock")
def clock_fixture() -> FixedClock:
    return FixedClock(START)


async def boot(
    networks: Networks,
    clock: FixedClock,
    *,
    wrap: Callable[[dict[str, Channel]], None] | None = None,
    start: bool = True,
) -> Process:
    """Build the bot from config, environment and database; ``start`` runs the worker's start
    (crash recovery, then a tick) as a restarted process does."""
    core = build_core(None, clock=clock)
    bot = make_bot(networks.telegram)
    await bot.initialize()
    channels = build_channels(core.settings, core.store, dry_run=False, bot=bot)
    if wrap is not None:
        wrap(channels)
    notices = Notices()
    process = Process(build_runtime(core, channels, notices), bot, notices)
    if start:
        await process.runtime.worker.start()
    return process


async def fire(networks: Networks, clock: FixedClock) -> Process:
    """Start the bot at 08:00 Baghdad, then let the rule fire at 09:00."""
    process = await boot(networks, clock, start=False)
    await process.tick()  # the rule is new: it starts now and does not replay the past
    clock.advance(hours=1)
    await process.tick()
    return process


def by_channel(rows: list[Delivery]) -> dict[str, list[Delivery]]:
    grouped: dict[str, list[Delivery]] = {name: [] for name in CHANNELS}
    for row in rows:
        grouped[row.channel].append(row)
    return grouped


def deliveries_shown() -> str:
    result = CliRunner().invoke(cli, ["deliveries"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


def expected_ids(networks: Networks) -> dict[str, list[tuple[str, str]]]:
    """Each network's post ids and public URLs, as the channels must record them."""
    handle = networks.bluesky.handle
    uris = [f"at://{networks.bluesky.did}/app.bsky.feed.post/3lcampaign{n:04d}" for n in (1, 2)]
    return {
        "telegram": [
            (str(m.message_id), f"https://t.me/campaign/{m.message_id}")
            for m in networks.telegram.sent_messages(TELEGRAM_CHAT)
        ],
        "x": [(t["id"], f"https://x.com/i/web/status/{t['id']}") for t in networks.x.tweets],
        "mastodon": [(s["id"], s["url"]) for s in networks.mastodon.statuses],
        "bluesky": [
            (uri, f"https://bsky.app/profile/{handle}/post/{uri.rsplit('/', 1)[-1]}")
            for uri in uris[: len(networks.bluesky.posts)]
        ],
    }


# -- exactly once per channel, across a restart ----------------------------------------------


async def test_each_firing_is_published_once_per_channel_across_a_restart(
    networks: Networks, clock: FixedClock, store: Store
) -> None:
    first = await fire(networks, clock)
    await first.tick(2)
    assert networks.counts() == dict.fromkeys(CHANNELS, 1)
    await first.stop()
    session = store.load("bluesky")  # kept in the database: logins are rate limited
    assert session is not None
    assert session.startswith(f"{networks.bluesky.handle}:::{networks.bluesky.did}:::")

    restarted = await boot(networks, clock)  # same database, new clients
    await restarted.tick(2)
    assert networks.counts() == dict.fromkeys(CHANNELS, 1)
    clock.advance(days=1)  # the next firing, 09:00 the day after
    await restarted.tick(3)
    await restarted.stop()

    posts = networks.posts()
    assert networks.counts() == dict.fromkeys(CHANNELS, 2)
    rows = by_channel(list_deliveries(store))
    recorded = {name: [(r.external_id, r.url) for r in found] for name, found in rows.items()}
    assert recorded == expected_ids(networks)
    assert {r.status for found in rows.values() for r in found} == {"sent"}
    # Rotation: the second firing published another finding, the same one everywhere.
    first_item, second_item = (r.item_id for r in rows["x"])
    assert first_item != second_item
    for name, found in rows.items():
        assert [r.item_id for r in found] == [first_item, second_item], name
        assert all(
            f"Finding {r.item_id[-1]}:" in text for r, text in zip(found, posts[name], strict=True)
        )
    # Mastodon got each delivery's idempotency key; Bluesky logged in once, in the first run,
    # and the restarted process posted with the saved session.
    keys = [r.headers["idempotency-key"] for r in networks.mastodon.calls("POST")]
    assert keys == [r.idempotency_key for r in rows["mastodon"]]
    assert len(networks.bluesky.calls("POST", CREATE_SESSION)) == 1
    assert store.load("bluesky") == session
    assert restarted.notices.sent == []


async def test_a_crash_mid_send_leaves_the_post_uncertain_and_never_resent(
    networks: Networks, clock: FixedClock, store: Store
) -> None:
    def crash_on_mastodon(channels: dict[str, Channel]) -> None:
        channels["mastodon"] = CrashAfterPublish(channels["mastodon"])

    dying = await boot(networks, clock, wrap=crash_on_mastodon, start=False)
    await dying.tick()
    clock.advance(hours=1)
    with pytest.raises(ProcessDied):
        await dying.tick()  # telegram and x are sent; mastodon is out but not recorded
    rows = by_channel(list_deliveries(store))
    assert [r.status for r in rows["mastodon"]] == ["sending"]
    assert [r.status for r in rows["bluesky"]] == ["pending"]
    await dying.stop()  # only frees this test's sockets: the outbox records nothing more

    restarted = await boot(networks, clock)
    clock.advance(minutes=30)
    await restarted.tick(2)
    await restarted.stop()

    assert networks.counts() == dict.fromkeys(CHANNELS, 1)
    assert len(networks.mastodon.calls("POST")) == 1  # not even a replay of the key
    rows = by_channel(list_deliveries(store))
    assert {name: [r.status for r in found] for name, found in rows.items()} == {
        "telegram": ["sent"],
        "x": ["sent"],
        "mastodon": ["uncertain"],
        "bluesky": ["sent"],
    }
    [uncertain] = rows["mastodon"]
    assert uncertain.external_id is None
    assert [n for n in restarted.notices.sent if "uncertain" in n] == [
        f"Delivery {uncertain.id} ({uncertain.item_id} on mastodon, en) is uncertain: the bot "
        "stopped while sending it. Check the channel; it will not be re-sent."
    ]
    [line] = [x for x in deliveries_shown().splitlines() if " mastodon " in x]
    assert "uncertain" in line and "the worker stopped while sending" in line


# -- failure modes, as `campaign-bot deliveries` shows them ----------------------------------


def x_rate_limited(networks: Networks) -> None:
    reset = int(time.time()) + 900
    networks.x.fail(
        429,
        {"title": "Too Many Requests", "status": 429, "detail": "Too Many Requests"},
        {"x-rate-limit-reset": str(reset), "x-rate-limit-remaining": "0"},
    )


def x_duplicate(networks: Networks) -> None:
    detail = "You are not allowed to create a Tweet with duplicate content."
    networks.x.fail(403, {"detail": detail, "title": "Forbidden", "status": 403})


def x_unauthorized(networks: Networks) -> None:
    networks.x.fail(401, {"title": "Unauthorized", "status": 401, "detail": "Unauthorized"})


def x_unavailable(networks: Networks) -> None:
    networks.x.fail(503, {"title": "Service Unavailable", "status": 503})


def mastodon_rate_limited(networks: Networks) -> None:
    reset = datetime.now(UTC) + timedelta(seconds=120)
    networks.mastodon.fail(
        "POST",
        "/api/v1/statuses",
        429,
        {"error": "Too many requests"},
        headers={
            "X-RateLimit-Limit": "300",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": reset.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        },
    )


def bluesky_rate_limited(networks: Networks) -> None:
    networks.bluesky.fail(
        "POST",
        "/xrpc/com.atproto.repo.createRecord",
        429,
        {"error": "RateLimitExceeded", "message": "Rate Limit Exceeded"},
        headers={"ratelimit-remaining": "0", "ratelimit-reset": str(int(time.time()) + 300)},
    )


@dataclass(frozen=True)
class Failure:
    """A fault on one network and what the outbox must make of it."""

    channel: str
    inject: Callable[[Networks], None]
    status: str  # of the delivery after the firing
    reason: str  # in the error column, and so in `campaign-bot deliveries`
    retry_in: float | None = None  # seconds until a pending delivery is tried again
    notice: str | None = None  # what staff are told


FAILURES = [
    Failure(
        "x",
        x_rate_limited,
        "pending",
        "rate limited: X rate limit hit: Too Many Requests",
        retry_in=900,
    ),
    Failure(
        "x",
        x_duplicate,
        "failed",
        "X refused duplicate content: You are not allowed to create a Tweet with duplicate "
        "content.",
        notice="failed: X refused duplicate content",
    ),
    Failure(
        "x",
        x_unauthorized,
        "failed",
        "X credentials are invalid (401): Unauthorized; check X_CONSUMER_KEY",
        notice="failed: X credentials are invalid (401)",
    ),
    Failure("x", x_unavailable, "pending", "X server error: 503 Service Unavailable", retry_in=5),
    Failure(
        "mastodon",
        mastodon_rate_limited,
        "pending",
        "rate limited: Mastodon rate limit hit",
        retry_in=120,
    ),
    Failure(
        "bluesky",
        bluesky_rate_limited,
        "pending",
        "rate limited: Bluesky rate limit hit",
        retry_in=300,
    ),
]


@pytest.mark.parametrize(
    "failure",
    [pytest.param(f, id=f"{f.channel}-{f.inject.__name__.split('_', 1)[1]}") for f in FAILURES],
)
async def test_failure_modes_show_in_deliveries_with_a_clear_reason(
    networks: Networks, clock: FixedClock, store: Store, failure: Failure
) -> None:
    failure.inject(networks)
    process = await fire(networks, clock)
    fired_at = clock.now()

    rows = by_channel(list_deliveries(store))
    [row] = rows[failure.channel]
    assert row.status == failure.status
    assert row.error is not None and row.error.startswith(failure.reason)
    assert not any(secret in row.error for secret in X_SECRETS.values())
    [line] = [x for x in deliveries_shown().splitlines() if f" {failure.channel} " in x]
    assert failure.status in line and failure.reason in line
    others = [r.status for name, found in rows.items() if name != failure.channel for r in found]
    assert others == ["sent"] * 3

    if failure.retry_in is not None:  # rescheduled, never slept on
        wait = (row.next_attempt_at - fired_at).total_seconds()
        assert failure.retry_in - 10 < wait <= failure.retry_in + 2
        clock.advance(seconds=failure.retry_in + 2)
        await process.tick()
        [row] = by_channel(list_deliveries(store))[failure.channel]
        assert (row.status, row.error, row.external_id is not None) == ("sent", None, True)
        assert len(networks.posts()[failure.channel]) == 1
    else:  # final: never tried again; the next firing moves on to another item
        clock.advance(days=1)
        await process.tick()
        failed, following = by_channel(list_deliveries(store))[failure.channel]
        assert (failed.status, failed.attempts) == ("failed", 1)
        assert (following.status, following.external_id is not None) == ("sent", True)
        assert following.item_id != failed.item_id
        assert len(networks.posts()[failure.channel]) == 1
    assert (failure.notice is None) is (process.notices.sent == [])
    if failure.notice is not None:
        assert any(failure.notice in notice for notice in process.notices.sent)
    if failure.channel == "mastodon":  # the retry carried the same Idempotency-Key
        keys = {r.headers["idempotency-key"] for r in networks.mastodon.calls("POST")}
        assert keys == {row.idempotency_key}
    await process.stop()
