"""Channel outcomes that wait for the database: written, and staff told, once it answers."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime

from bot.delivery.notify import Notifier
from bot.store import DeliveryStatus, Store
from bot.store.posts import finish_delivery


@dataclass(frozen=True)
class Conclusion:
    """A delivery's outcome after its claim, and the staff notice that goes with it."""

    delivery_id: int
    status: DeliveryStatus
    at: datetime
    values: dict[str, object] = field(default_factory=dict)
    notice: str | None = None


class UnwrittenOutcomes:
    """Writes outcomes in order; one the database refused waits in memory for the next try.

    A claimed delivery is ``sending`` until its outcome is written: if the database is down
    at that moment, the outcome (a post that went out, say) must not be forgotten, or the row
    would stay ``sending`` until a restart turned it ``uncertain``.
    """

    def __init__(self, store: Store, notifier: Notifier) -> None:
        self.store = store
        self.notifier = notifier
        self._queue: deque[Conclusion] = deque()

    def __len__(self) -> int:
        return len(self._queue)

    async def conclude(self, conclusion: Conclusion) -> None:
        """Write ``conclusion`` after any still waiting; raise if the database refuses."""
        self._queue.append(conclusion)
        await self.flush()

    async def flush(self) -> None:
        """Write the waiting outcomes, oldest first, and send their notices."""
        while self._queue:
            first = self._queue[0]
            finish_delivery(self.store, first.delivery_id, first.status, first.at, **first.values)
            self._queue.popleft()
            if first.notice is not None:
                await self.notifier.notify_staff(first.notice)
