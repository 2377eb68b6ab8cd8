"""The fan-out's PrivateSender on python-telegram-bot: one message, one chat, classified errors."""

from __future__ import annotations

import asyncio
import json
from http import HTTPStatus
from urllib.parse import urlencode

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
from yarl import URL

from bot.channels.base import ErrorKind
from bot.delivery.private import Keyboard, RecipientError
from bot.telegram.aiohttp_request import AiohttpRequest
from bot.telegram.errors import retry_after_seconds
from bot.telegram.keepalive_connection import AnswerLost
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
    if isinstance(exc, AnswerLost):
        return RecipientError(
            ErrorKind.UNCERTAIN,
            f"no answer after sending: Telegram may have delivered it ({message})",
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
        self._tails: dict[tuple[str, Keyboard | None, bool], bytes] = {}
        self._ready = False
        self._lock = asyncio.Lock()
        self._url = URL(f"{bot.base_url}/sendMessage")
        request = bot.request
        self._direct = request if isinstance(request, AiohttpRequest) else None
        self._timeout = self._direct.form_timeout() if self._direct is not None else None
        self._poster = self._direct.form_poster(self._url) if self._direct is not None else None

    async def send(
        self, chat_id: int, text: str, *, keyboard: Keyboard | None = None, paid: bool = False
    ) -> int:
        """Send an HTML message without link preview; raise RecipientError on failure.

        On our aiohttp transport this is one request on a ``FormPoster`` connection per message
        (one aiohttp request through a proxy): the form body is encoded once per text (only the
        chat id changes), and the answer is mapped to errors as python-telegram-bot maps it
        (429, 403, 400, migration, timeouts), without building a ``telegram.Message``: the
        fan-out only needs its id. Other transports go through PTB's request layer.
        """
        try:
            if not self._ready:
                await self._initialize()
            if self._direct is not None and self._timeout is not None:
                body = b"chat_id=%d&%b" % (chat_id, self._tail(text, keyboard, paid))
                if self._poster is not None:
                    status, payload = await self._poster.post(body)
                else:
                    status, payload = await self._direct.post_form(self._url, body, self._timeout)
                result = answer_result(status, payload)
            else:
                result = await self.bot.request.post(
                    str(self._url), request_data=_fields(self._form(text, keyboard, paid, chat_id))
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

    def _form(
        self, text: str, keyboard: Keyboard | None, paid: bool, chat_id: int | None = None
    ) -> dict[str, str]:
        fields = {} if chat_id is None else {"chat_id": str(chat_id)}
        fields.update(
            text=text, parse_mode=ParseMode.HTML.value, link_preview_options=NO_PREVIEW_JSON
        )
        if keyboard:
            fields["reply_markup"] = self._markup(keyboard)
        if paid:
            fields["allow_paid_broadcast"] = "true"
        return fields

    def _tail(self, text: str, keyboard: Keyboard | None, paid: bool) -> bytes:
        """The encoded form after the chat id, built once per text, keyboard and mode."""
        key = (text, keyboard, paid)
        tail = self._tails.get(key)
        if tail is None:
            tail = urlencode(self._form(text, keyboard, paid)).encode()
            if len(self._tails) >= 256:
                self._tails.clear()
            self._tails[key] = tail
        return tail

    async def close(self) -> None:
        """Close the connection pools, also when initializing failed half-way (getMe refused)."""
        if self._poster is not None:
            await self._poster.close()
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


def answer_result(status: int, payload: bytes) -> object:
    """The ``result`` of a Bot API answer, or the error python-telegram-bot would raise for it."""
    if 200 <= status <= 299:
        try:
            return json.loads(payload)["result"]
        except (ValueError, TypeError, KeyError):
            return None  # a malformed answer after the request left: uncertain
    try:
        message = f"{HTTPStatus(status).phrase} ({status})"
    except ValueError:
        message = f"Unknown HTTPError ({status})"
    try:
        data = json.loads(payload)
    except ValueError:
        data = None
    if isinstance(data, dict):
        message = data.get("description") or message
        parameters = data.get("parameters")
        if isinstance(parameters, dict):
            if migrate_to := parameters.get("migrate_to_chat_id"):
                raise ChatMigrated(migrate_to)
            if retry_after := parameters.get("retry_after"):
                raise RetryAfter(retry_after)
    if status == HTTPStatus.FORBIDDEN:
        raise Forbidden(message)
    if status in (HTTPStatus.NOT_FOUND, HTTPStatus.UNAUTHORIZED):
        raise InvalidToken(message)
    if status == HTTPStatus.BAD_REQUEST:
        raise BadRequest(message)
    raise NetworkError(message)


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
