"""Queries for replicas: process heartbeats, the owners of rows in flight, and duty leases."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Table,
    and_,
    delete,
    exists,
    insert,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from bot.store.models import Duty, Process
from bot.store.state import Store

PROCESSES: Table = Process.__table__  # type: ignore[assignment]
DUTIES: Table = Duty.__table__  # type: ignore[assignment]


def owner_alive(owner: Any, since: datetime) -> ColumnElement[bool]:
    """True where ``owner`` names a process that has beaten since ``since``."""
    return exists().where(PROCESSES.c.id == owner, PROCESSES.c.heartbeat_at >= since)


def owner_dead(owner: Any, since: datetime | None) -> ColumnElement[bool]:
    """True where ``owner`` is nobody, or a process silent since ``since`` (None: anyone)."""
    if since is None:
        return true()
    return or_(owner.is_(None), ~owner_alive(owner, since))


def duty_fence(name: str, holder: Any, token: int, now: datetime) -> ColumnElement[bool]:
    """True while ``holder`` holds duty ``name`` with ``token`` (the fencing token)."""
    return exists().where(
        DUTIES.c.name == name,
        DUTIES.c.holder == holder,
        DUTIES.c.token == token,
        DUTIES.c.expires_at > now,
    )


def register(store: Store, identity: str, host: str, pid: int, now: datetime) -> None:
    """Add this process with a fresh heartbeat (again, after it lost its lease)."""
    with store.sessions.begin() as session:
        moved = session.execute(
            update(PROCESSES).where(PROCESSES.c.id == identity).values(heartbeat_at=now)
        ).rowcount  # type: ignore[attr-defined]
        if not moved:
            session.execute(
                insert(PROCESSES).values(
                    id=identity, host=host, pid=pid, started_at=now, heartbeat_at=now
                )
            )


@dataclass(frozen=True)
class Renewal:
    """What one heartbeat found: whether this process's row was still there (False: others
    took over, nothing was renewed), the duties renewed, and the processes it removed."""

    kept: bool
    renewed: frozenset[str] = frozenset()
    reaped: tuple[tuple[str, datetime], ...] = ()


def renew(
    store: Store,
    identity: str,
    now: datetime,
    held: dict[str, int],
    lease: timedelta,
    reap_before: datetime | None = None,
) -> Renewal:
    """A heartbeat, the renewal of the duties this process holds (``held``: name and token)
    and, with ``reap_before``, the removal of processes silent since then, in one transaction.
    A duty missing from ``renewed`` was taken over, or its lease ran out: ``take_duty`` says
    which."""
    with store.engine.begin() as connection:
        kept = connection.execute(
            update(PROCESSES).where(PROCESSES.c.id == identity).values(heartbeat_at=now)
        ).rowcount
        if not kept:
            return Renewal(False)
        renewed: set[str] = set()
        if held:
            renewed.update(
                connection.execute(
                    update(DUTIES)
                    .where(
                        DUTIES.c.holder == identity,
                        DUTIES.c.expires_at > now,
                        or_(
                            *(
                                and_(DUTIES.c.name == n, DUTIES.c.token == t)
                                for n, t in held.items()
                            )
                        ),
                    )
                    .values(renewed_at=now, expires_at=now + lease)
                    .returning(DUTIES.c.name)
                ).scalars()
            )
        reaped = _reap(connection, reap_before) if reap_before is not None else []
        return Renewal(True, frozenset(renewed), tuple(reaped))


def reap(store: Store, since: datetime) -> list[tuple[str, datetime]]:
    """Remove processes silent since ``since``; return their ids and last heartbeats."""
    with store.engine.begin() as connection:
        return _reap(connection, since)


def _reap(connection: Connection, since: datetime) -> list[tuple[str, datetime]]:
    removed = connection.execute(
        delete(PROCESSES)
        .where(PROCESSES.c.heartbeat_at < since)
        .returning(PROCESSES.c.id, PROCESSES.c.heartbeat_at)
    )
    return [(identity, at) for identity, at in removed]


def forget_others(store: Store, identity: str, now: datetime) -> list[str]:
    """Remove every process but this one, and end the duties they held, at ``now`` (SQLite:
    this is the only process there can be, so it takes them at once)."""
    with store.sessions.begin() as session:
        gone = list(
            session.scalars(
                delete(PROCESSES).where(PROCESSES.c.id != identity).returning(PROCESSES.c.id)
            )
        )
        session.execute(
            update(DUTIES)
            .where(DUTIES.c.holder != identity, DUTIES.c.expires_at > now)
            .values(expires_at=now)
        )
        return gone


def unregister(store: Store, identity: str, release_at: datetime) -> None:
    """Remove this process (a clean stop); the duties it holds pass on at ``release_at``."""
    with store.sessions.begin() as session:
        session.execute(delete(PROCESSES).where(PROCESSES.c.id == identity))
        session.execute(
            update(DUTIES).where(DUTIES.c.holder == identity).values(expires_at=release_at)
        )


def live_processes(store: Store, since: datetime) -> list[Process]:
    """The processes that have beaten since ``since``, oldest first."""
    with store.sessions() as session:
        return list(
            session.scalars(
                select(Process).where(Process.heartbeat_at >= since).order_by(Process.started_at)
            )
        )


@dataclass(frozen=True)
class Grant:
    """A duty held after ``take_duty``: the token, and who held it before, if anyone else."""

    token: int
    taken_from: str | None = None
    silent_for: timedelta | None = None  # since the previous holder last renewed

    @property
    def new(self) -> bool:
        return self.silent_for is not None


def take_duty(
    store: Store, name: str, holder: str, now: datetime, lease: timedelta
) -> Grant | None:
    """Renew ``name`` for ``holder``, or take it over if its lease ran out; None if held."""
    with store.sessions.begin() as session:
        _add_duty(session, name)
        row = session.execute(
            select(DUTIES.c.holder, DUTIES.c.token, DUTIES.c.renewed_at, DUTIES.c.expires_at)
            .where(DUTIES.c.name == name)
            .with_for_update()
        ).one()
        mine = row.holder == holder
        expired = row.holder is None or row.expires_at is None or row.expires_at <= now
        if not mine and not expired:
            return None
        token = row.token if mine else row.token + 1
        guard = DUTIES.c.token == row.token  # a compare-and-set, SQLite included
        moved = session.execute(
            update(DUTIES)
            .where(DUTIES.c.name == name, guard)
            .values(holder=holder, token=token, renewed_at=now, expires_at=now + lease)
        ).rowcount  # type: ignore[attr-defined]
        if not moved:
            return None
    if mine:
        return Grant(token)
    silent = now - row.renewed_at if row.renewed_at is not None else timedelta(0)
    return Grant(token, row.holder, silent)


def _add_duty(session: Session, name: str) -> None:
    dialect = session.get_bind().dialect.name
    module: Any = postgresql if dialect == "postgresql" else sqlite
    session.execute(
        module.insert(DUTIES).values(name=name, holder=None, token=0).on_conflict_do_nothing()
    )


def duty_holder(store: Store, name: str, now: datetime) -> tuple[str, int] | None:
    """Who holds ``name`` now, with the token, if anyone does."""
    with store.sessions() as session:
        row = session.execute(
            select(DUTIES.c.holder, DUTIES.c.token).where(
                DUTIES.c.name == name, DUTIES.c.expires_at > now, DUTIES.c.holder.is_not(None)
            )
        ).one_or_none()
    return None if row is None else (row.holder, row.token)
