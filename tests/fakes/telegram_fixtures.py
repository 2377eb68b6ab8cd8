"""Pytest fixtures and a driver for Telegram tests: the fake Bot API and real PTB pointed at it."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from telegram import Bot
from telegram.request import BaseRequest, HTTPXRequest

from bot.app import Core, Runtime, build_channels, build_core, build_runtime, build_telegram
from bot.clock import Clock, FixedClock, SystemClock
from bot.config import load_config
from bot.library import load_library
from bot.render import Renderer
from bot.store import AuditEntry, Delivery, Post, Store
from bot.telegram.aiohttp_request import AiohttpRequest
from bot.telegram.application import AnyApplication, ExtraHandlers, build_application
from bot.telegram.application import start as start_application
from bot.telegram.application import stop as stop_application
from bot.telegram.i18n import Translator
from bot.telegram.notifier import TelegramNotifier
from bot.telegram.services import BotServices
from tests.campaign_factory import Campaign, action, demand, finding, make_campaign
from tests.fakes.telegram_api import Call, FakeBotAPI

# A test module imports the ``*_fixture`` functions it needs (pytest finds them by ``name``,
# ruff sees no redefinition); the autouse ``ptb_timedelta`` applies wherever it is imported.

TOKEN = "123456:TEST-secret-token-value"
TRANSPORTS: dict[str, Callable[..., BaseRequest]] = {
    "httpx": HTTPXRequest,
    "aiohttp": AiohttpRequest,
}
STAFF_A = 9001
STAFF_B = 9002
CHANNEL = "@campaign"
# A private chat the driver sends /help from to know the bot has handled everything before.
SYNC_CHAT = 4_242_424
START = datetime.now(UTC).replace(microsecond=0)


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


# -- a campaign for the bot ---------------------------------------------------------------------


def telegram_campaign(
    root: Path, *, approvals_required: int = 0, staff: Sequence[int] = (STAFF_A, STAFF_B)
) -> Campaign:
    """A campaign publishing only to Telegram, without rules, with items reviewed in en and ar."""
    items = [
        finding(reviewed=["en", "ar"]),
        finding(
            "f-aid",
            topics=["aid"],
            text={"en": "Aid could not reach west Mosul for weeks.", "ar": "لم تصل المساعدات."},
            reviewed=["en", "ar"],
        ),
        demand(reviewed=["en", "ar"]),
        action(reviewed=["en", "ar"]),
    ]
    campaign = make_campaign(root, items)
    config = campaign.config()
    config["staff"] = list(staff)
    config["approvals_required"] = approvals_required
    config["channels"] = {"telegram": {"link_preview": False}}
    config["schedule"]["rules"] = []
    campaign.write_config(config)
    return campaign


def make_services(campaign: Campaign, db_url: str, clock: Clock | None = None) -> BotServices:
    """The handlers' services over a migrated store at ``db_url``."""
    loaded = load_config(campaign.config_path)
    library, problems = load_library(loaded.library_dir)
    assert not problems, problems
    store = Store(db_url)
    store.upgrade()
    settings = loaded.settings
    return BotServices(
        settings,
        library,
        Renderer(library, settings),
        store,
        clock or SystemClock(),
        Translator(),
    )


# -- driving the real Application -------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    """A message the bot sent or edited in a chat, as it sent it."""

    method: str
    message_id: int
    text: str
    buttons: list[list[tuple[str, str]]]  # (label, callback data) per row

    @property
    def data(self) -> list[str]:
        """Every button's callback data."""
        return [data for row in self.buttons for _, data in row]


def _buttons(params: dict[str, Any]) -> list[list[tuple[str, str]]]:
    raw = params.get("reply_markup")
    markup = json.loads(raw) if isinstance(raw, str) else raw
    if not isinstance(markup, dict):
        return []
    return [
        [(str(b.get("text")), str(b.get("callback_data", ""))) for b in row]
        for row in markup.get("inline_keyboard", [])
    ]


