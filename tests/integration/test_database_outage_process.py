"""PostgreSQL restarted under a running worker: it lives, logs little, and sends what fell due."""

from __future__ import annotations

import os
import re
import signal
import time
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from bot.clock import SystemClock
from bot.store import Store
from bot.store.posts import create_post, list_deliveries
from tests.campaign_factory import Campaign, finding
from tests.integration.test_worker_process import WorkerProcess, sent, wait_until
from tests.postgres_cluster import Cluster, own_cluster

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

OUTAGE_SECONDS = 20.0
COMPONENT = re.compile(r": (?P<component>[\w -]+): database (unreachable|reachable again)")


@pytest.fixture(name="cluster")
def cluster_fixture() -> Iterator[Cluster]:
    with own_cluster() as cluster:
        yield cluster


@pytest.fixture(name="worker_env")
def worker_env_fixture(campaign: Campaign, cluster: Cluster) -> dict[str, str]:
    campaign.write_items("items.yaml", [finding(f"f-{i}") for i in range(2)])
    data = campaign.config()
    data["schedule"]["rules"] = []
    data["reminders"] = {"every": "2s"}  # so the reminders job runs during the outage
    campaign.write_config(data)
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TELEGRAM_", "X_", "MASTODON_", "BLUESKY_"))
    }
    env.update(
        CAMPAIGN_CONFIG=str(campaign.config_path),
        DATABASE_URL=cluster.url,
        LOG_LEVEL="INFO",
        PYTHONUNBUFFERED="1",
        PORT="0",  # the dashboard's server: any free port
    )
    return env


def post_at(store: Store, item_id: str, seconds: float) -> int:
    post = create_post(
        store,
        item_id=item_id,
        lang="en",
        channels=["console"],
        due_at=SystemClock().now() + timedelta(seconds=seconds),
        created_by="cli:test",
        via="cli",
    )
    assert post is not None
    return post.id


def test_a_postgres_restart_costs_two_lines_per_component_and_loses_no_post(
    cluster: Cluster, worker_env: dict[str, str], tmp_path: Path
) -> None:
    store = Store(cluster.url)
    store.upgrade()
    log = tmp_path / "worker.log"
    worker = WorkerProcess(worker_env, log)
    try:
        wait_until(lambda: "worker running" in log.read_text(), 60, "the worker to start")
        before = post_at(store, "f-0", 0)
        wait_until(lambda: before in sent(store), 60, "the post before the outage")
        during = post_at(store, "f-1", OUTAGE_SECONDS / 2)  # falls due while the server is down
        store.close()
        offset = len(log.read_text())

        cluster.stop()
        time.sleep(OUTAGE_SECONDS)  # the outage itself: the worker's loops retry meanwhile
        assert worker.process.poll() is None, "the worker died with the database"
        cluster.start()

        store = Store(cluster.url)
        wait_until(lambda: during in sent(store), 120, "the post that fell due meanwhile")
        time.sleep(3)  # every loop has had several rounds on the database since
        assert worker.process.poll() is None
    finally:
        code = worker.stop(signal.SIGTERM)
    assert code == 0
    assert sent(store) == {before: 1, during: 1}
    assert [d.status for d in list_deliveries(store)] == ["sent", "sent"]
    store.close()

    window = log.read_text()[offset:]
    assert "Traceback" not in window
    loud = [line for line in window.splitlines() if re.search(r" (WARNING|ERROR|CRITICAL) ", line)]
    components = Counter(m["component"] for line in loud if (m := COMPONENT.search(line)))
    begun = Counter(
        m["component"] for line in loud if (m := COMPONENT.search(line)) and "unreachable" in line
    )
    # Every loop that touches the database noticed, and each said so once, and once more at
    # the end, with how long it lasted.
    assert {"publishing", "reminders", "fan-out"} <= set(begun), loud
    assert all(n == 1 for n in begun.values()), loud
    assert all(n <= 2 for n in components.values()), loud
    assert len(loud) <= 2 * len(components), loud
    assert all("after" in line for line in loud if "reachable again" in line), loud
