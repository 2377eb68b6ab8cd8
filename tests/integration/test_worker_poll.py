"""The posting worker's poll: a full round only when a post or delivery is due, or now and then."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import insert, select, update

from bot.clock import Clock
from bot.schedule.worker import (
    DUE_AGAIN_SECONDS,
    FULL_TICK_SECONDS,
    POLL_SECONDS,
    Worker,
    poll_wait,
)
from bot.store import Store
from bot.store.due import next_posting_work
from bot.store.models import Delivery, Post
from bot.store.posts import create_post


@dataclass
class FixedClock:
    at: datetime

    def now(self) -> datetime:
        return self.at


@dataclass
class OutboxStub:
    """What the poll reads from the outbox: its store, clock and held channels."""

    store: Store
    clock: Clock
    held: dict[str, str] = field(default_factory=dict)


class CountingWorker(Worker):
    """Counts full rounds instead of running them (the outbox tests cover the round)."""

    def __init__(self, outbox: Any) -> None:
        super().__init__(None, None, outbox)  # type: ignore[arg-type]
        self.ticks = 0

    async def tick(self, *, hooks: bool = True) -> None:
        self._full_tick_at = asyncio.get_running_loop().time()
        self.ticks += 1


def schedule_post(store: Store, due: datetime) -> None:
    with store.engine.begin() as connection:
        connection.execute(
            insert(Post.__table__).values(  # type: ignore[arg-type]
                item_id="a-share",
                lang="en",
                channels="telegram",
                status="scheduled",
                due_at=due,
                created_at=due,
                updated_at=due,
                created_by="test",
                needs_approval=False,
            )
        )


async def test_the_poll_runs_a_round_only_when_a_post_is_due(store: Store) -> None:
    now = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
    worker = CountingWorker(OutboxStub(store, FixedClock(now)))
    looks: list[int] = []

    async def library_check() -> None:  # the library reload: a retraction counts at once
        looks.append(1)

    worker.before_tick.append(library_check)
    await worker.poll()  # the first poll: no round yet, so one now
    assert worker.ticks == 1
    for _ in range(5):
        await worker.poll()
    assert worker.ticks == 1  # nothing due: one small query each, no round
    assert len(looks) == 5  # but the library is looked at every time

    schedule_post(store, now + timedelta(minutes=5))
    await worker.poll()
    assert worker.ticks == 1  # not due yet
    worker.outbox.clock = FixedClock(now + timedelta(minutes=5))
    await worker.poll()
    assert worker.ticks == 2  # due: a full round at once

    worker._full_tick_at -= FULL_TICK_SECONDS  # long ago
    worker.outbox.clock = FixedClock(now)
    await worker.poll()
    assert worker.ticks == 3  # a round at least every FULL_TICK_SECONDS anyway


async def test_a_delivery_on_a_held_channel_makes_no_round_until_the_hold_ends(
    store: Store,
) -> None:
    now = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
    worker = CountingWorker(OutboxStub(store, FixedClock(now)))
    await worker.poll()  # the first poll: a round
    schedule_post(store, now - timedelta(minutes=1))
    with store.engine.begin() as connection:
        post_id = connection.execute(select(Post.__table__.c.id)).scalar_one()
        connection.execute(
            update(Post.__table__).values(status="dispatched")  # its delivery is written
        )
        connection.execute(
            insert(Delivery.__table__).values(  # type: ignore[arg-type]
                post_id=post_id,
                channel="telegram",
                account="",
                item_id="a-share",
                lang="en",
                idempotency_key="held-1",
                status="pending",
                attempts=0,
                next_attempt_at=now,
                created_at=now,
                updated_at=now,
            )
        )
    worker.outbox.held["telegram"] = "Telegram is unreachable"
    for _ in range(3):
        await worker.poll()
    assert worker.ticks == 1  # the outbox would not send it: no round for it
    worker.outbox.held.clear()
    await worker.poll()
    assert worker.ticks == 2  # the hold ended: a round at once


async def test_while_nothing_is_committed_the_poll_skips_its_query(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
    worker = CountingWorker(OutboxStub(store, FixedClock(now)))
    queries: list[object] = []

    def counted(*args: Any) -> datetime | None:
        queries.append(args)
        return next_posting_work(*args)

    monkeypatch.setattr("bot.schedule.worker.next_posting_work", counted)
    await worker.poll()
    first = len(queries)
    for _ in range(5):
        await worker.poll()
    # SQLite says nothing was committed: no query. PostgreSQL cannot say: one a poll.
    sqlite = store.engine.dialect.name == "sqlite"
    assert len(queries) == first + (0 if sqlite else 5)

    worker.outbox.held["telegram"] = "Telegram is unreachable"  # changes the answer
    await worker.poll()
    assert len(queries) == first + (1 if sqlite else 6)

    schedule_post(store, now - timedelta(minutes=1))  # committed elsewhere (the CLI)
    await worker.poll()
    assert worker.ticks == 2  # found at the next poll, and due: a round


def test_the_poll_waits_for_the_next_due_work_at_most_poll_seconds() -> None:
    now = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
    assert poll_wait(None, now) == POLL_SECONDS  # nothing known: other processes' work
    assert poll_wait(now + timedelta(seconds=1.5), now) == 1.5  # wakes when it falls due
    assert poll_wait(now + timedelta(hours=1), now) == POLL_SECONDS
    # Due already, still there after its round (failing, held): looked at again soon, not
    # in a busy loop.
    assert poll_wait(now, now) == DUE_AGAIN_SECONDS
    assert poll_wait(now - timedelta(minutes=5), now) == DUE_AGAIN_SECONDS


class PollingWorker(CountingWorker):
    """Counts polls too, and runs the poll loop without the scheduler."""

    def __init__(self, outbox: Any) -> None:
        super().__init__(outbox)
        self.polls = asyncio.Queue[None]()

    async def poll(self) -> None:
        await super().poll()
        self.polls.put_nowait(None)


async def test_a_post_made_in_this_process_wakes_the_poll_at_once(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    # With the poll an hour apart, only the post's commit can wake it within the test.
    monkeypatch.setattr("bot.schedule.worker.POLL_SECONDS", 3600.0)
    now = datetime.now(UTC)
    worker = PollingWorker(OutboxStub(store, FixedClock(now)))
    await worker.poll()
    await worker.polls.get()
    worker._loop = asyncio.get_running_loop()
    store.watch(worker.poke)
    loop_task = asyncio.create_task(worker._poll_forever())
    try:
        create_post(
            store,
            item_id="a-share",
            lang="en",
            channels=["telegram"],
            due_at=now + timedelta(hours=1),
            created_by="staff",
            via="test",
        )
        await asyncio.wait_for(worker.polls.get(), timeout=60)
        assert worker.next_due == now + timedelta(hours=1)
    finally:
        loop_task.cancel()
        await asyncio.gather(loop_task, return_exceptions=True)
        store.unwatch(worker.poke)
