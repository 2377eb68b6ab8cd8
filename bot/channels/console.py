"""The console channel: prints what would be posted (dry run), and records it like any delivery."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import TextIO

from bot.channels.base import DRY_RUN_PREFIX, Outgoing, Published


class ConsoleChannel:
    """Prints each post with channel, language and time instead of publishing it."""

    def __init__(self, name: str = "console", out: TextIO | None = None, *, dry_run: bool = False):
        self.name = name
        self.out = out
        self.dry_run = dry_run

    async def publish(self, post: Outgoing) -> Published:
        stream = self.out or sys.stdout
        when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        label = f"{self.name} (dry run)" if self.dry_run else self.name
        warning = f"[CW: {post.content_warning}]\n" if post.content_warning else ""
        parts = "\n---\n".join((post.text, *post.continuation))
        reply = f" · in reply to {post.reply_to.external_id}" if post.reply_to else ""
        stream.write(
            f"── {label} · {post.lang} · {post.item_id}{reply} · {when}\n{warning}{parts}\n\n"
        )
        stream.flush()
        prefix = DRY_RUN_PREFIX if self.dry_run else "console:"
        return Published(external_id=f"{prefix}{post.idempotency_key}")

    async def close(self) -> None:
        return None
