"""Read-only queries behind the dashboard's pages and /metrics: aggregates and filtered lists."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import case, func, select

from bot.store.models import (
    ActionCount,
    AuditEntry,
    Delivery,
    DeliveryStatus,
    Message,
    Post,
    PostStatus,
    Subscriber,
)
from bot.store.state import Store

PROBLEMS = (DeliveryStatus.FAILED, DeliveryStatus.UNCERTAIN, DeliveryStatus.MISSED)


def pause_reason(store: Store) -> str:
    """The reason given with the latest pause, if any."""
    with store.sessions() as session:
        detail = session.scalar(
            select(AuditEntry.detail)
            .where(AuditEntry.action == "pause", AuditEntry.allowed.is_(True))
            .order_by(AuditEntry.id.desc())
            .limit(1)
        )
    if not detail:
        return ""
    return str(json.loads(detail).get("reason", ""))


def find_deliveries(
    store: Store,
    *,
    status: str | None = None,
    channel: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 200,
) -> list[Delivery]:
    """Deliveries matching the filters: failed, uncertain and missed first, then newest."""
    problem_first = case((Delivery.status.in_(list(PROBLEMS)), 0), else_=1)
    query = select(Delivery).order_by(problem_first, Delivery.updated_at.desc(), Delivery.id)
    if status:
        query = query.where(Delivery.status == status)
    if channel:
        query = query.where(Delivery.channel == channel)
    if since is not None:
        query = query.where(Delivery.updated_at >= since)
    if until is not None:
        query = query.where(Delivery.updated_at < until)
    with store.sessions() as session:
        return list(session.scalars(query.limit(limit)))


def deliveries_of(store: Store, post_ids: Iterable[int]) -> dict[int, list[Delivery]]:
    """The deliveries of some posts, by post id."""
    ids = list(post_ids)
    found: dict[int, list[Delivery]] = {}
    if not ids:
        return found
    with store.sessions() as session:
        for row in session.scalars(
            select(Delivery).where(Delivery.post_id.in_(ids)).order_by(Delivery.id)
        ):
            found.setdefault(row.post_id, []).append(row)
    return found


def deliveries_by_channel(store: Store) -> dict[tuple[str, str], int]:
    """Count channel deliveries by (channel, status)."""
    with store.sessions() as session:
        rows = session.execute(
            select(Delivery.channel, Delivery.status, func.count()).group_by(
                Delivery.channel, Delivery.status
            )
        )
        return {(channel, status): int(n) for channel, status, n in rows}


def queue_depth(store: Store) -> dict[str, int]:
    """Posts waiting (scheduled or held) and private messages waiting to be sent."""
    with store.sessions() as session:
        posts = session.scalar(
            select(func.count()).where(Post.status.in_([PostStatus.SCHEDULED, PostStatus.HELD]))
        )
        messages = session.scalar(
            select(func.count()).where(Message.status == DeliveryStatus.PENDING)
        )
    return {"posts": int(posts or 0), "messages": int(messages or 0)}


def subscriber_days(store: Store) -> tuple[dict[str, int], dict[str, int]]:
    """Supporters who joined and who stopped, per UTC day (stopped: day of the last change)."""
    joined: dict[str, int] = {}
    stopped: dict[str, int] = {}
    with store.sessions() as session:
        for created, updated, active in session.execute(
            select(Subscriber.created_at, Subscriber.updated_at, Subscriber.active)
        ).yield_per(10_000):
            day = created.date().isoformat()
            joined[day] = joined.get(day, 0) + 1
            if not active:
                end = updated.date().isoformat()
                stopped[end] = stopped.get(end, 0) + 1
    return joined, stopped


def reminder_settings(store: Store) -> dict[str, int]:
    """Active supporters by reminder frequency."""
    with store.sessions() as session:
        rows = session.execute(
            select(Subscriber.reminder, func.count())
            .where(Subscriber.active.is_(True))
            .group_by(Subscriber.reminder)
        )
        return {reminder: int(n) for reminder, n in rows}


def action_totals(store: Store) -> dict[str, int]:
    """'I did it' presses per item, most first."""
    with store.sessions() as session:
        rows = session.execute(
            select(ActionCount.item_id, func.sum(ActionCount.count))
            .group_by(ActionCount.item_id)
            .order_by(func.sum(ActionCount.count).desc())
        )
        return {item: int(n or 0) for item, n in rows}
