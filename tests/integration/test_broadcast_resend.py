"""`campaign-bot broadcast resend-uncertain ID`: re-send a broadcast's uncertain recipients."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import update

from bot.cli import cli
from bot.delivery.broadcasts import progress
from bot.store import AuditEntry, DeliveryStatus, Store
from bot.store.audience import BroadcastStatus, get_broadcast, materialize_batch
from bot.store.private_outbox import MESSAGES
from tests.campaign_factory import Campaign
from tests.fakes.telegram_api import FakeBotAPI
from tests.fakes.telegram_fixtures import (  # noqa: F401 (fixtures by name)
    fake_api_fixture,
    ptb_timedelta_fixture,
)
from tests.integration.test_fanout_support import (
    add_subscribers,
    messages,
    reviewed_campaign,
    running_harness,
)

UNCERTAIN = {2, 4}


@pytest.fixture
def db(campaign: Campaign, db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Store]:
    reviewed_campaign(campaign)
    monkeypatch.setenv("CAMPAIGN_CONFIG", str(campaign.config_path))
    monkeypatch.setenv("DATABASE_URL", db_url)
    store = Store(db_url)
    store.upgrade()
    add_subscribers(store, range(1, 6))
    yield store
    store.close()


def run(*args: str, answer: str | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), input=answer, catch_exceptions=False)


def finished_with_uncertain(store: Store) -> int:
    """A broadcast to chats 1-5 that ended: 2 and 4 uncertain, the others sent."""
    assert run("broadcast", "a-share", "--yes").exit_code == 0
    broadcast_id = 1
    now = datetime.now(UTC)
    while not materialize_batch(store, broadcast_id, ["en"], 100, now)[1]:
        pass
    with store.engine.begin() as connection:
        for chat in range(1, 6):
            status = DeliveryStatus.UNCERTAIN if chat in UNCERTAIN else DeliveryStatus.SENT
            connection.execute(
                update(MESSAGES)
                .where(MESSAGES.c.chat_id == chat)
                .values(status=status, attempts=1, error="timed out after sending")
            )
        connection.execute(
            update(get_broadcast(store, broadcast_id).__table__).values(  # type: ignore[arg-type]
                status=BroadcastStatus.DONE, finished_at=now
            )
        )
    return broadcast_id


def statuses(store: Store) -> dict[int, str]:
    return {row.chat_id: row.status for row in messages(store, 1)}


def test_declining_changes_nothing_and_yes_queues_only_the_uncertain(db: Store) -> None:
    broadcast_id = finished_with_uncertain(db)
    before = statuses(db)

    declined = run("broadcast", "resend-uncertain", str(broadcast_id), answer="n\n")
    assert declined.exit_code == 1
    assert "Broadcast 1: 2 uncertain recipients" in declined.stdout
    assert "get it twice" in declined.stdout and "Re-send to them?" in declined.stdout
    assert statuses(db) == before
    unanswered = run("broadcast", "resend-uncertain", str(broadcast_id))
    assert unanswered.exit_code == 1 and "pass --yes" in unanswered.stderr
    assert statuses(db) == before

    done = run("broadcast", "resend-uncertain", str(broadcast_id), "--yes")
    assert done.exit_code == 0, done.output
    assert "2 recipients queued again" in done.stdout
    after = statuses(db)
    assert {chat for chat, status in after.items() if status == "pending"} == UNCERTAIN
    assert {chat for chat, status in after.items() if status == "sent"} == {1, 3, 5}
    broadcast = get_broadcast(db, broadcast_id)
    assert broadcast.status == BroadcastStatus.SENDING and broadcast.finished_at is None
    with db.sessions() as session:
        actions = [entry.action for entry in session.query(AuditEntry)]
    assert "resend-uncertain" in actions

    again = run("broadcast", "resend-uncertain", str(broadcast_id), "--yes")
    assert again.exit_code == 1 and "no uncertain recipients" in again.stderr


def test_an_unknown_or_cancelled_broadcast_is_refused(db: Store) -> None:
    missing = run("broadcast", "resend-uncertain", "99", "--yes")
    assert missing.exit_code == 2 and "no broadcast with id 99" in missing.stderr
    broadcast_id = finished_with_uncertain(db)
    with db.engine.begin() as connection:
        connection.execute(
            update(get_broadcast(db, broadcast_id).__table__).values(  # type: ignore[arg-type]
                status=BroadcastStatus.CANCELLED
            )
        )
    cancelled = run("broadcast", "resend-uncertain", str(broadcast_id), "--yes")
    assert cancelled.exit_code == 2 and "was cancelled" in cancelled.stderr
    assert {c for c, s in statuses(db).items() if s == "uncertain"} == UNCERTAIN


def test_sending_an_item_still_works_without_the_send_word(db: Store) -> None:
    result = run("broadcast", "a-share", "--yes")
    assert result.exit_code == 0 and "broadcast 1 queued" in result.stdout


async def test_the_running_worker_sends_the_requeued_recipients_once_more(
    db: Store, campaign: Campaign, fake_api: FakeBotAPI
) -> None:
    broadcast_id = finished_with_uncertain(db)
    async with running_harness(campaign, db, fake_api) as harness:
        result = run("broadcast", "resend-uncertain", str(broadcast_id), "--yes")
        assert result.exit_code == 0, result.output
        await harness.finished(broadcast_id)
    assert fake_api.per_chat_delivered == dict.fromkeys(UNCERTAIN, 1)
    assert set(statuses(db).values()) == {"sent"}
    assert progress(db, broadcast_id).broadcast.status == BroadcastStatus.DONE
