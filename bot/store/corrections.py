"""Queries for corrections and retractions: skipping a withdrawn item's pending work, and the
correction deliveries that reply to its published posts."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.channels.base import DRY_RUN_PREFIX
from bot.store.audience import ACTIVE_BROADCAST, BroadcastStatus
from bot.store.models import (
    Broadcast,
    Delivery,
    DeliveryStatus,
    ItemStatusSeen,
    Message,
    Post,
    PostStatus,
)
from bot.store.state import Store


@dataclass(frozen=True)
class Skipped:
    """What a correction or retraction stopped: counts per kind of pending work."""

    posts: int = 0
    deliveries: int = 0
    broadcasts: int = 0
    broadcast_messages: int = 0
    reminders: int = 0

    @property
    def total(self) -> int:
        return self.posts + self.deliveries + self.broadcast_messages + self.reminders


def seen_statuses(store: Store) -> dict[str, str]:
    """Item id -> the state (corrected, retracted) the worker has already acted on."""
    with store.sessions() as session:
        return {row.item_id: row.state for row in session.scalars(select(ItemStatusSeen))}


def forget_status(store: Store, item_id: str) -> None:
    """The status was taken off the item: marking it again later skips its work again."""
    with store.sessions.begin() as session:
        session.execute(delete(ItemStatusSeen).where(ItemStatusSeen.item_id == item_id))


def withdraw_item(
    store: Store, item_id: str, state: str, reason: str, now: datetime
) -> Skipped | None:
    """Skip every pending post, delivery, broadcast and reminder of an item, once per status.

    Returns None when this status was already acted on (by this or another process).
    """
    try:
        with store.sessions.begin() as session:
            row = session.get(ItemStatusSeen, item_id, with_for_update=True)
            if row is not None and row.state == state:
                return None
            if row is None:
                session.add(ItemStatusSeen(item_id=item_id, state=state, seen_at=now))
                session.flush()
            else:
                row.state, row.seen_at = state, now
            return _skip_pending(session, item_id, reason, now)
    except IntegrityError:  # another process recorded it first
        return None


def _count(result: object) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


def _skip_pending(session: Session, item_id: str, reason: str, now: datetime) -> Skipped:
    posts = session.execute(
        update(Post)
        .where(Post.item_id == item_id, Post.status.in_([PostStatus.SCHEDULED, PostStatus.HELD]))
        .values(status=PostStatus.SKIPPED, reason=reason, updated_at=now)
    )
    deliveries = session.execute(
        update(Delivery)
        .where(
            Delivery.item_id == item_id,
            Delivery.status == DeliveryStatus.PENDING,
            Delivery.corrects_id.is_(None),  # the correction itself must still go out
        )
        .values(status=DeliveryStatus.SKIPPED, error=reason, updated_at=now)
    )
    broadcasts = session.execute(
        update(Broadcast)
        .where(Broadcast.item_id == item_id, Broadcast.status.in_(ACTIVE_BROADCAST))
        .values(status=BroadcastStatus.CANCELLED, finished_at=now, updated_at=now)
    )
    counts: dict[str, int] = {}
    for kind in ("broadcast", "reminder"):
        result = session.execute(
            update(Message)
            .where(
                Message.item_id == item_id,
                Message.kind == kind,
                Message.status == DeliveryStatus.PENDING,
            )
            .values(status=DeliveryStatus.SKIPPED, error=reason, updated_at=now)
        )
        counts[kind] = _count(result)
    return Skipped(
        posts=_count(posts),
        deliveries=_count(deliveries),
        broadcasts=_count(broadcasts),
        broadcast_messages=counts["broadcast"],
        reminders=counts["reminder"],
    )


def published_deliveries(store: Store, item_id: str) -> list[Delivery]:
    """The item's own deliveries that went out or may have (not dry runs, not corrections)."""
    with store.sessions() as session:
        rows = session.scalars(
            select(Delivery)
            .where(
                Delivery.item_id == item_id,
                Delivery.corrects_id.is_(None),
                Delivery.status.in_([DeliveryStatus.SENT, DeliveryStatus.UNCERTAIN]),
                func.coalesce(Delivery.external_id, "").not_like(f"{DRY_RUN_PREFIX}%"),
            )
            .order_by(Delivery.id)
        )
        return list(rows)


def corrections_of(store: Store, delivery_ids: list[int]) -> dict[int, Delivery]:
    """Original delivery id -> the correction delivery replying to it, where there is one."""
    if not delivery_ids:
        return {}
    with store.sessions() as session:
        rows = session.scalars(select(Delivery).where(Delivery.corrects_id.in_(delivery_ids)))
        return {row.corrects_id: row for row in rows if row.corrects_id is not None}


def get_delivery(store: Store, delivery_id: int) -> Delivery | None:
    with store.sessions() as session:
        return session.get(Delivery, delivery_id)


def queue_correction(
    store: Store, original: Delivery, actor: str, via: str, now: datetime
) -> Delivery | None:
    """Write the correction of one published delivery (its own post and outbox row).

    Returns None when that delivery already has a correction: one per original, ever.
    """
    post = Post(
        item_id=original.item_id,
        lang=original.lang,
        channels=original.target,
        due_at=now,
        status=PostStatus.DISPATCHED,
        reason=f"correction of delivery {original.id}",
        occurrence_key=f"correction:{original.id}",
        created_by=actor,
        created_at=now,
        updated_at=now,
    )
    try:
        with store.sessions.begin() as session:
            session.add(post)
            session.flush()
            delivery = Delivery(
                post_id=post.id,
                channel=original.channel,
                account=original.account,  # the reply comes from the account that posted
                item_id=original.item_id,
                lang=original.lang,
                idempotency_key=(f"campaign-bot-correction-{original.id}-{secrets.token_hex(8)}"),
                status=DeliveryStatus.PENDING,
                next_attempt_at=now,
                corrects_id=original.id,
                created_at=now,
                updated_at=now,
            )
            session.add(delivery)
            session.flush()
            store._audit(
                session,
                actor,
                via,
                "correct",
                {"item": original.item_id, "delivery": original.id, "correction": delivery.id},
                at=now,
            )
    except IntegrityError:
        return None
    return delivery
