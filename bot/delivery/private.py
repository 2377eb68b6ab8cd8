"""The protocol the fan-out sends private messages through, its errors, and a console stand-in."""

from __future__ import annotations

import itertools
import sys
from dataclasses import dataclass
from typing import Protocol, TextIO

from bot.channels.base import ChannelError, ErrorKind


@dataclass(frozen=True)
class Button:
    """An inline button: its label and the callback data the bot gets back (<= 64 bytes).

    With ``share`` set it is a Share button instead: it opens the bot's inline mode in a chat
    the supporter picks, with ``share`` as the query.
    """

    label: str
    data: str
    share: str | None = None


Keyboard = tuple[tuple[Button, ...], ...]


class RecipientError(ChannelError):
    """A classified failure to send to one chat.

    ``gone`` names why the chat can never be reached again (blocked, deactivated, not found):
    the subscriber is deactivated. ``migrate_to`` is the chat's new id after a migration.
    """

    def __init__(
        self,
        kind: ErrorKind,
        reason: str,
        *,
        retry_after: float | None = None,
        gone: str | None = None,
        migrate_to: int | None = None,
    ) -> None:
        super().__init__(kind, reason, retry_after)
        self.gone = gone
        self.migrate_to = migrate_to


class PrivateSender(Protocol):
    """Sends one message to one private chat; returns the message id or raises RecipientError."""

    async def send(
        self, chat_id: int, text: str, *, keyboard: Keyboard | None = None, paid: bool = False
    ) -> int:
        """Send an HTML message; ``paid`` asks Telegram for a paid broadcast (up to 1000/s)."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...


class ConsoleSender:
    """Prints what would be sent (dry runs and setups without Telegram)."""

    def __init__(self, out: TextIO | None = None) -> None:
        self.out = out
        self._ids = itertools.count(1)

    async def send(
        self, chat_id: int, text: str, *, keyboard: Keyboard | None = None, paid: bool = False
    ) -> int:
        buttons = " ".join(f"[{b.label}]" for row in keyboard or () for b in row)
        print(
            f"── private · {chat_id} ──\n{text}\n{buttons}".rstrip(), file=self.out or sys.stdout
        )
        return next(self._ids)

    async def close(self) -> None:
        """Nothing to release."""
