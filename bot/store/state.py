"""Campaign state (paused or running), the audit log and channel login sessions."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from bot.store.commits import CommitCounter
from bot.store.database import make_engine, make_sessionmaker, upgrade
from bot.store.models import AuditEntry, CampaignState, ChannelSession


def utc_now() -> datetime:
    """The wall-clock time, for rows stamped without a worker clock at hand."""
    return datetime.now(UTC)


class Store:
    """The database: an engine, sessions, and the small state every part shares."""

    def __init__(self, url: str | None = None, *, engine: Engine | None = None) -> None:
        if engine is None:
            if url is None:
                raise ValueError("Store needs a URL or an engine")
            engine = make_engine(url)
        self.engine = engine
        self.sessions: sessionmaker[Session] = make_sessionmaker(engine)
        self.migrated: tuple[str | None, str | None] | None = None  # set by upgrade()
        self._watchers: list[Callable[[], None]] = []
        self.commits = CommitCounter(engine)  # SQLite: did anyone commit since a last look?

    def watch(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` (from any thread) after this process queues work or pauses."""
        self._watchers.append(callback)

    def unwatch(self, callback: Callable[[], None]) -> None:
        if callback in self._watchers:
            self._watchers.remove(callback)

    def changed(self) -> None:
        """Tell the watchers that broadcasts, the pause or the outbox changed."""
        for callback in list(self._watchers):
            callback()

    def upgrade(self) -> None:
        """Bring the schema up to date; ``migrated`` tells from and to which revision."""
        self.migrated = upgrade(self.engine)

    def close(self) -> None:
        self.commits.close()
        self.engine.dispose()

    # Campaign state: the kill switch.

    def is_paused(self) -> bool:
        with self.sessions() as session:
            state = session.get(CampaignState, 1)
            return bool(state and state.paused)

    def set_paused(
        self, paused: bool, actor: str, via: str, at: datetime | None = None, reason: str = ""
    ) -> bool:
        """Pause or resume (at ``at``, default now); return False when it already was so."""
        at = at or utc_now()
        with self.sessions.begin() as session:
            state = session.get(CampaignState, 1, with_for_update=True)
            if state is None:
                state = CampaignState(id=1, paused=False)
                session.add(state)
            if state.paused == paused:
                return False
            state.paused = paused
            state.changed_by = actor
            state.changed_at = at
            detail = {"reason": reason} if reason else {}
            self._audit(session, actor, via, "pause" if paused else "resume", detail, at=at)
        self.changed()
        return True

    def was_paused_at(self, moment: datetime) -> bool:
        """Whether the campaign was paused at ``moment``, from the audit log's pauses and
        resumes: a post that fell due while paused is skipped even when the campaign was
        resumed before the worker saw it (the worker was down meanwhile)."""
        with self.sessions() as session:
            last = session.scalar(
                select(AuditEntry.action)
                .where(
                    AuditEntry.action.in_(("pause", "resume")),
                    AuditEntry.allowed.is_(True),
                    AuditEntry.at <= moment,
                )
                .order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
                .limit(1)
            )
        return last == "pause"

    # Audit log.

    def audit(
        self, actor: str, via: str, action: str, detail: dict[str, Any], allowed: bool = True
    ) -> None:
        with self.sessions.begin() as session:
            self._audit(session, actor, via, action, detail, allowed)

    @staticmethod
    def _audit(
        session: Session,
        actor: str,
        via: str,
        action: str,
        detail: dict[str, Any],
        allowed: bool = True,
        at: datetime | None = None,
    ) -> None:
        session.add(
            AuditEntry(
                at=at or utc_now(),
                actor=actor,
                via=via,
                action=action,
                detail=json.dumps(detail, ensure_ascii=False, default=str),
                allowed=allowed,
            )
        )

    def audit_log(self, limit: int = 100) -> list[AuditEntry]:
        with self.sessions() as session:
            rows = session.scalars(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit))
            return list(rows)

    # Channel sessions (the SessionStore protocol).

    def load(self, channel: str) -> str | None:
        with self.sessions() as session:
            row = session.get(ChannelSession, channel)
            return row.session if row else None

    def save(self, channel: str, session_string: str) -> None:
        with self.sessions.begin() as session:
            row = session.get(ChannelSession, channel)
            if row is None:
                session.add(
                    ChannelSession(channel=channel, session=session_string, updated_at=utc_now())
                )
            else:
                row.session = session_string
                row.updated_at = utc_now()
