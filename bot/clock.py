"""Time as a dependency: the system clock in production, a fixed one in tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """Tells the current time, always timezone-aware UTC."""

    def now(self) -> datetime: ...


class SystemClock:
    """The real time."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class FixedClock:
    """A clock that moves only when told to."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("FixedClock needs an aware datetime")
        self.current = start.astimezone(UTC)

    def now(self) -> datetime:
        return self.current

    def advance(self, **delta: float) -> datetime:
        self.current += timedelta(**delta)
        return self.current


def wait_for_due(due: datetime | None, now: datetime, *, most: float, overdue: float) -> float:
    """Seconds a poller sleeps before looking again: until ``due`` (the earliest work it knows
    of), at most ``most``; ``overdue`` when that work is due already and still there after the
    round that should have taken it (held, failing), ``most`` when there is none."""
    if due is None:
        return most
    until = (due - now).total_seconds()
    return min(most, until) if until > 0 else overdue
