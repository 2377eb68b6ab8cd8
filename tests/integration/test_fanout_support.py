"""Shared pieces for the fan-out tests (no tests here): a campaign, subscribers, a harness."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from bot.app import Core
from bot.clock import Clock, SystemClock
from bot.config import load_config
from bot.delivery.audience import Audience, build_audience
from bot.delivery.broadcasts import plan_broadcast, progress, start_broadcast
from bot.delivery.fanout import FanOutOptions
from bot.delivery.outcomes import RetryPolicy
from bot.library import load_library
from bot.render import Renderer
from bot.store import Message, Store, Subscriber
from bot.store.private_outbox import SUBSCRIBERS
from bot.telegram.i18n import Translator
from bot.telegram.private_sender import BotPrivateSender
from tests.campaign_factory import Campaign, action, demand, finding
from tests.fakes.telegram_api import FakeBotAPI
from tests.fakes.telegram_fixtures import make_bot

ALL_LANGUAGES = ["en", "ar", "ckb"]
# Short waits: the production defaults are seconds, a test has no time for them.
QUICK = FanOutOptions(
    refresh=0.02,
    poll=0.02,
    rescan=0.05,
    db_retry=0.05,
    retry=RetryPolicy(max_attempts=3, backoff_base=0.05, auth_pause=0.5),
)


def reviewed_campaign(
    campaign: Campaign, extra: Sequence[dict[str, Any]] = (), **config: Any
) -> Campaign:
    """The test campaign with every item reviewed in every language, console only, no rules."""
    everywhere = {"reviewed": ALL_LANGUAGES}
    items = [finding(**everywhere), demand(**everywhere), action(**everywhere), *extra]
    campaign.write_items("items.yaml", items)
    data = campaign.config()
    data["schedule"]["rules"] = []
    data["channels"] = {"console": {}}
    for section, values in config.items():
        data[section] = {**data.get(section, {}), **values}
    campaign.write_config(data)
    return campaign


def make_core(campaign: Campaign, store: Store, clock: Clock | None = None) -> Core:
    """The same Core the worker builds, on a test store."""
    loaded = load_config(campaign.config_path)
    library, problems = load_library(loaded.library_dir)
    assert not problems, problems
    renderer = Renderer(library, loaded.settings)
    return Core(loaded, library, renderer, store, clock or SystemClock())


def add_subscribers(
    store: Store,
    chats: Iterable[int],
    *,
    language: str | Callable[[int], str] = "en",
    topics: str = "acknowledge weapons",
    reminder: str = "off",
    active: bool = True,
    **columns: Any,
) -> list[int]:
    """Insert subscribers in one statement; return their chat ids."""
    now = datetime.now(UTC)
    ids = list(chats)
    rows = [
        {
            "chat_id": chat,
            "language": language(chat) if callable(language) else language,
            "topics": topics,
            "reminder": reminder,
            "active": active,
            "opted_out": False,
            "consented_at": now,
            "created_at": now,
            "updated_at": now,
            **columns,
        }
        for chat in ids
    ]
    with store.sessions.begin() as session:
        for start in range(0, len(rows), 5000):
            session.execute(insert(SUBSCRIBERS), rows[start : start + 5000])
    return ids


def subscriber(store: Store, chat_id: int) -> Subscriber | None:
    with store.sessions() as session:
        return session.get(Subscriber, chat_id)


def messages(store: Store, broadcast_id: int | None = None) -> list[Message]:
    """The outbox rows of one broadcast (None: every row), by id."""
    with store.sessions() as session:
        query = session.query(Message).order_by(Message.id)
        if broadcast_id is not None:
            query = query.filter(Message.broadcast_id == broadcast_id)
        return list(query)


async def wait_until(
    condition: Callable[[], bool],
    timeout: float,  # noqa: ASYNC109 - one deadline per wait reads best in tests
    what: str,
) -> None:
    """Wait for something the running fan-out will make true, or fail saying what."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.01)


