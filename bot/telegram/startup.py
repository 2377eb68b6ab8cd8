"""Bring the Telegram part up at start, or in the background while the Bot API is unreachable."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from telegram.error import InvalidToken, TelegramError
from telegram.ext import Application

from bot.channels import Channel
from bot.channels.telegram import TelegramChannel
from bot.delivery.outbox import Outbox
from bot.telegram.application import set_menus, start

log = logging.getLogger(__name__)
AnyApplication = Application[Any, Any, Any, Any, Any, Any]


class Backoff:
    """Waits that double from ``first`` up to ``cap`` seconds."""

    def __init__(self, first: float = 2.0, cap: float = 60.0) -> None:
        self.first = first
        self.cap = cap
        self.attempts = 0

    def next(self) -> float:
        wait = min(self.cap, self.first * 2**self.attempts)
        self.attempts += 1
        return float(wait)


class TelegramStartup:
    """Starts updates (polling or webhook) and the command menus, retrying what fails.

    Only a rejected token is final (``rejected``); any other failure is retried with backoff
    while the rest of the worker runs. ``on_started`` runs once updates are flowing.
    """

    def __init__(
        self,
        application: AnyApplication,
        *,
        on_started: Callable[[], Awaitable[None]],
        on_rejected: Callable[[], None],
        webhook_url: str = "",
        secret: str = "",
        own_server: bool = False,
        backoff: Callable[[], Backoff] = Backoff,
    ) -> None:
        self.application = application
        self.on_rejected = on_rejected
        self.webhook_url = webhook_url
        self.secret = secret
        self.own_server = own_server
        self.backoff = backoff
        self.started = asyncio.Event()
        self.menus_set = asyncio.Event()
        self.rejected: InvalidToken | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._waiting: list[Callable[[], Awaitable[None]]] = [on_started]

    async def after_start(self, callback: Callable[[], Awaitable[None]]) -> None:
        """Run ``callback`` now if Telegram is up, else as soon as it is."""
        if self.started.is_set():
            await callback()
        else:
            self._waiting.append(callback)

    async def start(self) -> None:
        """Try once now; keep trying in the background if that fails. Raise InvalidToken."""
        try:
            await self._attempt()
        except InvalidToken:
            raise
        except TelegramError as exc:
            log.warning(
                "Telegram unreachable at start (%s); the other channels publish meanwhile, "
                "and Telegram is retried in the background",
                exc,
            )
            self._spawn(self._retry(time.monotonic()))

    async def stop(self) -> None:
        """Cancel the retries (the caller stops the Application itself)."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _attempt(self) -> None:
        await start(
            self.application,
            webhook_url=self.webhook_url,
            secret=self.secret,
            own_server=self.own_server,
            menus=False,
        )
        self.started.set()
        self._spawn(self._menus())
        waiting, self._waiting = self._waiting, []
        for callback in waiting:
            await callback()

    async def _retry(self, since: float) -> None:
        waits = self.backoff()
        while True:
            await asyncio.sleep(waits.next())
            try:
                await self._attempt()
            except InvalidToken as exc:
                log.error("%s", exc)
                self.rejected = exc
                self.on_rejected()
                return
            except TelegramError as exc:
                log.debug("Telegram still unreachable: %s", exc)
                continue
            except Exception:
                if not self.started.is_set():  # the webhook's port is taken, say
                    log.exception("starting Telegram failed; retrying")
                    continue
                # What waited for Telegram failed (the database, say).
                log.exception("starting what waited for Telegram failed")
            log.info(
                "Telegram reachable after %.0f s: receiving updates", time.monotonic() - since
            )
            return

    async def _menus(self) -> None:
        """Publish the command menus; a failure is retried later and never stops the worker."""
        waits = self.backoff()
        while True:
            try:
                await set_menus(self.application)
            except TelegramError as exc:
                wait = waits.next()
                if waits.attempts == 1:
                    log.warning("could not set the command menus (%s); retrying", exc)
                await asyncio.sleep(wait)
                continue
            if waits.attempts:
                log.info("command menus set after %d failed attempts", waits.attempts)
            self.menus_set.set()
            return


async def start_telegram(
    application: AnyApplication,
    outbox: Outbox,
    channels: Mapping[str, Channel],
    *,
    on_rejected: Callable[[], None],
    webhook_url: str = "",
    secret: str = "",
    own_server: bool = False,
) -> TelegramStartup:
    """Start the Telegram part now, or in the background while the Bot API is unreachable.

    Meanwhile the Telegram channel's posts wait (pending, no attempt spent) and the other
    channels publish. A token rejected at once raises InvalidToken; later, ``on_rejected``.
    """
    # Every Telegram account (the channel and any named one) goes through the one bot.
    held = any(isinstance(channel, TelegramChannel) for channel in channels.values())
    if held:
        outbox.hold("telegram", "Telegram is not reachable yet")

    async def started() -> None:
        if held:
            outbox.hold("telegram", None)

    startup = TelegramStartup(
        application,
        on_started=started,
        on_rejected=on_rejected,
        webhook_url=webhook_url,
        secret=secret,
        own_server=own_server,
    )
    await startup.start()
    return startup
