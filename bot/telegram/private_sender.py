"""The fan-out's PrivateSender on python-telegram-bot: one message, one chat, classified errors."""

from __future__ import annotations

import asyncio
import json

from telegram import Bot, InlineKeyboardMarkup, LinkPreviewOptions
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.request import RequestData
from telegram.request._requestparameter import RequestParameter

from bot.channels.base import ErrorKind
from bot.delivery.private import Keyboard, RecipientError
from bot.telegram.aiohttp_request import AiohttpRequest
from bot.telegram.errors import retry_after_seconds
from bot.telegram.keyboards import telegram_button
from bot.telegram.redaction import REDACTED

NO_PREVIEW_JSON = json.dumps(LinkPreviewOptions(is_disabled=True).to_dict())


def classify_recipient(exc: TelegramError) -> RecipientError:
    """Map a PTB error on a private send to what the fan-out does with the recipient."""
    message = exc.message
    lowered = message.lower()
    if isinstance(exc, RetryAfter):
        seconds = retry_after_seconds(exc)
        return RecipientError(
            ErrorKind.RATE_LIMITED, f"flood control: retry in {seconds:g} s", retry_after=seconds
        )
    if isinstance(exc, ChatMigrated):
        return RecipientError(
            ErrorKind.TRANSIENT, "the chat moved to a new id", migrate_to=exc.new_chat_id
        )
    if isinstance(exc, InvalidToken):
        return RecipientError(ErrorKind.AUTH, "Telegram rejected the bot token")
    if isinstance(exc, Forbidden):
        if "blocked" in lowered:
            gone = "blocked the bot"
        elif "deactivated" in lowered:
            gone = "account deleted"
        else:
            gone = f"refused: {message}"
        return RecipientError(ErrorKind.PERMANENT, f"Telegram: {message}", gone=gone)
    if isinstance(exc, TimedOut):
        if "not sent" in lowered.replace("*", ""):
            return RecipientError(ErrorKind.TRANSIENT, f"not sent: {message}")
        return RecipientError(
            ErrorKind.UNCERTAIN, "timed out after sending: Telegram may have delivered it"
        )
    if isinstance(exc, BadRequest):
        if "chat not found" in lowered:
            return RecipientError(ErrorKind.PERMANENT, "chat not found", gone="chat not found")
        return RecipientError(ErrorKind.PERMANENT, f"Telegram rejected the message: {message}")
    if isinstance(exc, NetworkError):
        return RecipientError(ErrorKind.TRANSIENT, f"network error: {message}")
    return RecipientError(ErrorKind.TRANSIENT, f"Telegram error: {message}")


class BotPrivateSender:
    """Sends through its own ``telegram.Bot``, whose connection pool serves only the fan-out,
    so a broadcast never queues the supporters' replies behind it."""

    def __init__(self, bot: Bot) -> None:
        self.bot = bot
        self._markups: dict[Keyboard, str] = {}
        self._ready = False
        self._lock = asyncio.Lock()

    async def send(
        self, chat_id: int, text: str, *, keyboard: Keyboard | None = None, paid: bool = False
    ) -> int:
        """Send an HTML message without link preview; raise RecipientError on failure.

        The request goes through the bot's own request object (our aiohttp transport, with
        PTB's error mapping: 429, 403, 400, migration, timeouts), but skips building a
        ``telegram.Message`` from the answer: the fan-out only needs its id, and parsing a
        Message costs more CPU than the request itself at 1000 messages/s.
        """
        fields = {
            "chat_id": str(chat_id),
            "text": text,
            "parse_mode": ParseMode.HTML.value,
            "link_preview_options": NO_PREVIEW_JSON,
        }
        if keyboard:
            fields["reply_markup"] = self._markup(keyboard)
        if paid:
            fields["allow_paid_broadcast"] = "true"
        try:
            if not self._ready:
                await self._initialize()
            result = await self.bot.request.post(
                f"{self.bot.base_url}/sendMessage", request_data=_fields(fields)
            )
        except TelegramError as exc:
            error = classify_recipient(exc)
            reason = error.reason.replace(self.bot.token, REDACTED)
            raise RecipientError(
                error.kind,
                reason,
                retry_after=error.retry_after,
                gone=error.gone,
                migrate_to=error.migrate_to,
            ) from None
        if not isinstance(result, dict) or not isinstance(result.get("message_id"), int):
            raise RecipientError(
                ErrorKind.UNCERTAIN, f"unexpected answer to sendMessage: {result}"
            )
        return int(result["message_id"])

    async def close(self) -> None:
        """Close the connection pool, also when initializing failed half-way (getMe refused)."""
        await self.bot.shutdown()  # a no-op when nothing was opened
        self._ready = False

    async def _initialize(self) -> None:
        async with self._lock:
            if not self._ready:
                await self.bot.initialize()
                self._ready = True

    def _markup(self, keyboard: Keyboard) -> str:
        """The keyboard as the Bot API's JSON, built once per distinct keyboard."""
        markup = self._markups.get(keyboard)
        if markup is None:
            markup = json.dumps(
                InlineKeyboardMarkup(
                    [[telegram_button(b) for b in row] for row in keyboard]
                ).to_dict()
            )
            if len(self._markups) < 256:
                self._markups[keyboard] = markup
        return markup


def _fields(fields: dict[str, str]) -> RequestData:
    """Request data from fields already in their Bot API form (strings, JSON for objects).

    ``RequestParameter`` is internal to python-telegram-bot (pinned to v22 in pyproject).
    """
    return RequestData([RequestParameter(name, value, None) for name, value in fields.items()])


def build_private_sender(
    token: str, api_root: str, *, pool: int = 256, read_timeout: float = 10.0
) -> BotPrivateSender:
    """A sender with its own aiohttp connection pool to the Bot API at ``api_root``."""
    root = api_root.rstrip("/")
    bot = Bot(
        token,
        base_url=f"{root}/bot",
        base_file_url=f"{root}/file/bot",
        request=AiohttpRequest(connection_pool_size=pool, read_timeout=read_timeout),
        get_updates_request=AiohttpRequest(connection_pool_size=1),  # never polls
    )
    return BotPrivateSender(bot)
