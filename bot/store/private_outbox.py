"""Queries for the private-chat outbox (``messages``): stream, claim, record, recover, count."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Table,
    and_,
    bindparam,
    delete,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.store.models import Broadcast, CampaignState, DeliveryStatus, Message, Subscriber
from bot.store.replicas import duty_fence, owner_alive, owner_dead
from bot.store.state import Store

MESSAGES: Table = Message.__table__  # type: ignore[assignment]
SUBSCRIBERS: Table = Subscriber.__table__  # type: ignore[assignment]
CHUNK = 500  # ids per IN (...) list: well under every driver's parameter limit
UNCERTAIN_AFTER_RESTART = (
    "the worker stopped while this message was being sent; Telegram may or may not have "
    "delivered it, so it is not sent again"
)


@dataclass(slots=True)
class FeedRow:
    """A pending message as the fan-out needs it; ``active`` is the subscriber's state."""

    id: int
    chat_id: int
    item_id: str
    lang: str
    attempts: int
    kind: str
    broadcast_id: int | None
    expires_at: datetime | None
    active: bool | None
    waits: int = 0  # 429s met so far (in memory only)


@dataclass(slots=True)
class Outcome:
    """What became of one message; written in the next batch with the others."""

    id: int
    status: str
    chat_id: int
    attempts: int
    next_attempt_at: datetime
    error: str | None = None
    external_id: str | None = None
    deactivate: str | None = None  # reason, when the chat is gone for good


