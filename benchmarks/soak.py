"""Soak: three `campaign-bot run` replicas on one PostgreSQL under random kills, freezes,
database restarts and Bot API faults, counted from the fake Bot API's side.

    python -m benchmarks.soak --duration 600

Posts fall due on the Telegram channel every few seconds, a broadcast goes to every
subscriber and reminders fall due throughout. Meanwhile a replica is SIGKILLed (and restarted,
as a supervisor would), frozen past the lease (SIGSTOP/SIGCONT), the database is restarted (a
cluster of the benchmark's own, on its own port), and the fake answers bursts of 429 and 502.
Then it waits for every row to be final and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.soak_cluster import Cluster, own_cluster  # noqa: E402
from benchmarks.soak_report import BURST_429, BURST_502, Deaths, report  # noqa: E402

TOKEN = "123456:SOAK-secret-token-value"
CHANNEL = "@campaign"
POST_EVERY = 5.0
REMINDED_SHARE = 0.1
FREEZE = 20.0  # seconds, past the 15 s lease


class Fake:
    """The fake Bot API in its own process, with a cap of 30/s and 1/s per chat."""

    def __init__(self, error_rate: float) -> None:
        command = [sys.executable, "-m", "tests.fakes.telegram_api", "--rate-cap", "30"]
        command += ["--per-chat-cap", "--record", "--error-rate-5xx", str(error_rate)]
        self.process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        word, port = self.process.stdout.readline().split()
        assert word == "READY"
        self.root = f"http://127.0.0.1:{port}"

    def get(self, path: str) -> Any:
        with urllib.request.urlopen(self.root + path, timeout=30) as response:
            return json.loads(response.read())

    def fail(self, status: int, description: str, times: int, retry_after: int | None) -> None:
        body = {"method": "sendMessage", "status": status, "description": description}
        body.update(times=times, retry_after=retry_after)
        request = urllib.request.Request(
            self.root + "/_fail", json.dumps(body).encode(), {"Content-Type": "application/json"}
        )
        urllib.request.urlopen(request, timeout=10).close()

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


class Replicas:
    """Three `campaign-bot run` processes, each logging to its own file."""

    def __init__(self, env: dict[str, str], folder: Path) -> None:
        self.env = env
        self.folder = folder
        self.count = 0
        self.slots = [self.spawn() for _ in range(3)]

    def spawn(self) -> subprocess.Popen[bytes]:
        self.count += 1
        with (self.folder / f"replica-{self.count}.log").open("ab") as out:
            return subprocess.Popen(
                [sys.executable, "-m", "bot", "run"], env=self.env, stdout=out, stderr=out
            )

    def logs(self) -> str:
        return "".join(p.read_text(errors="replace") for p in sorted(self.folder.glob("*.log")))

    def stop(self) -> list[int]:
        for process in self.slots:
            process.send_signal(signal.SIGCONT)
            process.send_signal(signal.SIGTERM)
        return [process.wait(timeout=60) for process in self.slots]


def setup(url: str, folder: Path, subscribers: int, duration: float) -> tuple[Any, list[int]]:
    """Campaign files, subscribers (a tenth with reminders due during the run), posts."""
    from sqlalchemy import insert

    from bot.store import Store
    from bot.store.posts import create_post
    from bot.store.private_outbox import SUBSCRIBERS
    from tests.campaign_factory import action, demand, finding, make_campaign

    count = int(duration / POST_EVERY)
    posts = [
        finding(f"p-{i}", text={"en": f"Soak post {i}: Amnesty documented 45 attacks."})
        for i in range(count)
    ]
    campaign = make_campaign(folder / "campaign", [finding(), demand(), action(), *posts])
    data = campaign.config()
    quiet = (datetime.now(UTC) + timedelta(hours=12)).astimezone(UTC)
    data["schedule"]["rules"] = []
    data["channels"] = {"telegram": {}}
    data["reminders"] = {
        "every": "3s",
        "quiet_start": f"{quiet:%H}:00",
        "quiet_end": f"{quiet:%H}:01",
    }
    campaign.write_config(data)
    store = Store(url)
    store.upgrade()
    now = datetime.now(UTC)
    rng = random.Random(5)
    rows = []
    for number in range(subscribers):
        reminded = number < subscribers * REMINDED_SHARE
        due = now + timedelta(seconds=rng.uniform(10, duration * 0.8)) if reminded else None
        rows.append(
            {
                "chat_id": 20_000_000 + number,
                "language": "en",
                "topics": "weapons acknowledge",
                "reminder": "daily" if reminded else "off",
                "time_zone": "UTC",
                "active": True,
                "opted_out": False,
                "consented_at": now,
                "next_reminder_at": due,
                "created_at": now,
                "updated_at": now,
            }
        )
    with store.sessions.begin() as session:
        session.execute(insert(SUBSCRIBERS), rows)
    for i in range(count):
        due = now + timedelta(seconds=15 + POST_EVERY * i)
        create_post(
            store,
            item_id=f"p-{i}",
            lang="en",
            channels=["telegram"],
            due_at=due,
            created_by="cli:soak",
            via="cli",
        )
    return campaign, [row["chat_id"] for row in rows]


def start_broadcast(campaign: Any, url: str) -> int:
    from bot.app import build_core
    from bot.delivery.broadcasts import plan_broadcast
    from bot.delivery.broadcasts import start_broadcast as start

    os.environ["DATABASE_URL"] = url
    core = build_core(str(campaign.config_path))
    plan = plan_broadcast(core.settings, core.library, core.store, "a-share", lang="en")
    broadcast = start(core.store, plan, "cli:soak", "cli", datetime.now(UTC)).id
    core.store.close()
    return broadcast


def chaos(
    replicas: Replicas, fake: Fake, cluster: Cluster | None, deaths: Deaths, until: float
) -> list[str]:
    """Random faults until ``until`` (monotonic); return what was done, in order."""
    rng = random.Random(11)
    done = []
    actions = ["kill", "kill", "kill", "freeze", "429", "502"] + (["db"] if cluster else [])
    time.sleep(20)
    while time.monotonic() < until - FREEZE:
        action = rng.choice(actions)
        slot = rng.randrange(3)
        process = replicas.slots[slot]
        if action == "kill":
            process.send_signal(signal.SIGKILL)
            process.wait()
            deaths.died(process.pid, "kill")
            time.sleep(rng.uniform(0.5, 3))
            replicas.slots[slot] = replicas.spawn()
        elif action == "freeze":
            process.send_signal(signal.SIGSTOP)
            deaths.died(process.pid, "freeze")
            time.sleep(FREEZE)
            process.send_signal(signal.SIGCONT)
        elif action == "429":
            fake.fail(429, "Too Many Requests: retry after 3", times=BURST_429, retry_after=3)
        elif action == "502":
            fake.fail(502, "Bad Gateway", times=BURST_502, retry_after=None)
        elif action == "db" and cluster is not None:
            cluster.restart(down=rng.uniform(3, 10))
        done.append(action)
        print(f"  {time.strftime('%H:%M:%S')} {action}", flush=True)
        time.sleep(rng.uniform(8, 20))
    return done


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=600, help="Seconds of chaos.")
    parser.add_argument("--subscribers", type=int, default=3000, help="Broadcast recipients.")
    parser.add_argument("--error-rate", type=float, default=0.01, help="Share answered 502.")
    args = parser.parse_args(argv)
    folder = Path(tempfile.mkdtemp(prefix="soak-"))
    cluster = own_cluster()
    schema = None
    if cluster is not None:
        url = cluster.url
    else:
        from tests.databases import postgres_schema

        schema = postgres_schema()
        url = schema.__enter__()
    fake = Fake(args.error_rate)
    try:
        campaign, chats = setup(url, folder, args.subscribers, args.duration)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "PTB_"))}
        env.update(
            CAMPAIGN_CONFIG=str(campaign.config_path),
            DATABASE_URL=url,
            TELEGRAM_BOT_TOKEN=TOKEN,
            TELEGRAM_API_BASE_URL=fake.root,
            TELEGRAM_CHANNEL_ID=CHANNEL,
            LOG_LEVEL="INFO",
            PYTHONUNBUFFERED="1",
            PORT="0",  # each replica's HTTP server on a free port of its own
        )
        started = time.monotonic()
        replicas = Replicas(env, folder)
        deaths = Deaths(url)
        broadcast = start_broadcast(campaign, url)
        print(f"soak for {args.duration:.0f} s; logs in {folder}", flush=True)
        actions = chaos(replicas, fake, cluster, deaths, started + args.duration)
        settled = deaths.wait_final(timeout=600)
        codes = replicas.stop()
        elapsed = time.monotonic() - started
        print(report(url, fake, chats, broadcast, deaths, replicas.logs(), actions, elapsed))
        print(f"all rows final: {settled}; exit codes at SIGTERM: {codes}")
    finally:
        fake.close()
        if cluster is not None:
            cluster.destroy()
        if schema is not None:
            schema.__exit__(None, None, None)


if __name__ == "__main__":
    main()
