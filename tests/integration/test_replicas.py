"""Replicas on a fake clock, on SQLite and PostgreSQL: heartbeats, takeover, fencing, duties."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert, select

from bot.clock import FixedClock
from bot.delivery.replicas import PACER, POLLER, Replica, ReplicaOptions
from bot.store import Delivery, DeliveryStatus, Message, Post, Store
from bot.store.posts import claim_delivery, recover_interrupted
from bot.store.private_outbox import recover_sending, write_round
from bot.store.replicas import (
    Renewal,
    duty_holder,
    live_processes,
    reap,
    register,
    renew,
    take_duty,
)

START = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
OPTIONS = ReplicaOptions(lease=15.0, beat=2.0)


class Ticker:
    """A monotonic clock that moves with the fake wall clock."""

    def __init__(self, clock: FixedClock) -> None:
        self.clock = clock

    def __call__(self) -> float:
        return (self.clock.now() - START).total_seconds()


class Notices:
    def __init__(self) -> None:
        self.lines: list[str] = []

    async def notify_staff(self, text: str) -> None:
        self.lines.append(text)


def replica(
    store: Store, clock: FixedClock, name: str, notices: Notices, duties: tuple[str, ...] = ()
) -> Replica:
    return Replica(
        store,
        clock,
        notices,
        duties=duties,
        options=OPTIONS,
        identity=name,
        monotonic=Ticker(clock),
    )


async def settle(*replicas: Replica) -> None:
    """Wait for the takeover passes and staff notices the last ticks started."""
    for one in replicas:
        if one._takeover is not None:
            await one._takeover
        for task in list(one._notices):
            await task


def add_rows(store: Store, count: int) -> tuple[list[int], list[int]]:
    """One post with ``count`` pending deliveries, and ``count`` pending reminder messages."""
    with store.sessions.begin() as session:
        post = Post(
            item_id="f",
            lang="en",
            channels="x",
            due_at=START,
            created_by="t",
            created_at=START,
            updated_at=START,
        )
        session.add(post)
        session.flush()
        common = {"status": DeliveryStatus.PENDING, "created_at": START, "updated_at": START}
        deliveries = session.scalars(
            insert(Delivery).returning(Delivery.id),
            [
                {
                    "post_id": post.id,
                    "channel": f"c{i}",
                    "item_id": "f",
                    "lang": "en",
                    "idempotency_key": f"d{i}",
                    "next_attempt_at": START,
                    **common,
                }
                for i in range(count)
            ],
        ).all()
        messages = session.scalars(
            insert(Message).returning(Message.id),
            [
                {
                    "idempotency_key": f"m{i}",
                    "kind": "reminder",
                    "chat_id": 100 + i,
                    "item_id": "f",
                    "lang": "en",
                    "next_attempt_at": START,
                    **common,
                }
                for i in range(count)
            ],
        ).all()
    return list(deliveries), list(messages)


def statuses(store: Store) -> tuple[dict[int, str], dict[int, str]]:
    with store.sessions() as session:
        deliveries = {i: s for i, s in session.execute(select(Delivery.id, Delivery.status))}
        messages = {i: s for i, s in session.execute(select(Message.id, Message.status))}
    return deliveries, messages


def claim(store: Store, who: Replica, delivery: int, message: int) -> tuple[bool, set[int]]:
    now = who.clock.now()
    took = claim_delivery(store, delivery, "text", now, who.identity, who.alive_since())
    taken = write_round(store, [message], [], now, who.identity, who.alive_since())
    return took, taken


async def recover_all(store: Store, who: Replica, notices: Notices) -> None:
    """What the worker registers as takeovers: both outboxes, staff told once per row."""

    async def deliveries(horizon: datetime | None) -> int:
        rows = recover_interrupted(store, horizon)
        for row in rows:
            await notices.notify_staff(f"delivery {row.id} uncertain")
        return len(rows)

    async def messages(horizon: datetime | None) -> int:
        counts = recover_sending(store, who.clock.now(), horizon)
        if counts:
            await notices.notify_staff(f"{sum(counts.values())} messages uncertain")
        return sum(counts.values())

    who.takeovers.extend([deliveries, messages])


async def test_only_a_silent_owners_rows_become_uncertain_and_staff_hear_once(
    store: Store,
) -> None:
    clock = FixedClock(START)
    notices = Notices()
    a, b = replica(store, clock, "a", notices), replica(store, clock, "b", notices)
    await recover_all(store, b, notices)
    await a.start()
    await b.start()
    (d1, d2), (m1, m2) = add_rows(store, 2)
    assert claim(store, a, d1, m1) == (True, {m1})
    assert claim(store, b, d2, m2) == (True, {m2})

    for _ in range(7):  # 14 s: both beat, nobody is silent
        clock.advance(seconds=2)
        await a.tick()
        await b.tick()
        await settle(a, b)
    assert statuses(store) == ({d1: "sending", d2: "sending"}, {m1: "sending", m2: "sending"})
    assert notices.lines == []

    for _ in range(8):  # a stops beating (killed); 16 s later b takes its rows over
        clock.advance(seconds=2)
        await b.tick()
        await settle(b)
    assert statuses(store) == ({d1: "uncertain", d2: "sending"}, {m1: "uncertain", m2: "sending"})
    assert notices.lines == [f"delivery {d1} uncertain", "1 messages uncertain"]
    assert [p.id for p in live_processes(store, b.silent_since() or START)] == ["b"]

    clock.advance(seconds=2)
    await b.tick()
    await settle(b)
    assert len(notices.lines) == 2  # told once


async def test_a_process_that_wakes_after_its_lease_claims_nothing_until_it_rejoins(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FixedClock(START)
    notices = Notices()
    a, b = replica(store, clock, "a", notices), replica(store, clock, "b", notices)
    await recover_all(store, b, notices)
    await a.start()
    await b.start()
    (d1, d2, d3), (m1, m2, m3) = add_rows(store, 3)
    assert claim(store, a, d1, m1) == (True, {m1})

    for _ in range(9):  # a is frozen (SIGSTOP) for 18 s
        clock.advance(seconds=2)
        await b.tick()
        await settle(b)
    assert statuses(store)[0][d1] == "uncertain"
    # a wakes: before its next heartbeat it knows its lease ran out, and the database agrees
    assert not a.may_send()
    assert claim(store, a, d2, m2) == (False, set())
    with caplog.at_level(logging.WARNING, logger="bot.delivery.replicas"):
        await a.tick()
    assert "was silent for 18 s and lost its lease" in caplog.text
    assert a.may_send()
    assert claim(store, a, d2, m2) == (True, {m2})  # registered again: sends again
    assert {p.id for p in live_processes(store, a.silent_since() or START)} == {"a", "b"}
    # b does not take over the rejoined process's new rows
    clock.advance(seconds=2)
    await a.tick()
    await b.tick()
    await settle(a, b)
    assert statuses(store) == (
        {d1: "uncertain", d2: "sending", d3: "pending"},
        {m1: "uncertain", m2: "sending", m3: "pending"},
    )


async def test_rows_of_no_owner_are_recovered_at_once_and_a_clean_stop_leaves_nothing(
    store: Store,
) -> None:
    clock = FixedClock(START)
    notices = Notices()
    a = replica(store, clock, "a", notices, duties=(PACER,))
    (d1,), (m1,) = add_rows(store, 1)
    # Rows left sending by a version without owners (or a crash before registering).
    claim_delivery(store, d1, "text", START)
    write_round(store, [m1], [], START)
    await recover_all(store, a, notices)
    await a.start()
    await a.take_over(clock.now())
    assert statuses(store) == ({d1: "uncertain"}, {m1: "uncertain"})
    assert duty_holder(store, PACER, clock.now()) == ("a", 1)
    await a.stop()
    assert live_processes(store, START - timedelta(days=1)) == []
    # Released: the next process takes it once a poll a stopped poller left open has ended.
    assert duty_holder(store, PACER, clock.now()) == ("a", 1)
    clock.advance(seconds=6)
    assert duty_holder(store, PACER, clock.now()) is None


async def test_on_sqlite_a_starting_process_recovers_its_crashed_predecessor_at_once(
    store: Store,
) -> None:
    clock = FixedClock(START)
    notices = Notices()
    crashed = replica(store, clock, "crashed", notices)
    await crashed.start()
    (d1,), (m1,) = add_rows(store, 1)
    assert claim(store, crashed, d1, m1) == (True, {m1})
    clock.advance(seconds=1)  # SIGKILL, and the supervisor starts `run` again a second later
    again = replica(store, clock, "again", notices)
    await recover_all(store, again, notices)
    await again.start(alone=True)  # the lock file says nobody else runs on this file
    await again.take_over(clock.now())
    assert statuses(store) == ({d1: "uncertain"}, {m1: "uncertain"})
    assert [p.id for p in live_processes(store, START)] == ["again"]


async def test_a_duty_has_one_holder_and_passes_on_when_it_falls_silent(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FixedClock(START)
    notices = Notices()
    duties = (POLLER, PACER)
    a = replica(store, clock, "a", notices, duties)
    b = replica(store, clock, "b", notices, duties)
    await a.start()
    await b.start()
    assert a.holds(POLLER) and a.holds(PACER)
    assert not b.holds(POLLER) and not b.holds(PACER)
    clock.advance(seconds=2)
    await a.tick()
    # A poll of 10 s fits the duty's lease (12 s) renewed now, less the margin; 11 s does not.
    assert a.holds(POLLER, for_seconds=10) and not a.holds(POLLER, for_seconds=11)
    token = a.held[POLLER][1]

    for _ in range(5):  # a freezes after renewing at +2 s; until +12 s the duty stays its own
        clock.advance(seconds=2)
        await b.tick()
        await settle(b)
        assert not b.holds(POLLER)
    assert a.holds(POLLER)
    clock.advance(seconds=1)  # +13 s: a no longer counts as holder, a second before b may
    assert not a.holds(POLLER) and not a.holds(PACER)
    with caplog.at_level(logging.WARNING, logger="bot.delivery.replicas"):
        clock.advance(seconds=1)
        await b.tick()
        await settle(b)
    assert b.holds(POLLER) and b.holds(PACER)
    assert b.held[POLLER][1] == token + 1  # the fencing token moved on
    assert "took over the poller duty from a (12.0 s after its last renewal" in caplog.text
    assert len([line for line in notices.lines if line.startswith("Replica change")]) == 2

    # a wakes. Before its next heartbeat the database refuses its claims under its old token.
    _, (m1, m2) = add_rows(store, 2)
    now = clock.now()
    stale = a.held[PACER][1]
    assert write_round(store, [m1], [], now, "a", None, (PACER, stale)) == set()
    assert write_round(store, [m1], [], now, "b", None, (PACER, b.token(PACER) or 0)) == {m1}
    await a.tick()  # it learns it lost both duties, and does not take them back
    assert not a.holds(POLLER) and not a.holds(PACER)
    assert duty_holder(store, POLLER, clock.now()) == ("b", token + 1)
    assert a.token(PACER) == 0
    assert write_round(store, [m2], [], now, "a", a.alive_since(), (PACER, 0)) == set()


async def test_take_duty_is_a_compare_and_set(store: Store) -> None:
    lease = timedelta(seconds=15)
    first = take_duty(store, PACER, "a", START, lease)
    assert first is not None and first.token == 1 and first.taken_from is None
    assert take_duty(store, PACER, "b", START + timedelta(seconds=14), lease) is None
    renewed = take_duty(store, PACER, "a", START + timedelta(seconds=14), lease)
    assert renewed is not None and renewed.token == 1 and not renewed.new
    taken = take_duty(store, PACER, "b", START + timedelta(seconds=30), lease)
    assert taken is not None and taken.token == 2 and taken.taken_from == "a"
    assert taken.silent_for == timedelta(seconds=16)
    assert take_duty(store, PACER, "a", START + timedelta(seconds=31), lease) is None


async def test_a_database_outage_stops_claims_and_delays_judging_others(
    store: Store, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FixedClock(START)
    notices = Notices()
    a, b = replica(store, clock, "a", notices), replica(store, clock, "b", notices)
    await recover_all(store, b, notices)
    await a.start()
    await b.start()
    (d1,), (m1,) = add_rows(store, 1)
    assert claim(store, a, d1, m1) == (True, {m1})

    def unreachable(*args: object) -> tuple[bool, set[str]]:
        raise OSError("connection refused")

    monkeypatch.setattr("bot.delivery.replicas.renew", unreachable)
    with caplog.at_level(logging.WARNING, logger="bot.delivery.replicas"):
        for _ in range(10):  # 20 s without a database for anyone
            clock.advance(seconds=2)
            await a.tick()
            await b.tick()
        assert not a.may_send() and not b.may_send()
        monkeypatch.undo()
        clock.advance(seconds=2)
        await a.tick()
        await b.tick()
        await settle(a, b)
    # One line when it began and one when it ended, per process.
    assert caplog.text.count("database unreachable") == 2
    assert caplog.text.count("database reachable again after 20 s") == 2
    # Every heartbeat is old after an outage: b waits a lease before judging a.
    assert statuses(store) == ({d1: "sending"}, {m1: "sending"})
    assert a.may_send() and b.may_send()


async def test_rows_a_reaper_left_unrecovered_are_recovered_within_the_recovery_period(
    store: Store,
) -> None:
    """b removes the silent a and dies before recovering a's rows; c, finding nobody silent
    on its own passes, still looks for such rows every RECOVER_EVERY, not at every beat."""
    clock = FixedClock(START)
    notices = Notices()
    a, c = replica(store, clock, "a", notices), replica(store, clock, "c", notices)
    passes: list[datetime | None] = []
    await recover_all(store, c, notices)
    recover_messages = c.takeovers[1]

    async def counted(horizon: datetime | None) -> int:
        passes.append(horizon)
        return await recover_messages(horizon)

    c.takeovers[1] = counted
    await a.start()
    await c.start()
    (d1,), (m1,) = add_rows(store, 1)
    assert claim(store, a, d1, m1) == (True, {m1})
    for _ in range(8):  # 16 s: c's first pass after a lease of health recovers (nothing yet)
        clock.advance(seconds=2)
        await a.tick()
        await c.tick()
        await settle(c)
    assert len(passes) == 1
    # a dies; b (not modelled further) removes it 16 s later and dies before recovering
    clock.advance(seconds=16)
    reap(store, clock.now() - timedelta(seconds=15))
    assert statuses(store) == ({d1: "sending"}, {m1: "sending"})
    for _ in range(10):  # 20 s of c's heartbeats: its own passes find nobody to remove
        clock.advance(seconds=2)
        await c.tick()
        await settle(c)
    assert statuses(store) == ({d1: "uncertain"}, {m1: "uncertain"})
    assert len(passes) == 2  # one more pass in 36 s, not one per beat
    assert notices.lines == [f"delivery {d1} uncertain", "1 messages uncertain"]


async def test_alone_a_process_holds_its_duties_without_beating_or_fencing(
    store: Store,
) -> None:
    """SQLite: the lock file makes the process the only one; nobody can take its rows or
    duties, so it registers and takes them once, and never beats nor fences its claims."""
    clock = FixedClock(START)
    notices = Notices()
    only = replica(store, clock, "only", notices, duties=(POLLER, PACER))
    await only.start(alone=True)
    only.launch()
    assert only._task is None  # no heartbeat
    clock.advance(seconds=3600)  # an hour on: leases would have run out many times
    assert only.may_send() and only.holds(POLLER, for_seconds=6) and only.holds(PACER)
    assert only.alive_since() is None and only.token(PACER) is None  # claims unfenced
    (d1,), (m1,) = add_rows(store, 1)
    assert claim(store, only, d1, m1) == (True, {m1})
    await only.tick()  # a heartbeat (only tests beat by hand): the duties' leases renewed
    # SIGKILL; the next process starts a second later, within the duties' leases: it forgets
    # the dead one, takes its duties at once and recovers its rows.
    clock.advance(seconds=1)
    again = replica(store, clock, "again", notices, duties=(POLLER, PACER))
    await recover_all(store, again, notices)
    await again.start(alone=True)
    await again.take_over(clock.now())
    assert statuses(store) == ({d1: "uncertain"}, {m1: "uncertain"})
    assert again.holds(POLLER) and again.holds(PACER)
    assert duty_holder(store, PACER, clock.now()) == ("again", 2)
    assert not [line for line in notices.lines if line.startswith("Replica change")]
    await again.stop()
    assert not again.may_send()


async def test_renew_is_one_heartbeat_and_a_compare_and_set_of_the_duties_held(
    store: Store,
) -> None:
    lease = timedelta(seconds=12)
    register(store, "a", "host", 1, START)
    assert take_duty(store, PACER, "a", START, lease) is not None
    assert take_duty(store, POLLER, "a", START, lease) is not None
    later = START + timedelta(seconds=2)
    both = renew(store, "a", later, {PACER: 1, POLLER: 1}, lease)
    assert both == Renewal(True, frozenset({PACER, POLLER}))
    assert renew(store, "a", later, {PACER: 7}, lease) == Renewal(True)  # a stale token
    # Expired and taken over: not renewed (take_duty tells who has it now)
    gone = START + timedelta(seconds=20)
    assert take_duty(store, POLLER, "b", gone, lease) is not None
    assert renew(store, "a", gone, {PACER: 1, POLLER: 1}, lease) == Renewal(True)
    assert renew(store, "nobody", gone, {PACER: 1}, lease) == Renewal(False)
    # With a horizon it also removes the processes silent since then, in the same transaction.
    register(store, "silent", "host", 2, START)
    swept = renew(store, "a", gone, {}, lease, reap_before=gone - timedelta(seconds=15))
    assert swept == Renewal(True, reaped=(("silent", START),))
    assert [p.id for p in live_processes(store, START)] == ["a"]
