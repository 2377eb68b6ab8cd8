"""Queries for one supporter: consent, settings, stop, forget, deactivation, chat migration."""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from bot.store.models import (
    SUBSCRIBER_DEFAULTS,
    ActionCount,
    DeliveryStatus,
    Message,
    Subscriber,
)
from bot.store.private_outbox import chat_rows, delete_chat_messages
from bot.store.state import Store, utc_now

EDITABLE = frozenset(
    {
        "language",
        "topics",
        "reminder",
        "reminder_time",
        "reminder_weekday",
        "time_zone",
        "next_reminder_at",
        "last_reminded_on",
    }
)


def get_subscriber(store: Store, chat_id: int) -> Subscriber | None:
    with store.sessions() as session:
        return session.get(Subscriber, chat_id)


def consent(store: Store, chat_id: int, **defaults: Any) -> Subscriber:
    """Record consent and activate; a returning supporter keeps nothing from before /forget."""
    now = utc_now()
    with store.sessions.begin() as session:
        row = session.get(Subscriber, chat_id)
        if row is None:
            row = Subscriber(chat_id=chat_id, created_at=now, updated_at=now, **defaults)
            session.add(row)
        else:
            for key, value in defaults.items():
                setattr(row, key, value)
        row.consented_at = now
        row.active = True
        row.opted_out = False
        row.inactive_reason = None
        row.updated_at = now
    return row


def update_subscriber(store: Store, chat_id: int, **changes: Any) -> Subscriber | None:
    """Change a supporter's settings; unknown fields are a programming error."""
    unknown = set(changes) - EDITABLE
    if unknown:
        raise ValueError(f"not editable: {', '.join(sorted(unknown))}")
    with store.sessions.begin() as session:
        row = session.get(Subscriber, chat_id)
        if row is None:
            return None
        for key, value in changes.items():
            setattr(row, key, value)
        row.updated_at = utc_now()
    return row


def stop(store: Store, chat_id: int) -> bool:
    """Unsubscribe: keep only the chat id with an opt-out marker."""
    now = utc_now()
    with store.sessions.begin() as session:
        row = session.get(Subscriber, chat_id)
        if row is None:
            return False
        row.active = False
        row.opted_out = True
        row.inactive_reason = "stopped"
        # Nothing else about them is kept: their choices go back to the defaults.
        for column, value in SUBSCRIBER_DEFAULTS.items():
            setattr(row, column, value)
        row.reminder = "off"
        row.consented_at = None
        row.next_reminder_at = None
        row.last_reminded_on = None
        row.updated_at = now
        delete_chat_messages(session, chat_id)
    return True


def forget(store: Store, chat_id: int) -> int:
    """Delete every row about a supporter (settings and queued messages); return rows deleted."""
    with store.sessions.begin() as session:
        messages = delete_chat_messages(session, chat_id)
        settings = session.execute(delete(Subscriber).where(Subscriber.chat_id == chat_id))
        return int(messages + settings.rowcount)  # type: ignore[attr-defined]


def deactivate(store: Store, chat_id: int, reason: str) -> None:
    """Stop sending to a chat that blocked the bot or no longer exists."""
    with store.sessions.begin() as session:
        session.execute(
            update(Subscriber)
            .where(Subscriber.chat_id == chat_id)
            .values(
                active=False, inactive_reason=reason, next_reminder_at=None, updated_at=utc_now()
            )
        )


def migrate_chat(store: Store, old: int, new: int) -> None:
    """Move a supporter to the new id Telegram gave their chat, and their messages with them.

    A broadcast that has a row for the new id already keeps that one (a broadcast reaches a
    chat once): the old id's row stays behind, skipped if it was not sent yet.
    """
    now = utc_now()
    with store.sessions.begin() as session:
        if session.get(Subscriber, new) is None:
            session.execute(
                update(Subscriber)
                .where(Subscriber.chat_id == old)
                .values(chat_id=new, updated_at=now)
            )
        old_keyed, old_broadcasts = chat_rows(old)
        _, new_broadcasts = chat_rows(new)
        there = select(Message.broadcast_id).where(new_broadcasts)  # broadcasts it has
        session.execute(
            update(Message)
            .where(
                old_broadcasts,
                Message.broadcast_id.in_(there),
                # ``|| ''``: not a column SQLite would search (through every unsent row of
                # each broadcast) instead of the pair index.
                Message.status.concat("").in_([DeliveryStatus.PENDING, DeliveryStatus.SENDING]),
            )
            .values(
                status=DeliveryStatus.SKIPPED,
                error=f"the chat moved to {new}, which has this broadcast already",
                updated_at=now,
            )
        )
        session.execute(update(Message).where(old_keyed).values(chat_id=new))
        session.execute(
            update(Message)
            .where(old_broadcasts, Message.broadcast_id.not_in(there))
            .values(chat_id=new)
        )


def count_action(store: Store, item_id: str, day: str) -> None:
    """Count one supporter action on an item (aggregate only: no chat id kept)."""
    with store.sessions.begin() as session:
        row = session.get(ActionCount, (item_id, day), with_for_update=True)
        if row is None:
            session.add(ActionCount(item_id=item_id, day=day, count=1))
        else:
            row.count += 1


def _count(session: Session, active: bool) -> int:
    return int(session.scalar(select(func.count()).where(Subscriber.active.is_(active))) or 0)


def count_active(store: Store) -> int:
    """How many supporters are active (one count, not the whole of ``subscriber_stats``)."""
    with store.sessions() as session:
        return _count(session, True)


def subscriber_stats(store: Store) -> dict[str, Any]:
    """Active and inactive counts, and active supporters by language and by topic."""
    with store.sessions() as session:
        active = _count(session, True)
        inactive = _count(session, False)
        languages = dict(
            session.execute(
                select(Subscriber.language, func.count())
                .where(Subscriber.active.is_(True))
                .group_by(Subscriber.language)
            ).all()
        )
        topics: Counter[str] = Counter()
        for (value,) in session.execute(
            select(Subscriber.topics).where(Subscriber.active.is_(True))
        ).yield_per(10_000):
            topics.update(value.split())
    return {
        "active": int(active),
        "inactive": int(inactive),
        "by_language": {k: int(v) for k, v in languages.items()},
        "by_topic": dict(sorted(topics.items())),
    }
