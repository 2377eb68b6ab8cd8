"""Publishing policy on SQLite and PostgreSQL: exactly once, misfires, pause, blackout, retries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from bot.channels import ChannelError, ErrorKind
from bot.clock import FixedClock
from bot.config import load_config
from bot.delivery.outbox import Outbox
from bot.library import load_library
from bot.render import Renderer
from bot.schedule.planner import Planner
from bot.store import Post, PostStatus, Store
from bot.store.posts import (
    approve_post,
    cancel_post,
    create_post,
    get_post,
    list_deliveries,
)
from tests.campaign_factory import Campaign, finding
from tests.fakes.recording_channel import RecordingChannel

START = datetime(2026, 11, 24, 5, 0, tzinfo=UTC)  # 08:00 in Baghdad


class Notices:
    def __init__(self) -> None:
        self.sent: list[str] = []

    async def notify_staff(self, text: str) -> None:
        self.sent.append(text)


@dataclass
class Engine:
    store: Store
    clock: FixedClock
    planner: Planner
    outbox: Outbox
    channels: dict[str, RecordingChannel]
    notices: Notices

    async def tick(self) -> None:
        self.planner.materialize()
        await self.outbox.dispatch_due()
        await self.outbox.send_ready()

    def post(self, **fields: Any) -> int:
        values: dict[str, Any] = {
            "item_id": "f-attacks",
            "lang": "en",
            "channels": ["x"],
            "due_at": self.clock.now(),
            "created_by": "cli:a",
            "via": "cli",
        }
        values.update(fields)
        created = create_post(self.store, **values)
        assert created is not None
        return created.id

    def statuses(self) -> list[tuple[str, str]]:
        return [(d.channel, d.status) for d in list_deliveries(self.store)]


def all_posts(store: Store) -> list[Post]:
    with store.sessions() as session:
        return list(session.scalars(select(Post).order_by(Post.id)))


def make_engine(campaign: Campaign, store: Store, **config: Any) -> Engine:
    data = campaign.config()
    data["schedule"]["rules"] = config.pop("rules", [])
    for key, value in config.items():
        data["schedule"][key] = value
    campaign.write_config(data)
    loaded = load_config(campaign.config_path)
    library, problems = load_library(loaded.library_dir)
    assert problems == []
    clock = FixedClock(START)
    channels = {name: RecordingChannel(name) for name in loaded.settings.enabled_channels}
    notices = Notices()
    outbox = Outbox(
        settings=loaded.settings,
        library=library,
        renderer=Renderer(library, loaded.settings),
        store=store,
        channels=channels,
        clock=clock,
        notifier=notices,
    )
    return Engine(
        store, clock, Planner(loaded.settings, library, store, clock), outbox, channels, notices
    )


@pytest.fixture
def engine(campaign: Campaign, store: Store) -> Engine:
    return make_engine(campaign, store)


async def test_due_post_is_published_once_with_ids(engine: Engine) -> None:
    engine.post(channels=["x", "mastodon"])
    for _ in range(3):
        await engine.tick()
    assert len(engine.channels["x"].published) == 1
    assert len(engine.channels["mastodon"].published) == 1
    rows = list_deliveries(engine.store)
    assert [(r.status, r.external_id, r.url) for r in rows] == [
        ("sent", "x-1", "https://example.invalid/x/1"),
        ("sent", "mastodon-1", "https://example.invalid/mastodon/1"),
    ]
    assert rows[0].text is not None and "426" in rows[0].text
    assert engine.channels["x"].published[0].idempotency_key == rows[0].idempotency_key


async def test_future_post_waits_for_its_time(engine: Engine) -> None:
    engine.post(due_at=START + timedelta(minutes=10))
    await engine.tick()
    assert engine.channels["x"].published == []
    engine.clock.advance(minutes=10)
    await engine.tick()
    assert len(engine.channels["x"].published) == 1


async def test_misfire_inside_grace_is_sent_beyond_it_is_missed(engine: Engine) -> None:
    late = engine.post(due_at=START - timedelta(minutes=14))
    too_late = engine.post(due_at=START - timedelta(minutes=16))
    await engine.tick()
    assert get_post(engine.store, late).status == PostStatus.DISPATCHED
    missed = get_post(engine.store, too_late)
    assert missed.status == PostStatus.MISSED
    assert missed.reason is not None and "more than 15m before" in missed.reason
    assert len(engine.channels["x"].published) == 1
    assert ("x", "missed") in engine.statuses()
    assert any(
        f"Post {too_late}" in notice and "missed" in notice for notice in engine.notices.sent
    )


async def test_paused_campaign_skips_and_never_sends_later(engine: Engine) -> None:
    engine.store.set_paused(True, "cli:a", "cli")
    post_id = engine.post()
    await engine.tick()
    assert get_post(engine.store, post_id).status == PostStatus.SKIPPED
    engine.store.set_paused(False, "cli:a", "cli")
    engine.clock.advance(minutes=1)
    await engine.tick()
    assert engine.channels["x"].published == []
    assert engine.statuses() == [("x", "skipped")]


async def test_post_due_during_a_pause_is_skipped_even_if_resumed_while_down(
    engine: Engine,
) -> None:
    due = START + timedelta(minutes=10)
    post_id = engine.post(due_at=due)
    # The worker is down: staff pause before the post falls due and resume after it.
    engine.store.set_paused(True, "cli:a", "cli", START + timedelta(minutes=5))
    engine.store.set_paused(False, "cli:a", "cli", START + timedelta(minutes=20))
    other = engine.post(due_at=START + timedelta(minutes=21))  # due after the resume
    engine.clock.advance(minutes=22)  # the worker starts again, within the misfire grace
    await engine.tick()
    assert get_post(engine.store, post_id).status == PostStatus.SKIPPED
    assert get_post(engine.store, other).status == PostStatus.DISPATCHED
    assert len(engine.channels["x"].published) == 1


async def test_cancelled_post_never_fires(engine: Engine) -> None:
    post_id = engine.post(due_at=START + timedelta(minutes=5))
    cancel_post(engine.store, post_id, "cli:a", "cli")
    engine.clock.advance(minutes=6)
    await engine.tick()
    assert engine.channels["x"].published == []
    assert engine.statuses() == []


async def test_blackout_window_publishes_nothing(campaign: Campaign, store: Store) -> None:
    blackout = {
        "start": (START - timedelta(hours=1)).isoformat(),
        "end": (START + timedelta(hours=1)).isoformat(),
        "reason": "mourning",
    }
    engine = make_engine(campaign, store, blackouts=[blackout])
    engine.post()
    await engine.tick()
    assert engine.channels["x"].published == []
    [row] = list_deliveries(engine.store)
    assert row.status == "skipped" and row.error is not None and "mourning" in row.error


async def test_unapproved_post_is_held_then_sent_after_approval(engine: Engine) -> None:
    post_id = engine.post(needs_approval=True, created_by="telegram:1")
    await engine.tick()
    assert get_post(engine.store, post_id).status == PostStatus.HELD
    assert engine.channels["x"].published == []
    assert any("held" in notice for notice in engine.notices.sent)
    approve_post(engine.store, post_id, "telegram:2", "telegram", engine.clock.now())
    await engine.tick()
    assert len(engine.channels["x"].published) == 1


async def test_transient_errors_retry_with_backoff(engine: Engine) -> None:
    engine.channels["x"].fail_with(ChannelError(ErrorKind.TRANSIENT, "502 Bad Gateway"))
    engine.post()
    await engine.tick()
    [row] = list_deliveries(engine.store)
    assert (row.status, row.attempts, row.error) == ("pending", 1, "502 Bad Gateway")
    assert row.next_attempt_at == START + timedelta(seconds=5)
    await engine.tick()
    assert engine.channels["x"].published == []
    engine.clock.advance(seconds=5)
    await engine.tick()
    assert engine.statuses() == [("x", "sent")]


async def test_transient_errors_give_up_after_five_attempts(engine: Engine) -> None:
    engine.channels["x"].fail_with(*[ChannelError(ErrorKind.TRANSIENT, "timeout")] * 5)
    engine.post()
    for _ in range(6):
        await engine.tick()
        engine.clock.advance(minutes=10)
    [row] = list_deliveries(engine.store)
    assert (row.status, row.attempts) == ("failed", 5)


async def test_rate_limit_waits_for_retry_after(engine: Engine) -> None:
    engine.channels["x"].fail_with(ChannelError(ErrorKind.RATE_LIMITED, "429", retry_after=90))
    engine.post()
    await engine.tick()
    [row] = list_deliveries(engine.store)
    assert row.status == "pending" and row.next_attempt_at == START + timedelta(seconds=90)
    engine.clock.advance(seconds=90)
    await engine.tick()
    assert engine.statuses() == [("x", "sent")]


@pytest.mark.parametrize(
    ("kind", "status"),
    [
        (ErrorKind.PERMANENT, "failed"),
        (ErrorKind.AUTH, "failed"),
        (ErrorKind.UNCERTAIN, "uncertain"),
    ],
)
async def test_final_errors_are_recorded_and_staff_told(
    engine: Engine, kind: ErrorKind, status: str
) -> None:
    engine.channels["x"].fail_with(ChannelError(kind, "duplicate content"))
    engine.post()
    await engine.tick()
    engine.clock.advance(hours=1)
    await engine.tick()
    [row] = list_deliveries(engine.store)
    assert (row.status, row.error) == (status, "duplicate content")
    assert engine.channels["x"].published == []
    assert any("duplicate content" in notice for notice in engine.notices.sent)


async def test_crash_while_sending_becomes_uncertain_not_resent(engine: Engine) -> None:
    engine.post()
    await engine.outbox.dispatch_due()
    [row] = list_deliveries(engine.store)
    from bot.store.posts import claim_delivery

    # The worker died right after this claim.
    assert claim_delivery(engine.store, row.id, "text", engine.clock.now())
    await engine.outbox.recover()
    await engine.tick()
    assert engine.channels["x"].published == []
    assert engine.statuses() == [("x", "uncertain")]
    assert any("uncertain" in notice for notice in engine.notices.sent)


async def test_x_daily_cap(campaign: Campaign, store: Store) -> None:
    data = campaign.config()
    data["channels"]["x"]["max_posts_per_day"] = 2
    campaign.write_config(data)
    engine = make_engine(campaign, store)
    for _ in range(3):
        engine.post()
    await engine.tick()
    assert len(engine.channels["x"].published) == 2
    assert sorted(s for _, s in engine.statuses()) == ["sent", "sent", "skipped"]
    [capped] = [d for d in list_deliveries(engine.store) if d.status == "skipped"]
    assert capped.error == "X daily cap of 2 posts reached"


# Rules


DAILY = {
    "id": "daily",
    "cron": "0 9 * * *",
    "time_zone": "Asia/Baghdad",
    "channels": ["x", "telegram"],
    "languages": ["en", "ar"],
    "pick": {"kinds": ["finding"]},
}


async def test_rule_publishes_at_local_time_in_reviewed_languages(
    campaign: Campaign, store: Store
) -> None:
    campaign.write_items("items.yaml", [finding(f"f-{i}") for i in range(3)])
    engine = make_engine(campaign, store, rules=[DAILY])
    await engine.tick()  # first sight of the rule: it starts now, no replay
    engine.clock.advance(minutes=59)  # 08:59 Baghdad
    await engine.tick()
    assert engine.channels["x"].published == []
    engine.clock.advance(minutes=1)  # 09:00 Baghdad
    await engine.tick()
    assert [p.lang for p in engine.channels["x"].published] == ["en"]
    assert [p.lang for p in engine.channels["telegram"].published] == ["en"]
    skipped = [p for p in all_posts(engine.store) if p.status == PostStatus.SKIPPED]
    assert [p.lang for p in skipped] == ["ar"]
    assert skipped[0].reason is not None and "not reviewed" in skipped[0].reason


async def test_rule_firing_is_one_post_across_restarts(campaign: Campaign, store: Store) -> None:
    campaign.write_items("items.yaml", [finding(f"f-{i}") for i in range(3)])
    rule = {**DAILY, "languages": ["en"]}
    engine = make_engine(campaign, store, rules=[rule])
    await engine.tick()
    engine.clock.advance(hours=1)
    await engine.tick()
    restarted = make_engine(campaign, store, rules=[rule])  # same database, new process
    restarted.clock.current = engine.clock.now()
    await restarted.tick()
    await restarted.tick()
    assert len(engine.channels["x"].published) + len(restarted.channels["x"].published) == 1


async def test_rule_firings_missed_while_down(campaign: Campaign, store: Store) -> None:
    campaign.write_items("items.yaml", [finding(f"f-{i}") for i in range(5)])
    rule = {**DAILY, "languages": ["en"], "channels": ["x"]}
    engine = make_engine(campaign, store, rules=[rule])
    await engine.tick()
    engine.clock.advance(days=2, hours=1, minutes=10)  # down for days; back at 09:10 Baghdad
    await engine.tick()
    posts = sorted(get_post(engine.store, i).status for i in range(1, 4))
    assert posts == ["dispatched", "missed", "missed"]
    assert len(engine.channels["x"].published) == 1


async def test_rotation_does_not_repeat_inside_the_window(
    campaign: Campaign, store: Store
) -> None:
    campaign.write_items("items.yaml", [finding(f"f-{i}") for i in range(6)])
    rule = {**DAILY, "languages": ["en"], "channels": ["x"]}
    engine = make_engine(campaign, store, rules=[rule], rotation_window="5d")
    await engine.tick()
    engine.clock.advance(hours=1, days=-1)  # 09:00 Baghdad, a day before the first firing
    for _ in range(12):
        engine.clock.advance(days=1)
        await engine.tick()
    picked = [p.item_id for p in engine.channels["x"].published]
    assert len(picked) == 12
    for i, item in enumerate(picked):
        assert item not in picked[max(0, i - 4) : i]


async def test_max_count(campaign: Campaign, store: Store) -> None:
    rule = {**DAILY, "languages": ["en"], "channels": ["x"], "max_count": 2}
    engine = make_engine(campaign, store, rules=[rule])
    await engine.tick()
    engine.clock.advance(hours=1, days=-1)
    for _ in range(4):
        engine.clock.advance(days=1)
        await engine.tick()
    assert len(engine.channels["x"].published) == 2


async def test_long_item_goes_out_as_an_x_thread_when_allowed(
    campaign: Campaign, store: Store
) -> None:
    long_text = " ".join(f"Sentence {i} about the toll in west Mosul." for i in range(12))
    campaign.write_items("items.yaml", [finding(text={"en": long_text})])
    data = campaign.config()
    data["channels"]["x"]["threads"] = True
    campaign.write_config(data)
    engine = make_engine(campaign, store)
    engine.post()
    await engine.tick()
    [sent] = engine.channels["x"].published
    assert sent.continuation, "expected a reply chain"
    from bot.render.limits import x_length

    assert all(x_length(part) <= 280 for part in (sent.text, *sent.continuation))
    assert "amnesty.org.nz" in sent.continuation[-1]


async def test_a_post_too_long_for_its_channel_fails_with_the_reason(engine: Engine) -> None:
    engine.outbox.renderer.server_limits["mastodon"] = 40  # a tiny instance
    engine.post(channels=["mastodon"])
    await engine.tick()
    [row] = list_deliveries(engine.store)
    assert row.status == "failed"
    assert row.error is not None and "too long for mastodon" in row.error
    assert "the limit is 40" in row.error
    assert engine.channels["mastodon"].published == []
    assert any("too long for mastodon" in notice for notice in engine.notices.sent)


async def test_a_held_post_approved_after_the_grace_is_published_not_missed(
    engine: Engine,
) -> None:
    post_id = engine.post(needs_approval=True, created_by="telegram:1")
    await engine.tick()
    assert get_post(engine.store, post_id).status == PostStatus.HELD
    engine.clock.advance(minutes=45)  # the second staff member was busy
    approve_post(engine.store, post_id, "telegram:2", "telegram", engine.clock.now())
    await engine.tick()
    assert get_post(engine.store, post_id).status == PostStatus.DISPATCHED
    assert len(engine.channels["x"].published) == 1
