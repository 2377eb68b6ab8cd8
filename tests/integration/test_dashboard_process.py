"""A newcomer's dry run: `campaign-bot run` says what comes next and prints a working link."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.campaign_factory import Campaign

pytestmark = pytest.mark.slow
LINK = re.compile(r"dashboard: open (http://127\.0\.0\.1:(\d+))/signin/([\w-]+) within 10 minutes")


def test_a_dry_run_prints_the_coming_posts_and_a_sign_in_link(
    campaign: Campaign, tmp_path: Path
) -> None:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TELEGRAM_", "X_", "MASTODON_", "BLUESKY_", "DATABASE_URL"))
    }
    env.update(CAMPAIGN_CONFIG=str(campaign.config_path), LOG_LEVEL="INFO", PYTHONUNBUFFERED="1")
    log = tmp_path / "run.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "bot", "run"], env=env, stdout=out, stderr=subprocess.STDOUT
        )
        try:
            deadline = time.monotonic() + 60
            found = None
            while found is None and time.monotonic() < deadline:
                assert process.poll() is None, log.read_text()
                found = LINK.search(log.read_text())
                time.sleep(0.2)
            assert found is not None, log.read_text()
            text = log.read_text()
            assert "coming up:" in text
            assert re.search(r"\d{2}:\d{2} \+03: f-attacks \(en\) on ", text)  # local times
            assert found.group(2) != "0"  # PORT=0: the real port is printed
            base, token = found.group(1), found.group(3)
            with urllib.request.urlopen(f"{base}/signin/{token}", timeout=30) as page:
                assert 'id="signin"' in page.read().decode()
            with urllib.request.urlopen(f"{base}/healthz", timeout=30) as health:
                assert health.status == 200
        finally:
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=30) == 0
