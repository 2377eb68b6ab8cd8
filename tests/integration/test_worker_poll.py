"""The posting worker's poll: a full round only when a post or delivery is due, or now and then."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert, select, update

from bot.clock import Clock
from bot.schedule.worker import FULL_TICK_SECONDS, Worker
from bot.store import Store
from bot.store.models import Delivery, Post


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
