"""The fan-out engine through a real BotPrivateSender against the fake Bot API, on both stores."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError

from bot.delivery.broadcasts import cancel, progress
from bot.delivery.fanout import FanOut
from bot.store import DeliveryStatus, Store
from bot.store.audience import BroadcastStatus, get_broadcast
from bot.store.blackouts import add_blackout
from bot.store.private_outbox import feed
from tests.campaign_factory import Campaign
from tests.fakes.telegram_api import FakeBotAPI
from tests.fakes.telegram_fixtures import (  # noqa: F401 (fixtures by name)
    TOKEN,
    fake_api_fixture,
    make_bot,
    ptb_timedelta_fixture,
)
from tests.integration.test_fanout_support import (
    QUICK,
    Harness,
    add_subscribers,
    messages,
    reviewed_campaign,
    running_harness,
    subscriber,
    wait_until,
)


@pytest.fixture
async def harness(
    campaign: Campaign, store: Store, fake_api: FakeBotAPI
) -> AsyncIterator[Harness]:
    async with running_harness(reviewed_campaign(campaign), store, fake_api) as running:
        yield running


def statuses(store: Store, broadcast_id: int) -> dict[int, str]:
    return {row.chat_id: row.status for row in messages(store, broadcast_id)}


def send_times(fake: FakeBotAPI) -> list[float]:
    return [call.at for call in fake.calls_to("sendMessage")]


# -- who gets what --------------------------------------------------------------------------


async def test_every_matching_active_subscriber_gets_one_message_in_their_language(
    harness: Harness, fake_api: FakeBotAPI
) -> None:
    languages = ("en", "ar", "ckb")
    add_subscribers(harness.store, range(1, 31), language=lambda chat: languages[chat % 3])
    add_subscribers(harness.store, [40], active=False)  # stopped or blocked earlier
    add_subscribers(harness.store, [41], topics="justice")  # another topic

    broadcast = harness.queue("a-share", topic="acknowledge", paid=True, rate=500)
    await harness.finished(broadcast)

    assert fake_api.per_chat_delivered == dict.fromkeys(range(1, 31), 1)
    renderer, item = harness.core.renderer, harness.core.library.get("a-share")
    expected = {lang: renderer.render(item, "telegram", lang).text for lang in languages}
    for sent in fake_api.sent_messages():
        assert sent.text == expected[languages[sent.chat_id % 3]]
        assert sent.params["parse_mode"] == "HTML"
    assert set(statuses(harness.store, broadcast).values()) == {DeliveryStatus.SENT}
    done = progress(harness.store, broadcast)
    assert done.broadcast.status == BroadcastStatus.DONE and done.total == 30
    assert done.broadcast.started_at is not None and done.broadcast.finished_at is not None
    await wait_until(
        lambda: any(f"Broadcast {broadcast}" in line for line in harness.notices.lines),
        2,
        "staff to be told",
    )


async def test_a_language_filter_reaches_only_that_language(
    harness: Harness, fake_api: FakeBotAPI
) -> None:
    add_subscribers(harness.store, range(1, 6), language="ar")
    add_subscribers(harness.store, range(6, 11), language="en")
    broadcast = harness.queue("a-share", lang="ar", paid=True, rate=500)
    await harness.finished(broadcast)
    assert sorted(fake_api.per_chat_delivered) == [1, 2, 3, 4, 5]


# -- errors that end a recipient ------------------------------------------------------------


async def test_blocked_deleted_and_missing_chats_deactivate_the_subscriber(
    harness: Harness, fake_api: FakeBotAPI
) -> None:
    add_subscribers(harness.store, range(1, 8))
    fake_api.block_chat(2)
    fake_api.block_chat(3, "Forbidden: user is deactivated")
    fake_api.missing_chat(4)

    broadcast = harness.queue(paid=True, rate=500)
    await harness.finished(broadcast)

    rows = {row.chat_id: row for row in messages(harness.store, broadcast)}
    assert {chat: row.status for chat, row in rows.items()} == {
        1: "sent",
        2: "failed",
        3: "failed",
        4: "failed",
        5: "sent",
        6: "sent",
        7: "sent",
    }
    assert "blocked" in (rows[2].error or "")
    assert "chat not found" in (rows[4].error or "")
    reasons = {chat: subscriber(harness.store, chat) for chat in (2, 3, 4, 5)}
    assert {chat: (s.active, s.inactive_reason) for chat, s in reasons.items() if s} == {
        2: (False, "blocked the bot"),
        3: (False, "account deleted"),
        4: (False, "chat not found"),
        5: (True, None),
    }
    # Nothing is retried: one request each.
    assert len(fake_api.calls_to("sendMessage")) == 7


async def test_a_migrated_chat_moves_the_subscriber_and_the_message_follows(
    harness: Harness, fake_api: FakeBotAPI
) -> None:
    add_subscribers(harness.store, [1, 2])
    fake_api.migrate_chat(2, -1009999)

    broadcast = harness.queue(paid=True, rate=500)
    await harness.finished(broadcast)

    assert fake_api.per_chat_delivered == {1: 1, -1009999: 1}
    assert subscriber(harness.store, 2) is None
    moved = subscriber(harness.store, -1009999)
    assert moved is not None and moved.active
    assert statuses(harness.store, broadcast) == {1: "sent", -1009999: "sent"}


# -- flood control --------------------------------------------------------------------------


async def test_a_429_pauses_the_broadcast_and_slows_it_but_not_replies_to_supporters(
    harness: Harness, fake_api: FakeBotAPI
) -> None:
    add_subscribers(harness.store, range(1, 21))
    fake_api.fail_next(
        "sendMessage", 429, "Too Many Requests: retry after 1", retry_after=1, after=5
    )
    broadcast = harness.queue(rate=30)
    pacer = harness.audience.fanout.free.pacer
    await fake_api.wait_for(lambda: fake_api.rate_limited == 1)
    limited_at = time.monotonic()

    # A supporter's reply goes through the bot's own connections, at once.
    async with make_bot(fake_api, "aiohttp") as replies:
        await replies.send_message(777, "Thank you for joining!")
    assert time.monotonic() - limited_at < 0.3
    assert pacer.rate < pacer.base  # slowed down for a while

    await harness.finished(broadcast)
    [limited] = [call for call in fake_api.calls_to("sendMessage") if call.status == 429]
    during = [
        at
        for call in fake_api.calls_to("sendMessage")
        if limited.at + 0.1 < (at := call.at) < limited.at + 0.95
        and call.params["chat_id"] != "777"
    ]
    assert during == []
    assert fake_api.per_chat_delivered == {**dict.fromkeys(range(1, 21), 1), 777: 1}
    assert pacer.penalties == 1


# -- retries --------------------------------------------------------------------------------


async def test_5xx_is_retried_with_backoff_then_given_up_with_the_reason(
    harness: Harness, fake_api: FakeBotAPI
) -> None:
    add_subscribers(harness.store, [1])
    fake_api.fail_next("sendMessage", 502, "Bad Gateway", times=2)
    first = harness.queue(paid=True, rate=500)
    await harness.finished(first)
    [row] = messages(harness.store, first)
    assert (row.status, row.attempts) == ("sent", 3)
    assert fake_api.per_chat_delivered == {1: 1}

    fake_api.fail_next("sendMessage", 500, "Internal Server Error", times=10)
    second = harness.queue("d-acknowledge", paid=True, rate=500)
    await harness.finished(second)
    [row] = messages(harness.store, second)
    assert row.status == "failed" and row.attempts == QUICK.retry.max_attempts
    assert row.error is not None and "gave up after 3 attempts" in row.error
    assert "Internal Server Error" in row.error
    calls = fake_api.calls_to("sendMessage")[-3:]
    gaps = [later.at - earlier.at for earlier, later in itertools.pairwise(calls)]
    assert gaps[0] >= QUICK.retry.backoff(1) * 0.9
    assert gaps[1] >= QUICK.retry.backoff(2) * 0.9
    assert subscriber(harness.store, 1).active  # type: ignore[union-attr]


async def test_network_errors_are_retried_a_bounded_number_of_times(
    campaign: Campaign, store: Store
) -> None:
    # A server that went away: nothing listens on its port any more.
    gone = FakeBotAPI()
    await gone.start()
    await gone.close()
    async with running_harness(reviewed_campaign(campaign), store, gone) as harness:
        add_subscribers(store, [1])
        broadcast = harness.queue(paid=True, rate=500)
        await harness.finished(broadcast)
        [row] = messages(store, broadcast)
        assert row.status == "failed" and row.attempts == QUICK.retry.max_attempts
        assert row.error is not None and "network error" in row.error


async def test_a_timeout_after_the_request_left_is_uncertain_and_never_resent(
    campaign: Campaign, store: Store, fake_api: FakeBotAPI
) -> None:
    fake_api.timeout_rate = 1.0  # delivered, but the answer comes too late
    fake_api.timeout_hold_s = 2.0
    async with running_harness(
        reviewed_campaign(campaign), store, fake_api, read_timeout=0.3
    ) as harness:
        add_subscribers(store, [1, 2])
        broadcast = harness.queue(paid=True, rate=500)
        await harness.finished(broadcast)
        rows = messages(store, broadcast)
        assert {row.status for row in rows} == {"uncertain"}
        assert all("may have delivered" in (row.error or "") for row in rows)
        assert fake_api.per_chat_delivered == {1: 1, 2: 1}


async def test_under_faults_every_recipient_ends_final_and_nobody_gets_two(
    campaign: Campaign, store: Store, fake_api: FakeBotAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_api.latency_ms = 20  # a dozen requests in flight when the burst of 429s starts
    fake_api.error_rate_5xx = 0.1
    fake_api.timeout_rate = 0.02
    fake_api.timeout_hold_s = 1.0
    blocked = set(range(5, 201, 20))  # 5 %
    for chat in blocked:
        fake_api.block_chat(chat)
    fake_api.fail_next("sendMessage", 429, "Too Many Requests", retry_after=1, times=5, after=50)
    options = replace(QUICK, retry=replace(QUICK.retry, max_attempts=6))
    async with running_harness(
        reviewed_campaign(campaign), store, fake_api, options=options, read_timeout=0.3
    ) as harness:
        pacer = harness.audience.fanout.paid.pacer
        answers_429: list[float] = []  # the 429s the bot got (one that timed out is uncertain)
        penalize = pacer.penalize
        monkeypatch.setattr(pacer, "penalize", lambda s: (answers_429.append(s), penalize(s)))
        add_subscribers(store, range(1, 201))
        broadcast = harness.queue(paid=True, rate=600)
        await harness.finished(broadcast, timeout=30)

        rows = {row.chat_id: row for row in messages(store, broadcast)}
        assert len(rows) == 200
        assert all(row.status in ("sent", "failed", "uncertain") for row in rows.values())
        # A blocked chat's answer is a 403: failed, and the subscriber stops. Unless its
        # request outlived the 0.3 s read timeout (a fault above, or a loaded machine): then
        # the bot cannot know what happened and says uncertain, as for any other chat.
        refused = {chat for chat in blocked if rows[chat].status == "failed"}
        assert all(rows[chat].status == "uncertain" for chat in blocked - refused)
        assert all(not subscriber(store, chat).active for chat in refused)  # type: ignore[union-attr]
        assert max(fake_api.per_chat_delivered.values()) == 1
        sent = {chat for chat, row in rows.items() if row.status == "sent"}
        uncertain = {chat for chat, row in rows.items() if row.status == "uncertain"}
        assert sent <= set(fake_api.per_chat_delivered) <= sent | uncertain
        assert fake_api.stats()["errors_5xx"] > 0 and uncertain
        # Every request in flight got a 429: that is one slowdown, not one per answer. (The
        # answers come within the read timeout of each other, well inside the 1 s pause.)
        assert fake_api.rate_limited >= 5
        assert pacer.penalties == min(len(answers_429), 1)


async def test_a_refused_token_holds_all_sending_for_a_while_and_tells_staff(
    harness: Harness, fake_api: FakeBotAPI
) -> None:
    add_subscribers(harness.store, range(1, 6))
    fake_api.fail_next("sendMessage", 401, "Unauthorized")
    broadcast = harness.queue(paid=True, rate=500)
    await harness.finished(broadcast)

    calls = fake_api.calls_to("sendMessage")
    refused = next(call for call in calls if call.status == 401)
    # Requests already on their way when the 401 came back may arrive just after it (more so
    # on a loaded machine); anything later waited for the pause.
    later = [call for call in calls if call.at > refused.at + 0.2]
    assert later and min(call.at for call in later) >= refused.at + QUICK.retry.auth_pause * 0.9
    assert fake_api.per_chat_delivered == dict.fromkeys(range(1, 6), 1)
    [notice] = [line for line in harness.notices.lines if "refused the bot token" in line]
    assert TOKEN not in notice


async def test_a_database_error_while_reading_rows_does_not_stop_the_fan_out(
    harness: Harness, fake_api: FakeBotAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_subscribers(harness.store, range(1, 11))
    failures = {"left": 3}

    def flaky(*args: Any) -> Any:
        if failures["left"]:
            failures["left"] -= 1
            raise OperationalError("SELECT ...", {}, Exception("server closed the connection"))
        return feed(*args)

    monkeypatch.setattr("bot.delivery.feeds.feed", flaky)
    broadcast = harness.queue(paid=True, rate=500)
    await harness.finished(broadcast)
    assert failures["left"] == 0
    assert fake_api.per_chat_delivered == dict.fromkeys(range(1, 11), 1)


# -- pacing ---------------------------------------------------------------------------------


async def test_one_chat_gets_at_most_one_message_per_second(
    harness: Harness, fake_api: FakeBotAPI
) -> None:
    fake_api.per_chat_cap = 1.0  # the fake answers 429 to a second message within 1 s
    add_subscribers(harness.store, [1, 2, 3])
    first = harness.queue("a-share", paid=True, rate=500)  # the paid lane
    second = harness.queue("d-acknowledge", rate=30)  # the free lane, at the same time
    for broadcast in (first, second):
        await harness.finished(broadcast)

    assert fake_api.rate_limited == 0
    assert fake_api.per_chat_delivered == {1: 2, 2: 2, 3: 2}
    for chat in (1, 2, 3):
        times = [sent.at for sent in fake_api.sent_messages(chat)]
        assert all(later - earlier >= 1.0 for earlier, later in itertools.pairwise(times))


async def test_the_free_rate_is_kept_and_paid_mode_asks_for_a_paid_broadcast(
    harness: Harness, fake_api: FakeBotAPI
) -> None:
    add_subscribers(harness.store, range(1, 13))
    free = harness.queue("a-share", rate=20)
    await harness.finished(free)
    times = send_times(fake_api)
    # 12 messages at 20/s: 0.55 s. The exact spacing is a unit test of the pacer on a fake
    # clock; here, on a machine other jobs share, only that they were paced at all.
    assert (times[-1] - times[0]) >= 11 / 20 * 0.6
    assert all("allow_paid_broadcast" not in sent.params for sent in fake_api.sent_messages())

    fake_api.reset()
    paid = harness.queue("d-acknowledge", paid=True, rate=200)
    await harness.finished(paid)
    sent = fake_api.sent_messages()
    assert len(sent) == 12
    assert all(json.loads(m.params["allow_paid_broadcast"]) is True for m in sent)
    assert get_broadcast(harness.store, paid).paid


# -- staff control --------------------------------------------------------------------------


async def test_pause_holds_sending_and_resume_continues(
    harness: Harness, fake_api: FakeBotAPI
) -> None:
    add_subscribers(harness.store, range(1, 21))
    broadcast = harness.queue(rate=30)
    await fake_api.wait_for(lambda: fake_api.delivered >= 5)
    harness.store.set_paused(True, "test", "cli")
    fanout = harness.audience.fanout
    await wait_until(lambda: not fanout._open.is_set(), 2, "the fan-out to hold")
    await asyncio.sleep(0.05)  # a request granted just before the hold may still land
    held_at = fake_api.delivered
    await asyncio.sleep(0.3)
    assert fake_api.delivered == held_at < 20
    assert not progress(harness.store, broadcast).complete

    harness.store.set_paused(False, "test", "cli")
    await harness.finished(broadcast)
    assert fake_api.per_chat_delivered == dict.fromkeys(range(1, 21), 1)


class ShiftedClock:
    """System time plus an offset the test moves."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset


