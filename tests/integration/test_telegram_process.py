"""`campaign-bot run` as a real process against the fake Bot API as a real process."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.telegram_fixtures import CHANNEL, TOKEN, telegram_campaign

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
CAMPAIGN_BOT = str(Path(sys.executable).with_name("campaign-bot"))
SUPPORTER = 5551


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll what another process will make true; fail with ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@dataclass
class FakeServer:
    """``python -m tests.fakes.telegram_api`` in its own process, reached over HTTP."""

    process: subprocess.Popen[bytes]
    root: str

    def _call(self, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            f"{self.root}{path}", data=data, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            return json.loads(response.read())

    def push_text(self, chat_id: int, text: str, language_code: str = "en") -> None:
        self._call("/_push", {"chat_id": chat_id, "text": text, "language_code": language_code})

    def messages(self, chat_id: int | str) -> list[str]:
        return [m["text"] for m in self._call(f"/_messages?chat_id={chat_id}")]

    def calls(self) -> dict[str, int]:
        calls: dict[str, int] = self._call("/_stats")["calls"]
        return calls


@pytest.fixture(name="fake_server")
def fake_server_fixture() -> Iterator[FakeServer]:
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.telegram_api", "--port", "0", "--record"],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        word, port = process.stdout.readline().decode().split()
        assert word == "READY"
        yield FakeServer(process, f"http://127.0.0.1:{port}")
    finally:
        stop_fake(process)


def stop_fake(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    process.wait(timeout=10)
    if process.stdout is not None:
        process.stdout.close()


class BotProcess:
    """``campaign-bot run``, its stdout and stderr kept apart in files."""

    def __init__(self, env: dict[str, str], folder: Path) -> None:
        self.out, self.err = folder / "stdout.log", folder / "stderr.log"
        with self.out.open("wb") as out, self.err.open("wb") as err:
            self.process = subprocess.Popen([CAMPAIGN_BOT, "run"], env=env, stdout=out, stderr=err)

    def output(self) -> str:
        return self.out.read_text() + self.err.read_text()

    def stop(self) -> tuple[int, float]:
        """SIGTERM; return the exit code and how long it took."""
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=15)
        return code, time.monotonic() - started


def bot_env(campaign_config: Path, db_url: str, root: str, token: str = TOKEN) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TELEGRAM_", "X_", "MASTODON_", "BLUESKY_", "PTB_"))
    }
    env.update(
        CAMPAIGN_CONFIG=str(campaign_config),
        DATABASE_URL=db_url,
        TELEGRAM_BOT_TOKEN=token,
        TELEGRAM_API_BASE_URL=root,
        TELEGRAM_CHANNEL_ID=CHANNEL,
        LOG_LEVEL="DEBUG",
        PYTHONUNBUFFERED="1",
    )
    return env


def assert_no_token(text: str) -> None:
    for form in (TOKEN, TOKEN.split(":")[1], TOKEN.replace(":", "%3A")):
        assert form not in text


def test_run_answers_supporters_and_publishes_a_post_once(
    fake_server: FakeServer, db_url: str, tmp_path: Path
) -> None:
    campaign = telegram_campaign(tmp_path / "campaign")
    env = bot_env(campaign.config_path, db_url, fake_server.root)
    bot = BotProcess(env, tmp_path)
    try:
        wait_until(lambda: "worker running" in bot.output(), 30, "the bot to start")
        wait_until(lambda: fake_server.calls().get("getUpdates", 0) > 0, 10, "polling")

        fake_server.push_text(SUPPORTER, "/start", "ar")
        wait_until(lambda: len(fake_server.messages(SUPPORTER)) == 2, 15, "the welcome")
        intro, privacy = fake_server.messages(SUPPORTER)
        assert "West Mosul" in intro and re.search("[\u0600-\u06ff]", privacy)

        posted = subprocess.run(
            [CAMPAIGN_BOT, "post", "f-attacks", "--channel", "telegram"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert posted.returncode == 0, posted.stderr
        assert posted.stdout.startswith("post 1 scheduled: f-attacks (en) on telegram")
        wait_until(lambda: bool(fake_server.messages(CHANNEL)), 15, "the channel post")
    finally:
        code, took = bot.stop()

    assert (code, took < 5) == (0, True), bot.output()[-3000:]
    [published] = fake_server.messages(CHANNEL)  # once, and never again before exiting
    assert "45 attacks" in published and "Amnesty International" in published
    output = bot.output()
    assert "Calling Bot API endpoint `sendMessage`" in output  # it really logged at DEBUG
    assert "shutting down" in output
    assert_no_token(output + posted.stdout + posted.stderr)


def test_a_rejected_token_stops_the_bot_without_printing_it(db_url: str, tmp_path: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.telegram_api", "--port", "0", "--token", "1:OTHER"],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        port = process.stdout.readline().decode().split()[1]
        campaign = telegram_campaign(tmp_path / "campaign")
        env = bot_env(campaign.config_path, db_url, f"http://127.0.0.1:{port}")
        bot = BotProcess(env, tmp_path)
        code = bot.process.wait(timeout=60)
    finally:
        stop_fake(process)
    output = bot.output()
    assert code == 2  # a configuration error: one clear line, no traceback
    assert "Telegram rejected TELEGRAM_BOT_TOKEN" in output
    assert "Traceback" not in output
    assert "Unclosed" not in output  # the connections it had opened were closed
    assert_no_token(output)
