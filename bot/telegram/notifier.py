"""Staff notices over Telegram: failed, missed, uncertain and held posts reach staff chats."""

from __future__ import annotations

import html
import logging
from collections.abc import Sequence

from telegram import Bot, LinkPreviewOptions
from telegram.constants import ParseMode
from telegram.error import TelegramError

log = logging.getLogger(__name__)
MAX_NOTICE = 4000  # characters: one message, under Telegram's 4096


class TelegramNotifier:
    """Sends each notice to every staff member who has started a chat with the bot."""

    def __init__(self, bot: Bot, staff: Sequence[int]) -> None:
        self.bot = bot
        self.staff = list(staff)

    async def notify_staff(self, text: str) -> None:
        log.warning("staff notice: %s", text)
        if len(text) > MAX_NOTICE:  # a long error text must not cost the notice itself
            text = text[: MAX_NOTICE - 1] + "…"
        for user_id in self.staff:
            try:
                await self.bot.send_message(
                    user_id,
                    f"⚠️ {html.escape(text)}",
                    parse_mode=ParseMode.HTML,
                    link_preview_options=LinkPreviewOptions(is_disabled=True),
                )
            except TelegramError as exc:  # a staff member who never started the bot, say
                log.warning("could not notify staff member %s: %s", user_id, exc)