def _chunks(values: Sequence[int], size: int = CHUNK) -> Iterable[Sequence[int]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _insert_or_ignore(session: Session) -> Any:
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(MESSAGES)
    if dialect == "sqlite":
        return sqlite.insert(MESSAGES)
    raise NotImplementedError(f"no INSERT ... ON CONFLICT DO NOTHING for {dialect}")


_KEYED = MESSAGES.c.idempotency_key.is_not(None)
_UNKEYED = MESSAGES.c.idempotency_key.is_(None)


def chat_rows(chat_id: int) -> tuple[ColumnElement[bool], ColumnElement[bool]]:
    """Two conditions that find every message of ``chat_id`` between them, each through an
    index: its keyed rows (``ix_messages_keyed_chat``), and its broadcast rows through the
    pair index, one probe per broadcast (there is no index on the chat alone: it would
    take an entry for every recipient a selection writes). Run a statement once for each."""
    chat = MESSAGES.c.chat_id == chat_id
    every_broadcast = select(Broadcast.id).scalar_subquery()
    return (
        and_(_KEYED, chat),
        and_(_UNKEYED, MESSAGES.c.broadcast_id.in_(every_broadcast), chat),
    )


def delete_chat_messages(session: Session, chat_id: int) -> int:
    """Delete every message of ``chat_id`` (``/stop``, ``/forget``); return how many."""
    deleted = 0
    for rows in chat_rows(chat_id):
        deleted += session.execute(delete(MESSAGES).where(rows)).rowcount  # type: ignore[attr-defined]
    return deleted


def insert_messages(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Insert keyed message rows (reminders), skipping any whose key already exists."""
    if rows:
        statement = _insert_or_ignore(session).on_conflict_do_nothing(
            index_elements=["idempotency_key"], index_where=_KEYED
        )
        session.execute(statement, list(rows))


def insert_recipients(session: Session, columns: Sequence[str], query: Any) -> int:
    """Insert the broadcast rows ``query`` selects into ``columns`` (no key), skipping a
    recipient the broadcast already has; count them.

    On PostgreSQL a plain INSERT is tried first, in a savepoint: ON CONFLICT makes every row
    a speculative insertion (a probe of the pair index, then an insert and a confirmation),
    ~2 us a row of the ~8 us a selection spends writing one. The unique index still refuses
    a second row for a recipient; when it does (a chat that ``migrate_chat`` moved past the
    cursor, a selection started over), the batch is rolled back to the savepoint and written
    again skipping the recipients it has. SQLite checks the index before each row either way.
    """
    options = {"preserve_rowcount": True}
    if session.get_bind().dialect.name == "postgresql":
        try:
            with session.begin_nested():
                plain = insert(MESSAGES).from_select(list(columns), query)
                result = session.execute(plain, execution_options=options)
            return int(result.rowcount)  # type: ignore[attr-defined]
        except IntegrityError:
            pass  # rolled back to the savepoint; the rest of the transaction stands
    skipping = (
        _insert_or_ignore(session)
        .from_select(list(columns), query)
        .on_conflict_do_nothing(index_elements=["broadcast_id", "chat_id"], index_where=_UNKEYED)
    )
    result = session.execute(skipping, execution_options=options)
    return int(result.rowcount)  # type: ignore[attr-defined]


def feed(
    store: Store, broadcast_id: int | None, after: int, now: datetime, limit: int
) -> list[FeedRow]:
    """Return up to ``limit`` ready pending messages of one broadcast (None: reminders), by id."""
    source = MESSAGES.c.broadcast_id
    query = (
        select(
            MESSAGES.c.id,
            MESSAGES.c.chat_id,
            MESSAGES.c.item_id,
            MESSAGES.c.lang,
            MESSAGES.c.attempts,
            MESSAGES.c.kind,
            MESSAGES.c.broadcast_id,
            MESSAGES.c.expires_at,
            SUBSCRIBERS.c.active,
        )
        .select_from(MESSAGES.outerjoin(SUBSCRIBERS, SUBSCRIBERS.c.chat_id == MESSAGES.c.chat_id))
        .where(
            source.is_(None) if broadcast_id is None else source == broadcast_id,
            MESSAGES.c.status == DeliveryStatus.PENDING,
            MESSAGES.c.id > after,
            MESSAGES.c.next_attempt_at <= now,
        )
        .order_by(MESSAGES.c.id)
        .limit(limit)
    )
    with store.sessions() as session:
        return [FeedRow(*row) for row in session.execute(query)]


_RECORD = (
    update(MESSAGES)
    .where(
        MESSAGES.c.id == bindparam("row_id"),
        # Not ``in_``: an expanding parameter cannot be used with executemany.
        or_(
            MESSAGES.c.status == DeliveryStatus.PENDING,
            MESSAGES.c.status == DeliveryStatus.SENDING,
        ),
    )
    .values(
        status=bindparam("new_status"),
        chat_id=bindparam("new_chat"),
        attempts=bindparam("new_attempts"),
        next_attempt_at=bindparam("new_next"),
        error=bindparam("new_error"),
        external_id=bindparam("new_external"),
        updated_at=bindparam("now"),
    )
)


def _record(connection: Connection, outcomes: Sequence[Outcome], now: datetime) -> None:
    connection.execute(
        _RECORD,
        [
            {
                "row_id": o.id,
                "new_status": o.status,
                "new_chat": o.chat_id,
                "new_attempts": o.attempts,
                "new_next": o.next_attempt_at,
                "new_error": o.error,
                "new_external": o.external_id,
                "now": now,
            }
            for o in outcomes
        ],
    )
    gone: dict[str, list[int]] = defaultdict(list)
    for outcome in outcomes:
        if outcome.deactivate:
            gone[outcome.deactivate].append(outcome.chat_id)
    for reason, chats in gone.items():
        for chunk in _chunks(chats):
            connection.execute(
                update(SUBSCRIBERS)
                .where(SUBSCRIBERS.c.chat_id.in_(chunk))
                .values(
                    active=False, inactive_reason=reason, next_reminder_at=None, updated_at=now
                )
            )


_PENDING = (
    # ``status || ''``: not a column SQLite can search, so it finds the ids by primary key
    # instead of walking every pending row through the status index (a scan per round).
    MESSAGES.c.status.concat("") == DeliveryStatus.PENDING.value
)


def claim_messages(
    connection: Connection,
    ids: Sequence[int],
    now: datetime,
    owner: str | None = None,
    fence: Sequence[Any] = (),
) -> set[int]:
    """Mark the still pending messages among ``ids`` as sending by ``owner``; return those
    claimed.

    The one place a private message becomes ``sending``: its request starts right after the
    transaction commits. A row no longer pending (a cancelled broadcast's, or one another
    process took) is not claimed, so it is never sent; ``fence`` adds the owner's lease and
    duty conditions (replicas).
    """
    statement = (
        update(MESSAGES)
        .where(MESSAGES.c.id.in_(bindparam("ids", expanding=True)), _PENDING, *fence)
        .values(
            status=DeliveryStatus.SENDING,
            attempts=MESSAGES.c.attempts + 1,
            owner=owner,
            updated_at=now,
        )
        .returning(MESSAGES.c.id)
    )
    claimed: set[int] = set()
    for chunk in _chunks(ids):
        claimed.update(connection.execute(statement, {"ids": list(chunk)}).scalars())
    return claimed


def write_round(
    store: Store,
    claims: Sequence[int],
    outcomes: Sequence[Outcome],
    now: datetime,
    owner: str | None = None,
    alive_since: datetime | None = None,
    duty: tuple[str, int] | None = None,
) -> set[int]:
    """Record outcomes, then claim ``claims`` by ``owner`` (``claim_messages``); return the
    ids claimed.

    One transaction on a plain connection (Core statements, no ORM objects). A claim succeeds
    only for a row still pending; with ``alive_since``, only while the owner's heartbeat is
    that recent (a process that lost its lease claims nothing); with ``duty`` (name, token),
    only while the owner holds that duty with that fencing token.
    """
    fence = [owner_alive(owner, alive_since)] if alive_since is not None else []
    if duty is not None:
        fence.append(duty_fence(duty[0], owner, duty[1], now))
    with store.engine.begin() as connection:
        if outcomes:
            _record(connection, outcomes, now)
        return claim_messages(connection, claims, now, owner, fence) if claims else set()


def recover_sending(
    store: Store, now: datetime, silent_since: datetime | None = None
) -> dict[int | None, int]:
    """Turn messages left ``sending`` by a dead process into ``uncertain``; count them per
    broadcast. A process is dead once it has not beaten since ``silent_since`` (None: every
    process, as when the only process there can be is starting)."""
    with store.sessions.begin() as session:
        taken = session.execute(
            update(MESSAGES)
            .where(
                MESSAGES.c.status == DeliveryStatus.SENDING,
                owner_dead(MESSAGES.c.owner, silent_since),
            )
            .values(
                status=DeliveryStatus.UNCERTAIN,
                error=UNCERTAIN_AFTER_RESTART,
                updated_at=now,
            )
            .returning(MESSAGES.c.broadcast_id)
        )
        counts: dict[int | None, int] = defaultdict(int)
        for broadcast in taken.scalars():
            counts[broadcast] += 1
    return dict(counts)


def status_counts(store: Store, broadcast_id: int | None) -> dict[str, int]:
    """Count one broadcast's messages (None: reminders) by status."""
    source = MESSAGES.c.broadcast_id
    with store.sessions() as session:
        rows = session.execute(
            select(MESSAGES.c.status, func.count())
            .where(source.is_(None) if broadcast_id is None else source == broadcast_id)
            .group_by(MESSAGES.c.status)
        )
        return {status: int(count) for status, count in rows}


def unfinished(store: Store, broadcast_id: int) -> int:
    """Count a broadcast's messages not yet in a final state (pending or sending)."""
    with store.sessions() as session:
        count = session.scalar(
            select(func.count()).where(
                MESSAGES.c.broadcast_id == broadcast_id,
                MESSAGES.c.status.in_([DeliveryStatus.PENDING, DeliveryStatus.SENDING]),
            )
        )
    return int(count or 0)


@dataclass(frozen=True)
class Pulse:
    """What an idle fan-out looks at to decide whether there is work (one small query)."""

    paused: bool
    broadcasts: tuple[int, int, datetime | None]  # active ones: count, sum of ids, last change
    next_due: datetime | None  # the earliest pending message's next attempt

    def changed(self, other: Pulse | None) -> bool:
        return other is None or (self.paused, self.broadcasts) != (
            other.paused,
            other.broadcasts,
        )


def pulse(store: Store, active: Sequence[str]) -> Pulse:
    """Read the pause flag, the active broadcasts' fingerprint and the next due message."""
    state: Table = CampaignState.__table__  # type: ignore[assignment]
    broadcasts: Table = Broadcast.__table__  # type: ignore[assignment]
    active_broadcasts = broadcasts.c.status.in_(list(active))
    query = select(
        select(state.c.paused).where(state.c.id == 1).scalar_subquery(),
        select(func.count()).where(active_broadcasts).scalar_subquery(),
        select(func.coalesce(func.sum(broadcasts.c.id), 0))
        .where(active_broadcasts)
        .scalar_subquery(),
        select(func.max(broadcasts.c.updated_at)).where(active_broadcasts).scalar_subquery(),
        select(func.min(MESSAGES.c.next_attempt_at))
        .where(MESSAGES.c.status == DeliveryStatus.PENDING)
        .scalar_subquery(),
    )
    with store.engine.connect() as connection:
        paused, count, ids, changed, due = connection.execute(query).one()
    return Pulse(bool(paused), (int(count), int(ids), changed), due)
