"""The "Get reminders" button under channel posts: the sign-up link for the post's language."""

from __future__ import annotations

import logging

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import TelegramError

from bot.config import Settings
from bot.links import bot_link, link_for_language, signup_url
from bot.telegram.i18n import Translator

log = logging.getLogger(__name__)


class SignupButton:
    """Builds the button for a language; the bot's username comes from getMe, asked once.

    The link is the first sign-up link configured for the language (so its sign-ups are counted
    under its code); a language without one gets the plain link to the bot. If Telegram cannot
    say the username, the post goes out without the button rather than not at all.
    """

    def __init__(self, bot: Bot, settings: Settings, translate: Translator) -> None:
        self._bot = bot
        self._settings = settings
        self._translate = translate
        self._username: str | None = None

    async def __call__(self, lang: str) -> InlineKeyboardMarkup | None:
        username = await self._bot_username()
        if not username:
            return None
        link = link_for_language(self._settings, lang)
        url = signup_url(username, link.code) if link is not None else bot_link(username)
        label = "🔔 " + self._translate(lang, "Get reminders")
        return InlineKeyboardMarkup([[InlineKeyboardButton(label, url=url)]])

    async def _bot_username(self) -> str | None:
        if self._username is None:
            try:
                me = await self._bot.get_me()
            except TelegramError as exc:
                log.warning("no Get reminders button: getMe failed: %s", exc.message)
                return None
            self._username = me.username
        return self._username
