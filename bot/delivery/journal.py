"""The fan-out's write-behind journal: claims and outcomes reach the database in batched rounds.

Marking each message ``sending`` in its own transaction costs a round trip per message, too
slow for 1000 messages/s. Instead every claim and outcome is queued here, and one writer
commits whatever has queued up since its last round, in one transaction: outcomes first, then
claims. A claimed message's request is started by ``on_claim`` as soon as its round has
committed, with no wait in between: so ``sending`` in the database means "the request is
about to be written or is on the wire", and a message waiting in memory (for its pacer grant,
for its round) is still ``pending``. Rounds follow each other back to back, so the batch size
adapts to the rate: one row per round at 25/s, dozens at 1000/s.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

from bot.clock import Clock
from bot.delivery.replicas import PACER, SOLO, Ownership
from bot.store import Store
from bot.store.outage import OutageReporter
from bot.store.private_outbox import Outcome, write_round

log = logging.getLogger(__name__)

MAX_ROUND = 2000  # rows per transaction, to bound its length
RETRY_SECONDS = 1.0  # after a failed round (database unreachable)
# After a round of at least BUSY_ROUND rows, the next one starts ROUND_GAP after it began: at
# 1000 messages/s a round then carries about 20 claims and 20 outcomes, and its fixed cost (a
# thread hop, a transaction) is shared by all of them. At low rates rounds carry a row or two
# and start at once, so a claim commits (and its request leaves) within a few milliseconds.
ROUND_GAP = 0.02
BUSY_ROUND = 8
T = TypeVar("T")


class Journal(Generic[T]):
    """Queues claims and outcomes and commits them in rounds from one writer task.

    ``on_claim(job, claimed)`` is called for every claim once its round is over: ``claimed``
    is True when the row was still pending and is now ``sending`` (start its request now).
    """

    def __init__(
        self,
        store: Store,
        clock: Clock,
        on_claim: Callable[[T, bool], None],
        on_recorded: Callable[[Sequence[Outcome]], None] = lambda outcomes: None,
        *,
        outage: OutageReporter | None = None,
        ownership: Ownership = SOLO,
    ) -> None:
        self.store = store
        self.clock = clock
        self.on_claim = on_claim
        self.on_recorded = on_recorded
        self.outage = outage or OutageReporter("fan-out journal")
        # Held by every writer of the fan-out, so they never wait on each other's SQLite lock.
        self.lock = asyncio.Lock()
        self._claims: list[tuple[int, T]] = []
        self._outcomes: list[Outcome] = []
        self._wake = asyncio.Event()
        self._closing = False
        self._refusing = False  # no new claims (shutting down); outcomes still written
        self._between_rounds = asyncio.Event()
        self._between_rounds.set()
        self._task: asyncio.Task[None] | None = None
        self.rounds = 0
        self.ownership = ownership  # whose claims these are

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="journal")

    def claim(self, row_id: int, job: T) -> None:
        """Queue ``row_id`` to be marked sending; ``on_claim(job, ...)`` follows its round."""
        if self._closing or self._refusing:
            self.on_claim(job, False)
            return
        self._claims.append((row_id, job))
        self._wake.set()

    def record(self, outcome: Outcome) -> None:
        """Queue an outcome; it is written in the next round."""
        self._outcomes.append(outcome)
        self._wake.set()

    @property
    def backlog(self) -> int:
        return len(self._claims) + len(self._outcomes)

    async def stop_claims(self) -> None:
        """Refuse claims from now on; wait for a round in flight (its claims may start)."""
        self._refusing = True
        queued, self._claims = self._claims, []
        for _, job in queued:
            self.on_claim(job, False)
        await self._between_rounds.wait()

    async def close(self) -> None:
        """Write everything queued, refuse new claims, and stop the writer."""
        self._closing = True
        self._wake.set()
        if self._task is not None:
            await self._task
            self._task = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        last = 0.0
        busy = False  # the last round was a big one
        while True:
            await self._wake.wait()
            self._wake.clear()
            if not self._claims and not self._outcomes:
                if self._closing:
                    return
                continue
            if busy and (wait := last + ROUND_GAP - loop.time()) > 0 and not self._closing:
                await asyncio.sleep(wait)
            last = loop.time()
            busy = len(self._claims) + len(self._outcomes) >= BUSY_ROUND
            self._between_rounds.clear()
            try:
                await self._round()
            finally:
                self._between_rounds.set()
            if self._claims or self._outcomes or self._closing:
                self._wake.set()

    async def _round(self) -> None:
        claims, self._claims = self._claims[:MAX_ROUND], self._claims[MAX_ROUND:]
        outcomes, self._outcomes = self._outcomes[:MAX_ROUND], self._outcomes[MAX_ROUND:]
        if self._closing:  # requests must not start once shutdown began
            for _, job in claims:
                self.on_claim(job, False)
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
            for _, job in claims:
                self.on_claim(job, False)
            if self._closing:  # shutting down: the rows stay sending, uncertain after restart
                self._outcomes.clear()
                return
            self._outcomes[:0] = outcomes
            await asyncio.sleep(RETRY_SECONDS)
            return
        self.outage.succeeded()
        self.rounds += 1
        for row_id, job in claims:
            self.on_claim(job, row_id in claimed)
        if outcomes:
            self.on_recorded(outcomes)
