"""Staff notices over Telegram: failed, missed, uncertain and held posts reach staff chats."""

from __future__ import annotations

import html
import logging
from collections.abc import Sequence

from telegram import Bot
from telegram.constants import ParseMode
from telegram.error import TelegramError

log = logging.getLogger(__name__)


class TelegramNotifier:
    """Sends each notice to every staff member who has started a chat with the bot."""

    def __init__(self, bot: Bot, staff: Sequence[int]) -> None:
        self.bot = bot
        self.staff = list(staff)

    async def notify_staff(self, text: str) -> None:
        log.warning("staff notice: %s", text)
        for user_id in self.staff:
            try:
                await self.bot.send_message(
                    user_id, f"⚠️ {html.escape(text)}", parse_mode=ParseMode.HTML
                )
            except TelegramError as exc:  # a staff member who never started the bot, say
                log.warning("could not notify staff member %s: %s", user_id, exc)