@dataclass
class Notices:
    """A Notifier that keeps what staff were told."""

    lines: list[str] = field(default_factory=list)

    async def notify_staff(self, text: str) -> None:
        self.lines.append(text)


@dataclass
class Harness:
    """The worker's fan-out on a real BotPrivateSender talking to the fake Bot API."""

    core: Core
    fake: FakeBotAPI
    audience: Audience
    notices: Notices

    @property
    def store(self) -> Store:
        return self.core.store

    def queue(self, item_id: str = "a-share", **options: Any) -> int:
        """Plan and queue a broadcast as staff would; return its id."""
        core = self.core
        plan = plan_broadcast(core.settings, core.library, core.store, item_id, **options)
        return start_broadcast(core.store, plan, "test", "cli", core.clock.now()).id

    async def finished(self, broadcast_id: int, timeout: float = 20.0) -> None:  # noqa: ASYNC109
        """Wait until every recipient of a broadcast is in a final state."""
        await wait_until(
            lambda: progress(self.store, broadcast_id).complete,
            timeout,
            f"broadcast {broadcast_id} to finish",
        )


@asynccontextmanager
async def running_harness(
    campaign: Campaign,
    store: Store,
    fake: FakeBotAPI,
    *,
    options: FanOutOptions = QUICK,
    read_timeout: float = 5.0,
    clock: Clock | None = None,
) -> AsyncIterator[Harness]:
    """Start the fan-out (as ``serve`` does) and stop it afterwards."""
    core = make_core(campaign, store, clock)
    sender = BotPrivateSender(make_bot(fake, "aiohttp", read_timeout=read_timeout))
    notices = Notices()
    audience = build_audience(core, sender, notices, translate=Translator(), options=options)
    await audience.start()
    try:
        yield Harness(core, fake, audience, notices)
    finally:
        await audience.stop()
        await sender.close()


# -- real processes: the fake Bot API and `campaign-bot run` ------------------------------------

REPO = Path(__file__).resolve().parents[2]


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll something another process will make true; fail saying what after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


class FakeProcess:
    """``python -m tests.fakes.telegram_api`` in its own process (its own CPU, like Telegram)."""

    def __init__(self, *options: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.fakes.telegram_api", "--port", "0", *options],
            cwd=REPO,
            env={**os.environ, "PYTHONPATH": str(REPO)},
            stdout=subprocess.PIPE,
        )
        assert self.process.stdout is not None
        word, port = self.process.stdout.readline().decode().split()
        assert word == "READY", word
        self.root = f"http://127.0.0.1:{port}"

    def stats(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.root}/_stats", timeout=5) as response:
            data: dict[str, Any] = json.loads(response.read())
        return data

    def per_chat(self) -> dict[int, int]:
        return {int(chat): n for chat, n in self.stats()["per_chat"].items()}

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)
        if self.process.stdout is not None:
            self.process.stdout.close()


def worker_env(campaign: Campaign, db_url: str, api_root: str) -> dict[str, str]:
    """The environment of a worker with a bot token, talking to the fake at ``api_root``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TELEGRAM_", "X_", "MASTODON_", "BLUESKY_", "PTB_"))
    }
    env.update(
        CAMPAIGN_CONFIG=str(campaign.config_path),
        DATABASE_URL=db_url,
        TELEGRAM_BOT_TOKEN="123456:TEST-secret-token-value",
        TELEGRAM_API_BASE_URL=api_root,
        LOG_LEVEL="INFO",
        PYTHONUNBUFFERED="1",
    )
    return env


class WorkerProcess:
    """``campaign-bot run`` (``python -m bot run``), its output in a log file."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.log = log
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "bot", "run"], env=env, stdout=out, stderr=out
            )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def running(self) -> bool:
        return "worker running" in self.output()

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        return self.process.wait(timeout=20)
