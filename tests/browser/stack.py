"""The dashboard, the fan-out and the fake Bot API in a background event loop, for a browser."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import threading
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

from bot.app import Core, build_core
from bot.delivery.audience import Audience, build_audience
from bot.delivery.notify import LogNotifier
from bot.telegram.i18n import Translator
from bot.telegram.private_sender import BotPrivateSender
from bot.web import Dashboard, WebServer, build_web_app
from tests.campaign_factory import Campaign
from tests.fakes.telegram_api import FakeBotAPI
from tests.fakes.telegram_fixtures import TOKEN, make_bot

CHROMIUM = ("/usr/bin/chromium", "/usr/bin/chromedriver")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Stack:
    """Everything `run` serves, in its own thread, so the test can drive a blocking browser."""

    def __init__(self, campaign: Campaign) -> None:
        self.core: Core = build_core(str(campaign.config_path))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self.fake: FakeBotAPI | None = None
        self.audience: Audience | None = None
        self.server: WebServer | None = None

    def call(self, coroutine: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=60)

    def start(self) -> None:
        self._thread.start()
        self.call(self._start())

    async def _start(self) -> None:
        # Each message takes a while, so a browser sees the progress bar move.
        self.fake = FakeBotAPI(latency_ms=150)
        await self.fake.start()
        sender = BotPrivateSender(make_bot(self.fake, "aiohttp", token=TOKEN))
        self.audience = build_audience(self.core, sender, LogNotifier(), translate=Translator())
        audience = self.audience
        board = Dashboard(self.core, self.core.settings.enabled_channels)
        board.fanout = lambda: audience.fanout
        self.server = WebServer(build_web_app(board), "127.0.0.1", self.port)
        await self.server.start()
        await audience.start()

    def stop(self) -> None:
        self.call(self._stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=30)
        self._loop.close()
        self.core.store.close()

    async def _stop(self) -> None:
        if self.audience is not None:
            await self.audience.stop()
            await self.audience.fanout.sender.close()
        if self.server is not None:
            await self.server.stop()
        if self.fake is not None:
            await self.fake.close()


def chromium() -> webdriver.Chrome:
    """Headless Chromium from Debian's packages; in CI their absence fails the run."""
    binary, driver = CHROMIUM
    if not (Path(binary).exists() and Path(driver).exists()):
        message = "Chromium and chromedriver are needed: apt-get install chromium chromium-driver"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1400,1000",
        "--lang=en",
    ):
        options.add_argument(argument)
    return webdriver.Chrome(service=Service(executable_path=driver), options=options)


def keep_screenshot(browser: webdriver.Chrome, folder: Path, name: str) -> Path:
    """Save a screenshot in ``folder`` (and in $DASHBOARD_SCREENSHOTS, to refresh the docs)."""
    path = folder / name
    assert browser.save_screenshot(str(path))
    extra = os.environ.get("DASHBOARD_SCREENSHOTS")
    if extra:
        Path(extra).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(extra) / name)
    return path
