"""When the posting outbox next has work: the earliest due post or ready delivery (one query)."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import func, select

from bot.store.models import Delivery, DeliveryStatus, Post, PostStatus
from bot.store.state import Store


def next_posting_work(store: Store, held: Collection[str] = ()) -> datetime | None:
    """The earliest ``due_at`` of a scheduled post or ``next_attempt_at`` of a pending delivery
    (except on ``held`` channels, which the outbox does not send: as ``ready_deliveries``)."""
    pending = select(func.min(Delivery.next_attempt_at)).where(
        Delivery.status == DeliveryStatus.PENDING
    )
    if held:
        pending = pending.where(Delivery.channel.not_in(list(held)))
    query = select(
        select(func.min(Post.due_at)).where(Post.status == PostStatus.SCHEDULED).scalar_subquery(),
        pending.scalar_subquery(),
    )
    with store.engine.connect() as connection:
        moments = [m for m in connection.execute(query).one() if m is not None]
    return min(moments) if moments else None
