"""The fan-out's write-behind journal: claims and outcomes reach the database in batched rounds.

Marking each message ``sending`` in its own transaction costs a round trip per message, too
slow for 1000 messages/s. Instead every claim and outcome is queued here, and one writer
commits whatever has queued up since its last round, in one transaction: outcomes first, then
claims. A claimed message's request is issued only once its round has committed, and right
away: so ``sending`` in the database always means "the request may have left", and a message
merely waiting in memory is still ``pending``. Rounds follow each other back to back, so the
batch size adapts to the rate: one row per round at 25/s, dozens at 1000/s.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence

from bot.clock import Clock
from bot.delivery.replicas import PACER, SOLO, Ownership
from bot.store import Store
from bot.store.outage import OutageReporter
from bot.store.private_outbox import Outcome, write_round

log = logging.getLogger(__name__)

MAX_ROUND = 2000  # rows per transaction, to bound its length
RETRY_SECONDS = 1.0  # after a failed round (database unreachable)


class Journal:
    """Queues claims and outcomes and commits them in rounds from one writer task."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        on_recorded: Callable[[Sequence[Outcome]], None] = lambda outcomes: None,
        *,
        outage: OutageReporter | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.on_recorded = on_recorded
        self.outage = outage or OutageReporter("fan-out journal")
        # Held by every writer of the fan-out, so they never wait on each other's SQLite lock.
        self.lock = asyncio.Lock()
        self._claims: list[tuple[int, asyncio.Future[bool]]] = []
        self._outcomes: list[Outcome] = []
        self._wake = asyncio.Event()
        self._closing = False
        self._task: asyncio.Task[None] | None = None
        self.rounds = 0
        self.ownership: Ownership = SOLO  # whose claims these are

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="journal")

    def claim(self, row_id: int) -> asyncio.Future[bool]:
        """Queue ``row_id`` to be marked sending; the future tells whether it was claimed."""
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        if self._closing:
            future.set_result(False)
            return future
        self._claims.append((row_id, future))
        self._wake.set()
        return future

    def record(self, outcome: Outcome) -> None:
        """Queue an outcome; it is written in the next round."""
        self._outcomes.append(outcome)
        self._wake.set()

    @property
    def backlog(self) -> int:
        return len(self._claims) + len(self._outcomes)

    async def close(self) -> None:
        """Write everything queued, refuse new claims, and stop the writer."""
        self._closing = True
        self._wake.set()
        if self._task is not None:
            await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            if not self._claims and not self._outcomes:
                if self._closing:
                    return
                continue
            await self._round()
            if self._claims or self._outcomes or self._closing:
                self._wake.set()

    async def _round(self) -> None:
        claims, self._claims = self._claims[:MAX_ROUND], self._claims[MAX_ROUND:]
        outcomes, self._outcomes = self._outcomes[:MAX_ROUND], self._outcomes[MAX_ROUND:]
        if self._closing:  # requests must not start once shutdown began
            for _, future in claims:
                future.set_result(False)
            claims = []
        ids = [row_id for row_id, _ in claims]
        try:
            async with self.lock:
                owner = self.ownership
                # The bot-wide pace is one process's: claims need its duty and fencing token.
                token = owner.token(PACER) if ids else None
                fence = (PACER, token) if token is not None else None
                claimed = await asyncio.to_thread(
                    write_round,
                    self.store,
                    ids,
                    outcomes,
                    self.clock.now(),
                    owner.identity,
                    owner.alive_since() if ids else None,
                    fence,
                )
        except Exception as exc:  # the database is unreachable: keep outcomes, give claims up
            if not self.outage.failed(exc):
                log.exception("could not write %d outcomes and %d claims", len(outcomes), len(ids))
            for _, future in claims:
                future.set_result(False)
            if self._closing:  # shutting down: the rows stay sending, uncertain after restart
                self._outcomes.clear()
                return
            self._outcomes[:0] = outcomes
            await asyncio.sleep(RETRY_SECONDS)
            return
        self.outage.succeeded()
        self.rounds += 1
        for row_id, future in claims:
            future.set_result(row_id in claimed)
        if outcomes:
            self.on_recorded(outcomes)
