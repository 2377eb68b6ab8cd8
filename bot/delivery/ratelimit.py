"""Pacing for the fan-out: an even global rate that backs off on 429, and 1 message/s per chat."""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

# After a stall (event loop busy, slow commit) the pacer may catch up this much, no more:
# a longer stall is lost time, never a burst that would trip Telegram's flood control. At
# low rates (under a message per CATCH_UP) it catches up a quarter of an interval at most:
# enough to make up for timers firing late (a millisecond lost per message is 3 % at 29/s),
# too little to fit one more message into a second (at 29.4/s, 30 grants span 0.98 s).
CATCH_UP = 0.010
CATCH_UP_SHARE = 0.25
SLOWDOWN = 0.7  # a 429 multiplies the rate by this ...
RECOVERY_STEP = 0.1  # ... and every RECOVERY_SECONDS without one adds this share of the base back
RECOVERY_SECONDS = 10.0
MIN_SHARE = 0.1  # never slower than this share of the configured rate
# Requests leave when their claim has committed, a few milliseconds after their grant, and
# commits vary: two requests may leave closer together than their grants. So the pacer also
# spaces departures: any ``limit = ceil(rate * WINDOW_SLACK)`` of them in a row (30 at 29.4/s,
# 965 at 960/s, 985 at 980/s) span at least as long as evenly paced grants would, less the
# catch-up a late timer may take (1.012 s at 29.4/s, 1.005 s at 960/s), so no second ever
# holds more than ``limit``. The rest of the cap is left to jitter between a request leaving
# and Telegram counting it: at 960/s, 35 requests or 36 ms (with a slack of 1.02, the limit
# was 980 and a second held up to 979: a 20 ms hiccup on the way meant a 429). The check is
# made when a request leaves (its claim committed), against the departures before it:
# checked at the grant instead, it would count each claim's commit delay twice and cost 1
# to 2 % of the rate at 1000/s. Each departure counts from when the request really left
# (``Pacer.left``): a busy event loop starts some requests late, and counted from their
# planned time they would leave room for a burst a second later.
WINDOW_SLACK = 1.005


@dataclass(slots=True)
class Departure:
    """A granted request about to leave: wait ``hold`` seconds first; ``at`` is when it
    leaves, as far as the pacer knows (moved later by ``Pacer.left`` if it left late)."""

    hold: float
    at: float


class SendPacer(Protocol):
    """What a lane needs from its pacer; a bot-wide pacer shared by replicas can stand in."""

    async def acquire(self) -> None:
        """Wait for the next grant and take it (one request about to be claimed)."""
        ...

    def departed(self) -> Departure:
        """The granted request's claim committed: it leaves after the departure's hold."""
        ...

    def left(self, departure: Departure) -> None:
        """The request is leaving now (after its hold): later departures count from now."""
        ...

    def penalize(self, retry_after: float) -> None:
        """React to a 429."""
        ...

    def set_base(self, rate: float) -> None:
        """Change the configured rate."""
        ...


GATE_POLL = 0.1  # seconds between looks at a closed gate


