"""The real worker process: SIGKILL and restart lose and duplicate nothing; SIGTERM is clean."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from bot.clock import SystemClock
from bot.store import Store
from bot.store.posts import create_post, list_deliveries
from tests.campaign_factory import Campaign, finding

pytestmark = pytest.mark.slow


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll a condition the worker will make true; fail with ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class WorkerProcess:
    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.log = log
        self.handle = log.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bot", "run"],
            env=env,
            stdout=self.handle,
            stderr=subprocess.STDOUT,
        )

    def stop(self, sig: signal.Signals) -> int:
        self.process.send_signal(sig)
        code = self.process.wait(timeout=10)
        self.handle.close()
        return code


@pytest.fixture
def worker_env(campaign: Campaign, db_url: str, tmp_path: Path) -> Iterator[dict[str, str]]:
    campaign.write_items("items.yaml", [finding(f"f-{i}") for i in range(3)])
    data = campaign.config()
    data["schedule"]["rules"] = []
    campaign.write_config(data)
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TELEGRAM_", "X_", "MASTODON_", "BLUESKY_"))
    }
    env.update(
        CAMPAIGN_CONFIG=str(campaign.config_path),
        DATABASE_URL=db_url,
        LOG_LEVEL="INFO",
        PYTHONUNBUFFERED="1",
    )
    yield env


def sent(store: Store) -> dict[int, int]:
    counts: dict[int, int] = {}
    for row in list_deliveries(store):
        if row.status == "sent":
            counts[row.post_id] = counts.get(row.post_id, 0) + 1
    return counts


def test_sigkill_and_restart_deliver_each_post_exactly_once(
    worker_env: dict[str, str], db_url: str, tmp_path: Path
) -> None:
    store = Store(db_url)
    store.upgrade()
    now = SystemClock().now()
    ids = []
    for i, delay in enumerate((2, 7, 9)):
        post = create_post(
            store,
            item_id=f"f-{i}",
            lang="en",
            channels=["console"],
            due_at=now + timedelta(seconds=delay),
            created_by="cli:test",
            via="cli",
        )
        assert post is not None
        ids.append(post.id)
    log = tmp_path / "worker.log"

    first = WorkerProcess(worker_env, log)
    wait_until(lambda: ids[0] in sent(store), 20, "the first post")
    assert first.stop(signal.SIGKILL) == -signal.SIGKILL  # killed between two posts

    second = WorkerProcess(worker_env, log)
    wait_until(lambda: set(ids) <= set(sent(store)), 30, "the remaining posts")
    assert second.stop(signal.SIGTERM) == 0

    assert sent(store) == {post_id: 1 for post_id in ids}
    output = log.read_text()
    for i in range(3):
        assert output.count(f"── console · en · f-{i} ·") == 1, output
    store.close()


def test_sigterm_shuts_down_within_seconds(worker_env: dict[str, str], tmp_path: Path) -> None:
    worker = WorkerProcess(worker_env, tmp_path / "worker.log")
    wait_until(
        lambda: "worker running" in (tmp_path / "worker.log").read_text(),
        20,
        "the worker to start",
    )
    started = time.monotonic()
    assert worker.stop(signal.SIGTERM) == 0
    assert time.monotonic() - started < 5
    assert "shutting down" in (tmp_path / "worker.log").read_text()


def test_paused_campaign_publishes_nothing_from_a_second_process(
    worker_env: dict[str, str], db_url: str, tmp_path: Path
) -> None:
    store = Store(db_url)
    store.upgrade()
    log = tmp_path / "worker.log"
    worker = WorkerProcess(worker_env, log)
    wait_until(lambda: "worker running" in log.read_text(), 20, "the worker to start")
    store.set_paused(True, "cli:test", "cli")  # from another process, while it runs
    post = create_post(
        store,
        item_id="f-0",
        lang="en",
        channels=["console"],
        due_at=SystemClock().now(),
        created_by="cli:test",
        via="cli",
    )
    assert post is not None
    wait_until(
        lambda: any(d.status == "skipped" for d in list_deliveries(store)),
        20,
        "the post to be skipped",
    )
    assert worker.stop(signal.SIGTERM) == 0
    assert "── console" not in log.read_text()
    store.close()
