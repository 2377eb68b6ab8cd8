"""The fan-out's tuning: rates, concurrency, page and batch sizes, and how long it waits."""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.delivery.outcomes import RetryPolicy


@dataclass(frozen=True)
class FanOutOptions:
    """Tuning; the defaults suit production, tests shorten the waits."""

    rate: float = 25.0  # free lane (reminders and free broadcasts), messages/s
    paid_rate: float = 1000.0  # paid lane, when a paid broadcast names no rate
    concurrency: int = 200  # requests in flight at most
    page: int = 500  # rows read from the database at a time
    selection_batch: int = 20_000  # subscribers looked at per selection transaction
    refresh: float = 0.5  # seconds between looks at broadcasts, pause and blackouts, when busy
    # When idle, one small query this often notices work other processes queued (a broadcast
    # from the CLI, a resume); work queued in this process wakes it at once (``poke``), and
    # a message due later (a reminder, a retry) when it falls due.
    poll: float = 5.0
    rescan: float = 1.0  # seconds before a busy fan-out reads an exhausted feed again
    db_retry: float = 1.0  # seconds before a lane tries again after a database error
    retry: RetryPolicy = field(default_factory=RetryPolicy)
