"""The bot's @username for sign-up links: Telegram's getMe with a token, else the setting."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from telegram import Bot
from telegram.error import InvalidToken, TelegramError

from bot.config import ConfigError
from bot.links import valid_username
from bot.telegram.redaction import REDACTED

NEEDED = (
    "sign-up links name the bot: set TELEGRAM_BOT_USERNAME (the bot's @username, without the @) "
    "or TELEGRAM_BOT_TOKEN (then Telegram's getMe says it)"
)


@dataclass(frozen=True)
class BotName:
    """The username to put in links, and a warning for the person when there is one."""

    username: str
    warning: str = ""


async def _get_me(token: str, api_root: str) -> str:
    root = api_root.rstrip("/")
    bot = Bot(token, base_url=f"{root}/bot", base_file_url=f"{root}/file/bot")
    async with bot:
        return bot.username


def _configured(name: str) -> str:
    name = name.strip().removeprefix("@")
    if not valid_username(name):
        raise ConfigError(
            f"TELEGRAM_BOT_USERNAME={name!r} is not a Telegram username; expected 5-32 letters, "
            "digits and underscores, starting with a letter, e.g. mosul_campaign_bot"
        )
    return name


def bot_username(token: str, api_root: str, configured: str) -> BotName:
    """Ask getMe when a token is set (falling back to the setting if Telegram cannot be
    reached); otherwise use TELEGRAM_BOT_USERNAME. Raise ConfigError when neither says it."""
    setting = _configured(configured) if configured else ""
    if not token:
        if not setting:
            raise ConfigError(NEEDED)
        return BotName(setting)
    try:
        asked = asyncio.run(_get_me(token, api_root))
    except InvalidToken:
        raise ConfigError(
            "Telegram rejected TELEGRAM_BOT_TOKEN; check it with @BotFather, or unset it and "
            "set TELEGRAM_BOT_USERNAME"
        ) from None
    except TelegramError as exc:
        reason = exc.message.replace(token, REDACTED)
        if not setting:
            raise ConfigError(
                f"cannot ask Telegram for the bot's username ({reason}); set "
                "TELEGRAM_BOT_USERNAME to print the links without Telegram"
            ) from None
        return BotName(setting, f"Telegram's getMe failed ({reason}); using TELEGRAM_BOT_USERNAME")
    if setting and setting.casefold() != asked.casefold():
        return BotName(
            asked,
            f"TELEGRAM_BOT_USERNAME={setting} but the token's bot is @{asked}; using {asked}",
        )
    return BotName(asked)
