"""The Telegram channel: publishes posts to a channel or group through the Bot API."""

from __future__ import annotations

import logging
import re
from bisect import bisect_right
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from telegram import Bot, InlineKeyboardMarkup, LinkPreviewOptions, ReplyParameters
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

from bot.channels.base import ChannelError, ErrorKind, Outgoing, Published
from bot.render.limits import telegram_length
from bot.telegram.errors import retry_after_seconds
from bot.telegram.redaction import REDACTED

log = logging.getLogger(__name__)

MAX_MESSAGE_LENGTH = 4096
_TAG = re.compile(r"<(/?)([a-zA-Z][\w-]*)[^>]*>")
_BREAK = re.compile(r"(?P<paragraph>\n[ \t]*\n\s*)|(?P<line>\n\s*)|(?P<space>[ \t]+)")
_CHARACTER = re.compile(r"&#?\w+;|.", re.DOTALL)
_LEVELS = {"paragraph": 0, "line": 1, "space": 2}
# Cuts inside an open element (closed and reopened around the cut) come after all cuts at
# the top level; a cut between any two characters is the last resort.
_NESTED = 3
_ANYWHERE = 6
# Buttons for a post in a language (the "Get reminders" sign-up button), or None.
PostButtons = Callable[[str], Awaitable[InlineKeyboardMarkup | None]]


class TelegramChannel:
    """Publishes HTML posts to one chat (``@channel``, ``-100...`` id), splitting long ones."""

    def __init__(
        self,
        bot: Bot,
        chat_id: int | str,
        *,
        link_preview: bool = False,
        name: str = "telegram",
        buttons: PostButtons | None = None,
    ) -> None:
        self.name = name
        self._buttons = buttons
        self.chat_id = chat_id
        self.migrated_to: int | None = None
        self._bot = bot
        self._preview = None if link_preview else LinkPreviewOptions(is_disabled=True)
        # Message ids already sent per idempotency key, so a retry after a failed later part
        # does not publish the earlier parts again.
        self._sent_parts: dict[str, list[int]] = {}

    async def publish(self, post: Outgoing) -> Published:
        """Send the post (several messages if it is too long); raise ChannelError on failure."""
        parts = [piece for text in (post.text, *post.continuation) for piece in split_html(text)]
        sent = self._sent_parts.setdefault(post.idempotency_key, [])
        markup = None
        if self._buttons is not None and post.reply_to is None:  # a correction has no buttons
            markup = await self._buttons(post.lang)
        reply_to = int(post.reply_to.external_id) if post.reply_to else None
        for number, part in enumerate(parts[len(sent) :], start=len(sent) + 1):
            try:
                # A reply (a correction) answers the original with its first message.
                sent.append(
                    await self._send(
                        part,
                        markup if number == len(parts) else None,
                        None if sent else reply_to,
                    )
                )
            except ChannelError as error:
                if not sent:
                    raise
                reason = f"{error.reason} (part {number} of {len(parts)}; earlier parts are out)"
                raise ChannelError(error.kind, reason, error.retry_after) from None
        del self._sent_parts[post.idempotency_key]
        return Published(
            external_id=str(sent[0]),
            url=message_link(self.chat_id, sent[0]),
            extra_ids=tuple(str(message_id) for message_id in sent[1:]),
        )

    async def close(self) -> None:
        """Do nothing: the Bot belongs to the caller, who shuts it down."""

    async def _send(
        self, text: str, markup: InlineKeyboardMarkup | None = None, reply_to: int | None = None
    ) -> int:
        reply = ReplyParameters(message_id=reply_to) if reply_to is not None else None
        for attempt in range(2):
            try:
                message = await self._bot.send_message(
                    chat_id=self.chat_id,
                    text=text,
                    parse_mode=ParseMode.HTML,
                    link_preview_options=self._preview,
                    reply_markup=markup,
                    reply_parameters=reply,
                )
            except ChatMigrated as exc:
                if attempt:
                    raise self._error(exc) from None
                log.warning("Telegram chat %s moved to %s", self.chat_id, exc.new_chat_id)
                self.chat_id = self.migrated_to = exc.new_chat_id
            except TelegramError as exc:
                raise self._error(exc) from None
            else:
                return message.message_id
        raise AssertionError("unreachable")  # pragma: no cover

    def _error(self, exc: TelegramError) -> ChannelError:
        """Classify a PTB error for the outbox, without the token in the reason."""
        error = classify(exc, self.chat_id)
        reason = error.reason.replace(self._bot.token, REDACTED)
        return ChannelError(error.kind, reason, error.retry_after)


