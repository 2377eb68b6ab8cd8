"""Telling staff what needs their attention: failed, missed, uncertain and held posts."""

from __future__ import annotations

import logging
from typing import Protocol

log = logging.getLogger("bot.staff")


class Notifier(Protocol):
    """Sends a short message to every staff member."""

    async def notify_staff(self, text: str) -> None: ...


class LogNotifier:
    """Without Telegram, staff notices go to the log."""

    async def notify_staff(self, text: str) -> None:
        log.warning("staff notice: %s", text)
