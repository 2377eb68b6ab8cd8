"""A real worker killed (SIGKILL) while a correction is in flight never replies twice."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from bot.cli import cli
from bot.clock import SystemClock
from bot.store import Store
from bot.store.posts import create_post, list_deliveries
from tests.campaign_factory import Campaign, finding
from tests.fakes.mastodon_api import FakeMastodon
from tests.integration.test_worker_process import (  # noqa: F401 (fixtures by name)
    WorkerProcess,
    wait_until,
    worker_env,
)

pytestmark = pytest.mark.slow
STATUSES = "/api/v1/statuses"


@pytest.fixture
def mastodon() -> Iterator[FakeMastodon]:
    with FakeMastodon() as fake:
        yield fake


@pytest.fixture
def env(
    campaign: Campaign,
    db_url: str,
    mastodon: FakeMastodon,
    monkeypatch: pytest.MonkeyPatch,
    worker_env: dict[str, str],  # noqa: F811 (the imported fixture)
) -> dict[str, str]:
    campaign.write_items("items.yaml", [finding("f-0"), finding("f-1")])
    data = campaign.config()
    data["channels"] = {"mastodon": {}}
    data["schedule"]["rules"] = []
    campaign.write_config(data)
    settings = {
        "CAMPAIGN_CONFIG": str(campaign.config_path),
        "DATABASE_URL": db_url,
        "MASTODON_API_BASE_URL": mastodon.base_url,
        "MASTODON_ACCESS_TOKEN": mastodon.token,
    }
    for name, value in settings.items():
        monkeypatch.setenv(name, value)  # for the commands run in this process
    return {**worker_env, **settings}


def post_now(store: Store, item_id: str) -> int:
    post = create_post(
        store,
        item_id=item_id,
        lang="en",
        channels=["mastodon"],
        due_at=SystemClock().now() - timedelta(seconds=1),
        created_by="cli:test",
        via="cli",
    )
    assert post is not None
    return post.id


def status_of(store: Store, post_id: int) -> str | None:
    rows = [d for d in list_deliveries(store) if d.post_id == post_id]
    return rows[0].status if rows else None


def correction_status(store: Store) -> str | None:
    rows = [d for d in list_deliveries(store) if d.corrects_id is not None]
    return rows[0].status if rows else None


def test_sigkill_mid_correction_leaves_it_uncertain_and_never_sent_again(
    env: dict[str, str],
    campaign: Campaign,
    mastodon: FakeMastodon,
    db_url: str,
    tmp_path: Path,
) -> None:
    store = Store(db_url)
    store.upgrade()
    log = tmp_path / "worker.log"
    first = WorkerProcess(env, log)
    original = post_now(store, "f-0")
    wait_until(lambda: status_of(store, original) == "sent", 30, "the original post")

    path = campaign.messages / "items.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["items"][0]["status"] = {
        "state": "retracted",
        "date": "2026-11-24",
        "reason": {lang: "We could not confirm it." for lang in data["items"][0]["text"]},
    }
    campaign.review(data["items"][0], ["en"])
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    wait_until(lambda: "f-0 was retracted on 2026-11-24" in log.read_text(), 30, "the notice")

    mastodon.hang("POST", STATUSES)  # the reply leaves, and no answer ever comes
    queued = CliRunner().invoke(cli, ["correct", "f-0", "--yes"], catch_exceptions=False)
    assert queued.exit_code == 0, queued.output
    wait_until(lambda: len(mastodon.calls("POST", STATUSES)) == 2, 30, "the reply request")
    assert correction_status(store) == "sending"
    assert first.stop(signal.SIGKILL) == -signal.SIGKILL

    second = WorkerProcess(env, log)
    wait_until(lambda: correction_status(store) == "uncertain", 30, "the recovery")
    later = post_now(store, "f-1")  # proof the restarted worker sends: it ticked past
    wait_until(lambda: status_of(store, later) == "sent", 30, "a later post")
    again = CliRunner().invoke(cli, ["correct", "f-0", "--yes"], catch_exceptions=False)
    assert second.stop(signal.SIGTERM) == 0

    assert again.exit_code == 0, again.output
    assert "already corrected: delivery" in again.output and "(uncertain)" in again.output
    posts = mastodon.calls("POST", STATUSES)
    assert len(posts) == 3  # the original, the reply cut off by the kill, the later post
    assert posts[1].form()["in_reply_to_id"] == mastodon.statuses[0]["id"]
    assert "We could not confirm it." in posts[1].form()["status"]
    assert "in_reply_to_id" not in posts[2].form()
    assert "is uncertain: the bot stopped while sending it" in log.read_text()
    store.close()