class Pacer:
    """Grants sends evenly spaced at ``rate`` per second (GCRA without burst).

    A 429 pauses every grant for ``retry_after`` and lowers the rate to 70 %; the rate then
    climbs back 10 % of the configured value every 10 s without another 429. Departures are
    also spaced (see WINDOW_SLACK).
    """

    def __init__(
        self,
        rate: float,
        clock: Callable[[], float] = time.monotonic,
        gate: Callable[[], bool] = lambda: True,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self._clock = clock
        self.base = rate
        self.rate = rate
        self._tat = 0.0  # theoretical time of the next grant
        self.paused_until = 0.0
        self._changed = 0.0
        self.penalties = 0
        self._departures: deque[Departure] = deque(maxlen=self.limit)
        # Open only while this process may pace the bot (replicas: holds the pacer duty).
        self.gate = gate

    @property
    def limit(self) -> int:
        """Departures in a row that must span nearly ``limit / rate`` seconds."""
        return max(1, math.ceil(self.base * WINDOW_SLACK))

    def set_base(self, rate: float) -> None:
        """Change the configured rate (a new broadcast's ``--rate``), keeping any slowdown."""
        if rate > 0 and rate != self.base:
            share = self.rate / self.base
            self.base = rate
            self.rate = rate * share
            self._departures = deque(self._departures, maxlen=self.limit)

    def delay(self) -> float:
        """Seconds until the next grant (0 when one is available now)."""
        now = self._clock()
        self._recover(now)
        return max(0.0, max(self._tat, self.paused_until) - now)

    def take(self) -> None:
        """Use the grant that ``delay()`` said is available."""
        now = self._clock()
        catch_up = CATCH_UP if self.rate * CATCH_UP >= 1.0 else CATCH_UP_SHARE / self.rate
        self._tat = max(self._tat, now - catch_up, self.paused_until) + 1.0 / self.rate

    def departed(self) -> Departure:
        """A granted request is ready to leave: it must wait the departure's ``hold`` so that
        any ``limit`` departures in a row span the window (0 unless commits bunched them)."""
        now = self._clock()
        leaves = now
        if len(self._departures) == self.limit:
            span = (self.limit - CATCH_UP_SHARE) / self.rate
            leaves = max(now, self._departures[0].at + span)
        departure = Departure(leaves - now, leaves)
        self._departures.append(departure)
        return departure

    def left(self, departure: Departure) -> None:
        """The request is leaving now: if later than planned (the loop was busy, its timer
        fired late), later departures are spaced from now."""
        departure.at = max(departure.at, self._clock())

    async def acquire(self) -> None:
        """Wait for the next grant (and, with a ``gate``, for the gate to open) and take it."""
        # Sleeping to a deadline, not polling a flag: a 429 meanwhile moves the deadline.
        while (wait := self.delay()) > 0 or not self.gate():  # noqa: ASYNC110
            await asyncio.sleep(wait or GATE_POLL)
        self.take()

    def penalize(self, retry_after: float) -> None:
        """React to a 429: pause for ``retry_after`` seconds and slow down for a while."""
        now = self._clock()
        # The requests in flight when Telegram starts refusing all get a 429: one episode
        # slows the rate once, not once per answer (that would drop it to the floor at once).
        same_episode = now < self.paused_until
        self.paused_until = max(self.paused_until, now + retry_after)
        self._tat = max(self._tat, self.paused_until)
        if not same_episode:
            self.rate = max(self.base * MIN_SHARE, self.rate * SLOWDOWN)
            self.penalties += 1
        self._changed = now

    def _recover(self, now: float) -> None:
        if self.rate < self.base and now - self._changed >= RECOVERY_SECONDS:
            self.rate = min(self.base, self.rate + self.base * RECOVERY_STEP)
            self._changed = now


class ChatSpacing:
    """Keeps one chat under 1 message/s: its next message waits for the last one's answer + 1 s.

    Spacing is measured from the *answer* of the previous request, not from when it was
    queued: a request queued first may leave later (its claim waited longer on the database),
    and the previous one reaches Telegram before its answer comes back. A chat with a request
    reserved but not answered yet is busy.
    """

    def __init__(self, gap: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.gap = gap
        self._clock = clock
        self._last: dict[int, float] = {}
        self._busy: dict[int, int] = {}

    def wait(self, chat_id: int) -> float:
        """Seconds before ``chat_id`` may get another message."""
        if chat_id in self._busy:
            return self.gap
        last = self._last.get(chat_id)
        return 0.0 if last is None else max(0.0, last + self.gap - self._clock())

    def reserve(self, chat_id: int) -> None:
        """Note a request to ``chat_id`` about to be made (checked by ``wait`` meanwhile)."""
        self._busy[chat_id] = self._busy.get(chat_id, 0) + 1

    def done(self, chat_id: int, *, delivered: bool) -> None:
        """Note that the reserved request to ``chat_id`` got its answer (or was never made).

        Only a message that reached (or may have reached) the chat starts its gap: a retry
        after a 5xx or a network error need not wait for it.
        """
        left = self._busy.get(chat_id, 1) - 1
        if left > 0:
            self._busy[chat_id] = left
        else:
            self._busy.pop(chat_id, None)
        if not delivered:
            return
        now = self._clock()
        self._last[chat_id] = now
        if len(self._last) > 8192:  # forget chats whose gap is over: memory stays flat
            self._last = {c: t for c, t in self._last.items() if now - t < self.gap}
