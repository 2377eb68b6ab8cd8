"""Staff notices over Telegram: failed, missed, uncertain and held posts reach staff chats."""

from __future__ import annotations

import asyncio
import html
import logging
from collections import deque
from collections.abc import Sequence

from telegram import Bot, LinkPreviewOptions
from telegram.constants import ParseMode
from telegram.error import NetworkError, TelegramError

log = logging.getLogger(__name__)
MAX_NOTICE = 4000  # characters: one message, under Telegram's 4096
KEEP = 50  # notices kept while Telegram is unreachable; the oldest go first


class TelegramNotifier:
    """Sends each notice to every staff member who has started a chat with the bot.

    A notice Telegram could not be reached for waits, and goes out before the next one (or on
    ``flush``, once Telegram is up): staff hear of what happened while it was away.
    """

    def __init__(self, bot: Bot, staff: Sequence[int], *, keep: int = KEEP) -> None:
        self.bot = bot
        self.staff = list(staff)
        self.waiting: deque[tuple[int, str]] = deque(maxlen=keep)
        self._lock = asyncio.Lock()  # one sender at a time: nothing twice, nothing reordered

    async def notify_staff(self, text: str) -> None:
        log.warning("staff notice: %s", text)
        if len(text) > MAX_NOTICE:  # a long error text must not cost the notice itself
            text = text[: MAX_NOTICE - 1] + "…"
        async with self._lock:
            await self._flush()
            for user_id in self.staff:
                if self.waiting:  # Telegram is still away: keep the order
                    self.waiting.append((user_id, text))
                elif not await self._send(user_id, text):
                    self.waiting.append((user_id, text))
                    log.info("Telegram is unreachable: staff notices wait for it")

    async def flush(self) -> None:
        """Send the notices that waited for Telegram, oldest first, while it answers."""
        async with self._lock:
            await self._flush()

    async def _flush(self) -> None:
        while self.waiting:
            user_id, text = self.waiting[0]
            if not await self._send(user_id, text):
                return
            self.waiting.popleft()

    async def _send(self, user_id: int, text: str) -> bool:
        """Send one notice; False if Telegram could not be reached (try again later)."""
        try:
            await self.bot.send_message(
                user_id,
                f"⚠️ {html.escape(text)}",
                parse_mode=ParseMode.HTML,
                link_preview_options=LinkPreviewOptions(is_disabled=True),
            )
        except NetworkError:
            return False
        except TelegramError as exc:  # a staff member who never started the bot, say
            log.warning("could not notify staff member %s: %s", user_id, exc)
        return True
