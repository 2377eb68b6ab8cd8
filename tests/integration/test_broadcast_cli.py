"""`campaign-bot broadcast`, `broadcasts` and `cancel-broadcast` as staff run them."""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from bot.cli import cli
from bot.store import Store
from bot.store.audience import BroadcastStatus, list_broadcasts
from tests.campaign_factory import Campaign
from tests.integration.test_fanout_support import (
    FakeProcess,
    WorkerProcess,
    add_subscribers,
    messages,
    reviewed_campaign,
    wait_for,
    worker_env,
)


@pytest.fixture
def db(campaign: Campaign, db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Store]:
    reviewed_campaign(campaign)
    monkeypatch.setenv("CAMPAIGN_CONFIG", str(campaign.config_path))
    monkeypatch.setenv("DATABASE_URL", db_url)
    store = Store(db_url)
    store.upgrade()
    add_subscribers(store, range(1, 6), language="en")
    add_subscribers(store, range(6, 8), language="ar")
    add_subscribers(store, [8], language="en", topics="justice")
    yield store
    store.close()


def run(*args: str, answer: str | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), input=answer, catch_exceptions=False)


def test_the_confirmation_shows_who_and_declining_sends_nothing(db: Store) -> None:
    result = run("broadcast", "a-share", "--topic", "acknowledge", answer="n\n")
    assert result.exit_code == 1
    assert "Broadcast a-share to 7 subscribers on #acknowledge (ar 2, en 5) at 25/s" in (
        result.stdout
    )
    assert "Send it? [y/N]" in result.stdout and "nothing sent" in result.stdout
    assert list_broadcasts(db) == []


def test_without_an_answer_nothing_is_sent_and_it_says_why(db: Store) -> None:
    result = run("broadcast", "a-share", answer="")  # stdin is not a terminal, or closed
    assert result.exit_code == 1
    assert "no answer" in result.stderr and "--yes" in result.stderr
    assert "Aborted" not in result.output
    assert list_broadcasts(db) == []


def test_yes_queues_the_broadcast_for_the_worker(db: Store) -> None:
    confirmed = run("broadcast", "a-share", "--lang", "ar", answer="y\n")
    assert confirmed.exit_code == 0, confirmed.output
    assert "to 2 subscribers (ar 2)" in confirmed.stdout
    assert "broadcast 1 queued" in confirmed.stdout

    unasked = run("broadcast", "d-acknowledge", "--yes", "--paid", "--rate", "500")
    assert unasked.exit_code == 0, unasked.output
    assert "Send it?" not in unasked.stdout
    assert "as a paid broadcast (0.1 Star per message)" in unasked.stdout
    second, first = list_broadcasts(db)
    assert (first.item_id, first.lang, first.paid, first.status) == (
        "a-share",
        "ar",
        False,
        BroadcastStatus.SELECTING,
    )
    assert (second.item_id, second.rate, second.paid) == ("d-acknowledge", 500, True)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nope"], "unknown item 'nope'"),
        (["a-share", "--topic", "cats"], "unknown topic 'cats'"),
        (["a-share", "--rate", "50"], "above 30/s needs a paid broadcast (--paid)"),
        (["a-share", "--paid", "--rate", "5000"], "at most 1000 messages/s"),
        (["a-share", "--lang", "ckb"], "no active subscriber matches"),
    ],
)
def test_a_broadcast_that_cannot_go_out_says_why(db: Store, args: list[str], message: str) -> None:
    result = run("broadcast", *args, "--yes")
    assert result.exit_code in (1, 2)
    assert message in result.stderr
    assert list_broadcasts(db) == []


def test_broadcasts_lists_progress_and_cancel_skips_the_rest(db: Store) -> None:
    run("broadcast", "a-share", "--yes")
    listed = run("broadcasts", "--json")
    [entry] = json.loads(listed.stdout)
    assert (entry["id"], entry["item"], entry["status"], entry["rate"]) == (
        1,
        "a-share",
        "selecting",
        25,
    )

    cancelled = run("cancel-broadcast", "1")
    assert cancelled.exit_code == 0, cancelled.output
    assert "Broadcast 1 a-share: cancelled" in cancelled.stdout
    again = run("cancel-broadcast", "1")
    assert again.exit_code == 2 and "is cancelled already" in again.stderr
    missing = run("cancel-broadcast", "99")
    assert missing.exit_code == 2 and "no broadcast with id 99" in missing.stderr
    assert "1 broadcasts" in run("broadcasts").stdout


@pytest.mark.slow
def test_wait_follows_the_worker_until_everyone_is_final(
    db: Store, campaign: Campaign, db_url: str, tmp_path: Path
) -> None:
    fake = FakeProcess("--latency-ms", "20")
    worker = WorkerProcess(worker_env(campaign, db_url, fake.root), tmp_path / "worker.log")
    try:
        wait_for(worker.running, 30, "the worker to start")
        result = run("broadcast", "a-share", "--yes", "--wait", "--paid", "--rate", "200")
        assert result.exit_code == 0, result.output
        assert "broadcast 1" in result.stdout  # the progress bar's label
        assert result.stdout.rstrip().endswith("Broadcast 1 a-share: done, 8/8 sent at 200/s paid")
        assert fake.per_chat() == dict.fromkeys(range(1, 9), 1)
        assert {m.status for m in messages(db, 1)} == {"sent"}
    finally:
        code = worker.stop(signal.SIGTERM)
        fake.close()
    assert code == 0, worker.output()
