"""Blackout windows added by staff at run time, beside the ones in the campaign config."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import Integer, String, select
from sqlalchemy.orm import Mapped, mapped_column

from bot.store.models import Base, UTCDateTime
from bot.store.state import Store


class BlackoutWindow(Base):
    """A time when nothing is published or sent (a staff decision, with its reason)."""

    __tablename__ = "blackout_windows"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    start: Mapped[datetime] = mapped_column(UTCDateTime)
    end: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    reason: Mapped[str] = mapped_column(String(200), default="")
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


def add_blackout(
    store: Store, start: datetime, end: datetime, reason: str, actor: str, via: str, now: datetime
) -> BlackoutWindow:
    """Record a blackout window and audit it."""
    window = BlackoutWindow(start=start, end=end, reason=reason, created_by=actor, created_at=now)
    with store.sessions.begin() as session:
        session.add(window)
        session.flush()
        store._audit(
            session,
            actor,
            via,
            "blackout",
            {
                "id": window.id,
                "start": start.isoformat(),
                "end": end.isoformat(),
                "reason": reason,
            },
            at=now,
        )
    return window


def stored_blackouts(store: Store, since: datetime) -> list[BlackoutWindow]:
    """The stored windows that end after ``since``, soonest first."""
    with store.sessions() as session:
        rows = session.scalars(
            select(BlackoutWindow)
            .where(BlackoutWindow.end > since)
            .order_by(BlackoutWindow.start, BlackoutWindow.id)
        )
        return list(rows)


def window_at(windows: Iterable[BlackoutWindow], moment: datetime) -> BlackoutWindow | None:
    """The window of ``windows`` that ``moment`` falls in (the latest to end), if any: what
    ``stored_blackout_at`` asks the database, for windows loaded once."""
    found = [window for window in windows if window.start <= moment < window.end]
    return max(found, key=lambda window: window.end, default=None)


def stored_blackout_at(store: Store, moment: datetime) -> BlackoutWindow | None:
    """The stored window ``moment`` falls in, if any."""
    with store.sessions() as session:
        return session.scalar(
            select(BlackoutWindow)
            .where(BlackoutWindow.start <= moment, BlackoutWindow.end > moment)
            .order_by(BlackoutWindow.end.desc())
            .limit(1)
        )
