"""Pacing for the fan-out: an even global rate that backs off on 429, and 1 message/s per chat."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

# After a stall (event loop busy, slow commit) the pacer may catch up this much, no more:
# a longer stall is lost time, never a burst that would trip Telegram's flood control.
CATCH_UP = 0.010
SLOWDOWN = 0.7  # a 429 multiplies the rate by this ...
RECOVERY_STEP = 0.1  # ... and every RECOVERY_SECONDS without one adds this share of the base back
RECOVERY_SECONDS = 10.0
MIN_SHARE = 0.1  # never slower than this share of the configured rate


class Pacer:
    """Grants sends evenly spaced at ``rate`` per second (GCRA without burst).

    A 429 pauses every grant for ``retry_after`` and lowers the rate to 70 %; the rate then
    climbs back 10 % of the configured value every 10 s without another 429.
    """

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self._clock = clock
        self.base = rate
        self.rate = rate
        self._tat = 0.0  # theoretical time of the next grant
        self.paused_until = 0.0
        self._changed = 0.0
        self.penalties = 0

    def set_base(self, rate: float) -> None:
        """Change the configured rate (a new broadcast's ``--rate``), keeping any slowdown."""
        if rate > 0 and rate != self.base:
            share = self.rate / self.base
            self.base = rate
            self.rate = rate * share

    def delay(self) -> float:
        """Seconds until the next grant (0 when one is available now)."""
        now = self._clock()
        self._recover(now)
        return max(0.0, max(self._tat, self.paused_until) - now)

    def take(self) -> None:
        """Use the grant that ``delay()`` said is available."""
        now = self._clock()
        self._tat = max(self._tat, now - CATCH_UP, self.paused_until) + 1.0 / self.rate

    async def acquire(self) -> None:
        """Wait for the next grant and take it."""
        # Sleeping to a deadline, not polling a flag: a 429 meanwhile moves the deadline.
        while (wait := self.delay()) > 0:  # noqa: ASYNC110
            await asyncio.sleep(wait)
        self.take()

    def penalize(self, retry_after: float) -> None:
        """React to a 429: pause for ``retry_after`` seconds and slow down for a while."""
        now = self._clock()
        self.paused_until = max(self.paused_until, now + retry_after)
        self._tat = max(self._tat, self.paused_until)
        self.rate = max(self.base * MIN_SHARE, self.rate * SLOWDOWN)
        self._changed = now
        self.penalties += 1

    def _recover(self, now: float) -> None:
        if self.rate < self.base and now - self._changed >= RECOVERY_SECONDS:
            self.rate = min(self.base, self.rate + self.base * RECOVERY_STEP)
            self._changed = now


class ChatSpacing:
    """Remembers when each chat last got a message, to keep one chat under 1 message/s."""

    def __init__(self, gap: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.gap = gap
        self._clock = clock
        self._last: dict[int, float] = {}

    def wait(self, chat_id: int) -> float:
        """Seconds before ``chat_id`` may get another message."""
        last = self._last.get(chat_id)
        return 0.0 if last is None else max(0.0, last + self.gap - self._clock())

    def mark(self, chat_id: int) -> None:
        now = self._clock()
        self._last[chat_id] = now
        if len(self._last) > 8192:  # forget chats whose gap is over: memory stays flat
            self._last = {c: t for c, t in self._last.items() if now - t < self.gap}
