"""A retracted item never goes out again, from any path, from the tick the worker sees it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import yaml
from sqlalchemy import select

from bot.app import Runtime, build_core, build_runtime
from bot.clock import FixedClock
from bot.delivery.broadcasts import BroadcastError, plan_broadcast, start_broadcast
from bot.schedule.posting import build_queue, schedule_post
from bot.schedule.reminders import run_due_reminders
from bot.store import (
    Broadcast,
    DeliveryStatus,
    Message,
    Post,
    PostError,
    PostStatus,
    Store,
    Subscriber,
)
from bot.store.audience import materialize_batch
from bot.store.posts import create_post, list_deliveries, write_deliveries
from tests.campaign_factory import Campaign, action, finding
from tests.fakes.recording_channel import RecordingChannel
from tests.integration.test_fanout_support import ALL_LANGUAGES, add_subscribers

START = datetime(2026, 11, 24, 5, 0, tzinfo=UTC)
REASONS = {
    "f-0": "We could not confirm this figure with the publisher.",
    "a-share": "The page this action links to is gone.",
}


class Notices:
    def __init__(self) -> None:
        self.sent: list[str] = []

    async def notify_staff(self, text: str) -> None:
        self.sent.append(text)


def retract(campaign: Campaign, *item_ids: str) -> None:
    path = campaign.messages / "items.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    for item in data["items"]:
        if item["id"] in item_ids:
            item["status"] = {
                "state": "retracted",
                "date": "2026-11-24",
                "reason": {lang: REASONS[item["id"]] for lang in item["text"]},
            }
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")


@pytest.fixture
def worker_campaign(campaign: Campaign, db_url: str, monkeypatch: pytest.MonkeyPatch) -> Campaign:
    everywhere: dict[str, Any] = {"reviewed": ALL_LANGUAGES}
    campaign.write_items(
        "items.yaml",
        [
            finding("f-0", topics=["acknowledge"], **everywhere),
            finding("f-1", topics=["acknowledge"], **everywhere),
            action(**everywhere),
            action("a-write", text={"en": "Write to your MP."}, reviewed=["en"]),
        ],
    )
    data = campaign.config()
    data["channels"] = {"console": {}}
    data["schedule"]["rules"] = [
        {
            "id": "hourly",
            "cron": "0 * * * *",
            "channels": ["console"],
            "languages": ["en"],
            "pick": {"kinds": ["finding"]},
        }
    ]
    campaign.write_config(data)
    monkeypatch.setenv("CAMPAIGN_CONFIG", str(campaign.config_path))
    monkeypatch.setenv("DATABASE_URL", db_url)
    return campaign


Worker = Callable[[FixedClock], tuple[Runtime, RecordingChannel, Notices]]


@pytest.fixture(name="worker")
def worker_fixture(worker_campaign: Campaign) -> Iterator[Worker]:
    """Build the worker as `run` does, on a recording channel; close its store afterwards."""
    built: list[Runtime] = []

    def build(clock: FixedClock) -> tuple[Runtime, RecordingChannel, Notices]:
        core = build_core(None, clock=clock)
        channel = RecordingChannel("console")
        notices = Notices()
        built.append(build_runtime(core, {"console": channel}, notices))
        return built[-1], channel, notices

    yield build
    for runtime in built:
        runtime.core.store.close()


async def test_a_retracted_item_is_skipped_everywhere_and_never_published_again(
    worker_campaign: Campaign, store: Store, worker: Worker
) -> None:
    clock = FixedClock(START)
    runtime, channel, notices = worker(clock)
    core = runtime.core
    await runtime.worker.tick()  # the rule starts now
    # Work in flight when staff retract: a one-off for later, a dispatched post's outbox row,
    # a broadcast being sent, and a reminder due.
    later = schedule_post(
        settings=core.settings,
        library=core.library,
        renderer=core.renderer,
        store=store,
        item_id="f-0",
        channels=["console"],
        lang="en",
        due_at=START + timedelta(hours=5),
        actor="cli:a",
        via="cli",
        now=START,
    )
    dispatched = create_post(
        store,
        item_id="f-0",
        lang="en",
        channels=["console"],
        due_at=START,
        created_by="cli:a",
        via="cli",
        status=PostStatus.DISPATCHED,
    )
    assert dispatched is not None
    with store.sessions.begin() as session:
        write_deliveries(session, dispatched, START, DeliveryStatus.PENDING)
    add_subscribers(store, [11, 12], topics="acknowledge", language="en")
    add_subscribers(store, [13], topics="acknowledge", reminder="daily", next_reminder_at=START)
    plan = plan_broadcast(core.settings, core.library, store, "f-0")
    broadcast = start_broadcast(store, plan, "cli:a", "cli", START)
    materialize_batch(store, broadcast.id, ["en"], 100, START)
    await run_due_reminders(store, core.library, core.settings, START)

    before = build_queue(core.settings, core.library, store, clock, 2)
    assert {row.item for row in before} == {"f-0", "f-1"}
    retract(worker_campaign, "f-0", "a-share")
    await runtime.worker.tick()  # one tick: the worker reloads the library and acts

    with store.sessions() as session:
        post = session.get(Post, later.id)
        rows = list(session.scalars(select(Message).order_by(Message.id)))
        stopped = session.get(Broadcast, broadcast.id)
    assert post is not None and post.status == "skipped"
    assert post.reason == (
        "f-0 was retracted on 2026-11-24: We could not confirm this figure with the publisher."
    )
    [delivery] = list_deliveries(store)
    assert (delivery.status, delivery.error) == ("skipped", post.reason)
    assert stopped is not None and stopped.status == "cancelled"
    assert [(m.kind, m.item_id, m.status) for m in rows] == [
        ("broadcast", "f-0", "skipped"),
        ("broadcast", "f-0", "skipped"),
        ("broadcast", "f-0", "skipped"),
        ("reminder", "a-share", "skipped"),
    ]
    assert rows[-1].error == "a-share was retracted on 2026-11-24: " + REASONS["a-share"]
    by_item = {n.split(" ", 1)[0]: n for n in notices.sent}
    assert sorted(by_item) == ["a-share", "f-0"]
    assert (
        "Skipped 5 in all: 1 scheduled post, 1 pending delivery, 3 broadcast messages, "
        "0 reminders (1 broadcast stopped)" in by_item["f-0"]
    )
    assert (
        "Skipped 1 in all: 0 scheduled posts, 0 pending deliveries, 0 broadcast "
        "messages, 1 reminder." in by_item["a-share"]
    )
    assert "never published, so there is nothing to correct" in by_item["f-0"]

    # From now on: the queue does not offer it, the rule fires every hour for two days and
    # never picks it; staff cannot post or broadcast it; reminders offer another action.
    upcoming = build_queue(core.settings, core.library, store, clock, 2)
    assert len(upcoming) == 48 and {row.item for row in upcoming} == {"f-1"}
    for _ in range(48):
        clock.advance(hours=1)
        await runtime.worker.tick()
    published = [p.item_id for p in channel.published]
    assert len(published) == 48 and set(published) == {"f-1"}
    with pytest.raises(PostError, match="f-0 was retracted on 2026-11-24: We could not"):
        schedule_post(
            settings=core.settings,
            library=core.library,
            renderer=core.renderer,
            store=store,
            item_id="f-0",
            channels=["console"],
            lang="en",
            due_at=clock.now(),
            actor="cli:a",
            via="cli",
            now=clock.now(),
        )
    with pytest.raises(BroadcastError, match="f-0 was retracted on 2026-11-24"):
        plan_broadcast(core.settings, core.library, store, "f-0")
    with store.sessions() as session:
        due = session.get(Subscriber, 13)
    assert due is not None and due.next_reminder_at is not None
    await run_due_reminders(store, core.library, core.settings, due.next_reminder_at)
    with store.sessions() as session:
        reminders = session.scalars(select(Message.item_id).where(Message.kind == "reminder"))
        assert list(reminders) == ["a-share", "a-write"]
    assert len(notices.sent) == 2  # each retraction is announced once


async def test_work_written_after_the_retraction_is_refused_at_send_time(
    worker_campaign: Campaign, store: Store, worker: Worker
) -> None:
    """A process with an older library (or a race) writes a post: the worker still skips it."""
    clock = FixedClock(START)
    runtime, channel, _ = worker(clock)
    await runtime.worker.tick()
    retract(worker_campaign, "f-0")
    await runtime.worker.tick()
    stale = create_post(
        store,
        item_id="f-0",
        lang="en",
        channels=["console"],
        due_at=clock.now(),
        created_by="cli:old",
        via="cli",
    )
    assert stale is not None
    dispatched = create_post(
        store,
        item_id="f-0",
        lang="en",
        channels=["console"],
        due_at=clock.now(),
        created_by="cli:old",
        via="cli",
        status=PostStatus.DISPATCHED,
    )
    assert dispatched is not None
    with store.sessions.begin() as session:
        write_deliveries(session, dispatched, clock.now(), DeliveryStatus.PENDING)
    await runtime.worker.tick()
    assert channel.published == []
    with store.sessions() as session:
        post = session.get(Post, stale.id)
    assert post is not None and post.status == "skipped"
    assert sorted((d.post_id, d.status) for d in list_deliveries(store)) == sorted(
        [(stale.id, "skipped"), (dispatched.id, "skipped")]
    )


async def test_a_broken_edit_keeps_the_library_and_tells_staff_once(
    worker_campaign: Campaign, store: Store, worker: Worker
) -> None:
    clock = FixedClock(START)
    runtime, _, notices = worker(clock)
    await runtime.worker.tick()
    path = worker_campaign.messages / "items.yaml"
    good = path.read_text(encoding="utf-8")
    path.write_text(good + "  - id: [broken\n", encoding="utf-8")
    await runtime.worker.tick()
    await runtime.worker.tick()
    [notice] = notices.sent
    assert notice.startswith("The message library changed but has 1 problem(s)")
    assert "f-0" in runtime.core.library.items  # the running campaign keeps its items
    path.write_text(good, encoding="utf-8")
    retract(worker_campaign, "f-0")  # fixed, and retracted: taken up at the next tick
    await runtime.worker.tick()
    assert runtime.core.library.items["f-0"].retracted
    assert len(notices.sent) == 2 and notices.sent[1].startswith("f-0 was retracted")


async def test_a_corrected_item_leaves_rotation_but_staff_can_post_its_corrected_text(
    worker_campaign: Campaign, store: Store, worker: Worker
) -> None:
    clock = FixedClock(START)
    runtime, channel, notices = worker(clock)
    core = runtime.core
    await runtime.worker.tick()
    path = worker_campaign.messages / "items.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["items"][0]["status"] = {
        "state": "corrected",
        "date": "2026-11-24",
        "note": "526, not 426.",
        "text": {lang: "Amnesty counted 526 civilians." for lang in data["items"][0]["text"]},
    }
    worker_campaign.review(data["items"][0], ["en"])
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    await runtime.worker.tick()
    [notice] = notices.sent
    assert notice.startswith("f-0 was corrected on 2026-11-24: 526, not 426. Skipped 0 in all")
    for _ in range(3):
        clock.advance(hours=1)
        await runtime.worker.tick()
    assert {p.item_id for p in channel.published} == {"f-1"}  # rotation leaves it out
    schedule_post(
        settings=core.settings,
        library=core.library,
        renderer=core.renderer,
        store=store,
        item_id="f-0",
        channels=["console"],
        lang="en",
        due_at=clock.now(),
        actor="cli:a",
        via="cli",
        now=clock.now(),
    )
    await runtime.worker.tick()
    [by_hand] = [p for p in channel.published if p.item_id == "f-0"]
    assert by_hand.text.startswith("Amnesty counted 526 civilians.")
    assert "Amnesty International" in by_hand.text  # still cited