class BotDriver:
    """Talks to the real PTB Application through the fake: pushes updates, reads replies.

    Updates are handled one after another (PTB's default), so when the bot has answered a
    ``/help`` pushed after an update, it has finished with that update too.
    """

    def __init__(self, fake: FakeBotAPI, application: AnyApplication) -> None:
        self.fake = fake
        self.application = application

    async def start(self) -> None:
        await start_application(self.application)

    async def stop(self) -> None:
        await stop_application(self.application)

    def mark(self) -> int:
        """Where the calls stand now (for ``replies(since=...)``)."""
        return len(self.fake.calls)

    async def settle(self, timeout: float = 10.0) -> None:  # noqa: ASYNC109
        """Wait until the bot has handled every update pushed so far."""
        before = len(self.fake.sent_messages(SYNC_CHAT))
        self.fake.push_text(SYNC_CHAT, SYNC_CHAT, "/help")
        await self.fake.wait_for(lambda: len(self.fake.sent_messages(SYNC_CHAT)) > before, timeout)

    async def send(
        self, chat_id: int, text: str, *, lang: str = "en", user_id: int | None = None
    ) -> list[Reply]:
        """Send ``text`` from a user in their private chat; return the bot's replies there."""
        since = self.mark()
        self.fake.push_text(chat_id, user_id or chat_id, text, language_code=lang)
        await self.settle()
        return self.replies(chat_id, since)

    async def press(
        self,
        chat_id: int,
        data: str,
        *,
        message_id: int | None = None,
        user_id: int | None = None,
        lang: str = "en",
    ) -> list[Reply]:
        """Press a button (by default on the latest message with buttons); return replies."""
        if message_id is None:
            message_id = self.keyboard(chat_id).message_id
        since = self.mark()
        self.fake.push_callback(chat_id, user_id or chat_id, data, message_id, lang)
        await self.settle()
        return self.replies(chat_id, since)

    def replies(self, chat_id: int, since: int = 0) -> list[Reply]:
        """Messages sent or edited in ``chat_id`` after call number ``since``."""
        sent = {id(m.params): m.message_id for m in self.fake.sent_messages(chat_id)}
        found = []
        for call in self.fake.calls[since:]:
            if not self._in_chat(call, chat_id) or call.status != 200:
                continue
            if call.method == "sendMessage":
                message_id = sent[id(call.params)]
            elif call.method in ("editMessageText", "editMessageReplyMarkup"):
                message_id = int(call.params["message_id"])
            else:
                continue
            text = str(call.params.get("text", ""))
            found.append(Reply(call.method, message_id, text, _buttons(call.params)))
        return found

    def keyboard(self, chat_id: int) -> Reply:
        """The latest message in the chat that was sent or edited with buttons."""
        with_buttons = [r for r in self.replies(chat_id) if r.buttons]
        assert with_buttons, f"no buttons in chat {chat_id}"
        return with_buttons[-1]

    def answers(self, since: int = 0) -> list[Call]:
        """answerCallbackQuery calls after call number ``since``."""
        return [c for c in self.fake.calls[since:] if c.method == "answerCallbackQuery"]

    @staticmethod
    def _in_chat(call: Call, chat_id: int) -> bool:
        return str(call.params.get("chat_id")) == str(chat_id)


async def running_bot(
    fake: FakeBotAPI,
    services: BotServices,
    *,
    transport: str = "aiohttp",
    extra: Sequence[ExtraHandlers] = (),
    token: str = TOKEN,
) -> BotDriver:
    """Build the campaign's Application on ``fake`` and start it polling."""
    request_class = TRANSPORTS[transport]
    application = build_application(
        token,
        fake.root,
        services,
        request=request_class(),
        updates_request=request_class(),
        extra=extra,
    )
    driver = BotDriver(fake, application)
    await driver.start()
    return driver


# -- the whole bot: core, Telegram, channels and worker --------------------------------------


@dataclass
class Running:
    """The bot and the publishing worker, wired by the composition root."""

    driver: BotDriver
    runtime: Runtime
    clock: FixedClock

    @property
    def core(self) -> Core:
        return self.runtime.core

    @property
    def fake(self) -> FakeBotAPI:
        return self.driver.fake

    async def tick(self, **advance: float) -> None:
        """Move the clock, then run one worker tick (what the scheduler's poll job does)."""
        if advance:
            self.clock.advance(**advance)
        await self.runtime.worker.tick()

    def channel_posts(self) -> list[str]:
        return [m.text for m in self.fake.sent_messages(CHANNEL)]

    def posts(self) -> list[Post]:
        with self.core.store.sessions() as session:
            return list(session.scalars(select(Post).order_by(Post.id)))

    def deliveries(self) -> list[Delivery]:
        with self.core.store.sessions() as session:
            return list(session.scalars(select(Delivery).order_by(Delivery.id)))

    def audit(self) -> list[AuditEntry]:
        with self.core.store.sessions() as session:
            return list(session.scalars(select(AuditEntry).order_by(AuditEntry.id)))


async def start_running(
    fake: FakeBotAPI, campaign: Campaign, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> Running:
    """Build the core, the bot, the Telegram channel and the worker as ``run`` does."""
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("TELEGRAM_CHANNEL_ID", CHANNEL)
    monkeypatch.setenv("TELEGRAM_API_BASE_URL", fake.root)
    clock = FixedClock(START)
    core = build_core(str(campaign.config_path), clock=clock)
    telegram = build_telegram(core, TOKEN)
    channels = build_channels(core.settings, core.store, dry_run=False, bot=telegram.bot)
    runtime = build_runtime(core, channels, TelegramNotifier(telegram.bot, core.settings.staff))
    runtime.telegram = telegram
    driver = BotDriver(fake, telegram)
    await driver.start()
    return Running(driver, runtime, clock)


async def stop_running(running: Running) -> None:
    await running.driver.stop()
    for channel in running.runtime.channels.values():
        await channel.close()
    running.core.store.close()