def classify(exc: TelegramError, chat_id: int | str) -> ChannelError:
    """Map a PTB exception to the outbox's error kinds."""
    message = exc.message
    lowered = message.lower()
    if isinstance(exc, RetryAfter):
        seconds = retry_after_seconds(exc)
        return ChannelError(
            ErrorKind.RATE_LIMITED, f"Telegram flood control: retry in {seconds:g} s", seconds
        )
    if isinstance(exc, ChatMigrated):
        return ChannelError(
            ErrorKind.PERMANENT, f"chat {chat_id} moved twice (now {exc.new_chat_id})"
        )
    if isinstance(exc, InvalidToken):
        return ChannelError(ErrorKind.AUTH, "Telegram rejected the bot token")
    if isinstance(exc, Forbidden):
        if "blocked" in lowered:
            reason = "the bot was blocked by the user"
        elif "not a member" in lowered:
            reason = f"the bot is not a member of the channel {chat_id}: add it as an admin"
        elif "kicked" in lowered:
            reason = f"the bot was removed from the chat {chat_id}"
        else:
            reason = f"Telegram refused: {message}"
        return ChannelError(ErrorKind.PERMANENT, reason)
    if isinstance(exc, TimedOut):
        if "not sent" in lowered.replace("*", ""):
            return ChannelError(ErrorKind.TRANSIENT, f"not sent: {message}")
        return ChannelError(ErrorKind.UNCERTAIN, "timed out: Telegram may have published the post")
    if isinstance(exc, BadRequest):
        if "chat not found" in lowered:
            return ChannelError(ErrorKind.PERMANENT, f"chat {chat_id} not found")
        return ChannelError(ErrorKind.PERMANENT, f"Telegram rejected the post: {message}")
    if isinstance(exc, NetworkError):
        return ChannelError(ErrorKind.TRANSIENT, f"network error: {message}")
    return ChannelError(ErrorKind.TRANSIENT, f"Telegram error: {message}")


def message_link(chat_id: int | str, message_id: int) -> str | None:
    """Return the t.me link of a message in a public or private channel; None elsewhere."""
    chat = str(chat_id)
    if chat.startswith("@"):
        return f"https://t.me/{chat[1:]}/{message_id}"
    if chat.startswith("-100") and chat[4:].isdigit():
        return f"https://t.me/c/{chat[4:]}/{message_id}"
    return None


# -- splitting long posts -------------------------------------------------------------------


@dataclass(frozen=True)
class _Cut:
    end: int  # the part ends here
    resume: int  # the next part starts here
    level: int  # lower is better
    open_tags: tuple[tuple[str, str], ...]  # (name, start tag) open at the cut


def split_html(
    text: str,
    limit: int = MAX_MESSAGE_LENGTH,
    measure: Callable[[str], int] = telegram_length,
) -> list[str]:
    """Cut Telegram HTML into messages of at most ``limit``, at paragraphs if possible.

    Never cuts inside a tag; an element open at a cut is closed and reopened. The last
    paragraph (the citation) stays whole in the last part unless it alone is too long.
    """
    if measure(text) <= limit:
        return [text]
    cuts = _cuts(text)
    parts: list[str] = []
    start = 0
    opened: tuple[tuple[str, str], ...] = ()
    while measure(rest := _piece(text, start, len(text), opened, ())) > limit:
        cut = _best_cut(text, cuts, start, opened, limit, measure)
        part = _piece(text, start, cut.end, opened, cut.open_tags)
        if part.strip():
            parts.append(part)
        start, opened = cut.resume, cut.open_tags
    if rest.strip():
        parts.append(rest)
    return parts


def _piece(
    text: str,
    start: int,
    end: int,
    opened: tuple[tuple[str, str], ...],
    still_open: tuple[tuple[str, str], ...],
) -> str:
    reopen = "".join(tag for _, tag in opened)
    close = "".join(f"</{name}>" for name, _ in reversed(still_open))
    return f"{reopen}{text[start:end]}{close}"


def _cuts(text: str) -> list[_Cut]:
    """Return every place outside tags where the text may be cut, in order."""
    cuts: list[_Cut] = []
    stack: tuple[tuple[str, str], ...] = ()
    position = 0
    for tag in (*_TAG.finditer(text), None):
        segment_end = tag.start() if tag else len(text)
        nested = _NESTED if stack else 0
        for match in _BREAK.finditer(text, position, segment_end):
            level = _LEVELS[match.lastgroup or "space"] + nested
            cuts.append(_Cut(match.start(), match.end(), level, stack))
        for match in _CHARACTER.finditer(text, position, segment_end):
            cuts.append(_Cut(match.end(), match.end(), _ANYWHERE, stack))
        if tag is None:
            break
        position = tag.end()
        name = tag.group(2).lower()
        if tag.group(1):
            stack = stack[:-1] if stack and stack[-1][0] == name else stack
        else:
            stack = (*stack, (name, tag.group(0)))
    return sorted(cuts, key=lambda cut: cut.end)


def _best_cut(
    text: str,
    cuts: list[_Cut],
    start: int,
    opened: tuple[tuple[str, str], ...],
    limit: int,
    measure: Callable[[str], int],
) -> _Cut:
    """Return the furthest cut that fits, from the best level that has one."""
    for level in range(_ANYWHERE + 1):
        candidates = [cut for cut in cuts if cut.level == level and cut.end > start]
        ends = [cut.end for cut in candidates]

        def fits(index: int, candidates: list[_Cut] = candidates) -> bool:
            cut = candidates[index]
            return measure(_piece(text, start, cut.end, opened, cut.open_tags)) <= limit

        low, high = 0, len(candidates)  # the fitting candidates are a prefix
        while low < high:
            middle = (low + high) // 2
            if fits(middle):
                low = middle + 1
            else:
                high = middle
        if low and text[start : ends[low - 1]].strip():
            return candidates[low - 1]
    # Nothing fits (a limit shorter than one character): take one character.
    return cuts[bisect_right([cut.end for cut in cuts], start)]