async def test_a_blackout_window_holds_the_broadcast_until_it_ends(
    campaign: Campaign, store: Store, fake_api: FakeBotAPI
) -> None:
    now = datetime.now(UTC)
    window = {"start": (now - timedelta(hours=1)).isoformat(), "end": (now + timedelta(hours=1))}
    window["end"] = window["end"].isoformat()  # type: ignore[union-attr]
    reviewed_campaign(campaign)
    data = campaign.config()
    data["schedule"]["blackouts"] = [window]
    campaign.write_config(data)
    clock = ShiftedClock()
    async with running_harness(campaign, store, fake_api, clock=clock) as harness:
        add_subscribers(store, range(1, 6))
        broadcast = harness.queue(paid=True, rate=500)
        await wait_until(
            lambda: get_broadcast(store, broadcast).status == BroadcastStatus.SENDING,
            5,
            "recipients to be selected",
        )
        await asyncio.sleep(0.3)
        assert fake_api.delivered == 0

        clock.offset = timedelta(hours=1, minutes=1)  # the window is over
        await harness.finished(broadcast)
        assert fake_api.per_chat_delivered == dict.fromkeys(range(1, 6), 1)


async def test_an_idle_fan_out_looks_only_after_a_commit_and_holds_at_a_stored_blackout(
    campaign: Campaign, store: Store, fake_api: FakeBotAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = ShiftedClock()
    start = clock.now() + timedelta(hours=1)
    add_blackout(store, start, start + timedelta(hours=1), "results day", "test", "cli", start)
    async with running_harness(reviewed_campaign(campaign), store, fake_api, clock=clock) as h:
        fanout = h.audience.fanout
        looks: list[float] = []
        look = fanout.selector.look
        monkeypatch.setattr(fanout.selector, "look", lambda: (looks.append(1), look())[1])
        sqlite = store.engine.dialect.name == "sqlite"
        if sqlite:  # start-up's writes are looked at once
            await wait_until(lambda: fanout._seen == store.commits.read(), 5, "a first look")
        looks.clear()
        await asyncio.sleep(0.3)  # a dozen idle rounds (QUICK polls every 0.02 s)
        # SQLite tells that nothing was committed: no look. PostgreSQL cannot: a look a round.
        assert len(looks) == 0 if sqlite else len(looks) > 3

        clock.offset = timedelta(hours=1, minutes=1)  # in the stored window: no commit, yet
        await wait_until(lambda: fanout._hold is not None, 5, "the fan-out to hold")
        assert "blackout" in str(fanout._hold)
        clock.offset = timedelta(hours=2, minutes=1)  # the window is over
        await wait_until(lambda: fanout._hold is None, 5, "the fan-out to send again")
        if sqlite:
            assert looks == []

        store.unwatch(fanout.poke)  # as if another process (the CLI) queued the broadcast
        add_subscribers(store, range(1, 4))
        broadcast = h.queue(paid=True, rate=500)
        await h.finished(broadcast)
        assert fake_api.per_chat_delivered == dict.fromkeys(range(1, 4), 1)


async def test_cancel_skips_the_recipients_not_sent_yet(
    harness: Harness, fake_api: FakeBotAPI
) -> None:
    add_subscribers(harness.store, range(1, 61))
    broadcast = harness.queue(rate=30)
    await fake_api.wait_for(lambda: fake_api.delivered >= 5)
    cancel(harness.store, broadcast, "test", "cli", datetime.now(UTC))
    await harness.finished(broadcast)
    await asyncio.sleep(0.2)

    counts = progress(harness.store, broadcast).counts
    assert get_broadcast(harness.store, broadcast).status == BroadcastStatus.CANCELLED
    assert counts["sent"] == fake_api.delivered < 12
    assert counts["sent"] + counts["skipped"] == 60
    assert max(fake_api.per_chat_delivered.values()) == 1


# -- memory ---------------------------------------------------------------------------------


async def test_rows_are_paged_so_memory_holds_a_bounded_number_of_them(
    campaign: Campaign, store: Store, fake_api: FakeBotAPI
) -> None:
    options = replace(QUICK, page=20, selection_batch=60, concurrency=10)
    async with running_harness(
        reviewed_campaign(campaign), store, fake_api, options=options
    ) as harness:
        add_subscribers(store, range(1, 601))
        fanout: FanOut = harness.audience.fanout
        peak = {"held": 0, "page": 0}

        async def sample() -> None:
            while True:
                peak["held"] = max(peak["held"], len(fanout.held))
                feeds = [
                    feed for lane in (fanout.free, fanout.paid) for feed in lane.feeds.values()
                ]
                peak["page"] = max([peak["page"], *(len(feed.rows) for feed in feeds)])
                await asyncio.sleep(0.001)

        sampler = asyncio.create_task(sample())
        try:
            broadcast = harness.queue(paid=True, rate=1000)
            await harness.finished(broadcast)
        finally:
            sampler.cancel()
        assert fake_api.per_chat_delivered == dict.fromkeys(range(1, 601), 1)
        assert peak["page"] <= options.page
        # One page in the feed, the requests in flight and those whose outcome is being written.
        assert 0 < peak["held"] <= 2 * options.page + 2 * options.concurrency
