"""Pytest fixtures for Telegram tests: the fake Bot API and real PTB bots pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest
from telegram import Bot
from telegram.request import BaseRequest, HTTPXRequest

from bot.telegram.aiohttp_request import AiohttpRequest
from tests.fakes.telegram_api import FakeBotAPI

# A test module imports the ``*_fixture`` functions it needs (pytest finds them by ``name``,
# ruff sees no redefinition); the autouse ``ptb_timedelta`` applies wherever it is imported.

TOKEN = "123456:TEST-secret-token-value"
TRANSPORTS: dict[str, Callable[..., BaseRequest]] = {
    "httpx": HTTPXRequest,
    "aiohttp": AiohttpRequest,
}


def make_bot(
    fake: FakeBotAPI, transport: str = "httpx", *, token: str = TOKEN, **options: float
) -> Bot:
    """Build a real PTB Bot that talks to ``fake`` over ``transport`` (timeouts, pool size)."""
    request_class = TRANSPORTS[transport]
    return Bot(
        token,
        base_url=fake.base_url,
        request=request_class(**options),
        get_updates_request=request_class(**options),
    )


@pytest.fixture(name="ptb_timedelta", autouse=True)
def ptb_timedelta_fixture(monkeypatch: pytest.MonkeyPatch) -> None:
    """Opt in to PTB's timedelta periods: building RetryAfter warns otherwise (filterwarnings)."""
    monkeypatch.setenv("PTB_TIMEDELTA", "1")


@pytest.fixture(name="fake_api")
async def fake_api_fixture() -> AsyncIterator[FakeBotAPI]:
    """A running fake Bot API."""
    async with FakeBotAPI() as fake:
        yield fake


@pytest.fixture(name="transport", params=sorted(TRANSPORTS))
def transport_fixture(request: pytest.FixtureRequest) -> str:
    """Each PTB transport in turn: its default httpx one and our aiohttp one."""
    return str(request.param)


@pytest.fixture(name="bot")
async def bot_fixture(fake_api: FakeBotAPI, transport: str) -> AsyncIterator[Bot]:
    """An initialized Bot on the fake, once per transport."""
    async with make_bot(fake_api, transport) as instance:
        yield instance
