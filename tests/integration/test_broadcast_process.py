"""Resumability: SIGKILL the worker in the middle of a broadcast, restart it, count deliveries."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from bot.clock import SystemClock
from bot.delivery.broadcasts import plan_broadcast, progress, start_broadcast
from bot.delivery.fanout import FanOutOptions
from bot.store import DeliveryStatus, Store
from tests.campaign_factory import Campaign
from tests.integration.test_fanout_support import (
    FakeProcess,
    WorkerProcess,
    add_subscribers,
    make_core,
    messages,
    reviewed_campaign,
    wait_for,
    worker_env,
)

pytestmark = pytest.mark.slow

RECIPIENTS = 2000
RATE = 500  # messages/s: 4 s for everyone, with 100 ms per request (50 in flight)


def test_sigkill_mid_broadcast_then_restart_reaches_everyone_and_nobody_twice(
    campaign: Campaign, db_url: str, tmp_path: Path
) -> None:
    reviewed_campaign(campaign)
    store = Store(db_url)
    store.upgrade()
    chats = add_subscribers(store, range(1000, 1000 + RECIPIENTS))
    fake = FakeProcess("--latency-ms", "100")
    env = worker_env(campaign, db_url, fake.root)
    log = tmp_path / "worker.log"
    try:
        first = WorkerProcess(env, log)
        wait_for(first.running, 30, "the worker to start")
        core = make_core(campaign, store)
        plan = plan_broadcast(core.settings, core.library, store, "a-share", paid=True, rate=RATE)
        broadcast = start_broadcast(store, plan, "cli:test", "cli", SystemClock().now()).id

        wait_for(lambda: fake.stats()["delivered"] >= RECIPIENTS // 3, 30, "a third sent")
        assert first.stop(signal.SIGKILL) == -signal.SIGKILL
        at_kill = {row.chat_id: row.status for row in messages(store, broadcast)}
        in_flight = {chat for chat, status in at_kill.items() if status == "sending"}
        assert "sent" in at_kill.values() and "pending" in at_kill.values()
        assert len(in_flight) <= FanOutOptions().concurrency

        second = WorkerProcess(env, log)
        wait_for(lambda: progress(store, broadcast).complete, 60, "the broadcast to finish")
        assert second.stop(signal.SIGTERM) == 0
        delivered = fake.per_chat()
    finally:
        fake.close()

    rows = {row.chat_id: row for row in messages(store, broadcast)}
    assert sorted(rows) == chats
    statuses = {chat: row.status for chat, row in rows.items()}
    assert set(statuses.values()) <= {DeliveryStatus.SENT, DeliveryStatus.UNCERTAIN}
    uncertain = {chat for chat, status in statuses.items() if status == "uncertain"}
    # Only the requests in flight at the kill are uncertain; they are never sent again.
    assert uncertain == in_flight
    assert all("worker stopped" in (rows[chat].error or "") for chat in uncertain)
    assert max(delivered.values()) == 1  # nobody got it twice
    sent = {chat for chat, status in statuses.items() if status == "sent"}
    assert sent <= set(delivered) <= sent | uncertain  # nobody skipped
    assert progress(store, broadcast).broadcast.status == "done"
    notice = f"{len(uncertain)} private messages were being sent when the bot stopped"
    assert (notice in log.read_text()) == bool(uncertain)  # staff are told
    store.close()
