"""Staff's second chance for a broadcast's uncertain recipients: queue them again."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update

from bot.store.audience import BroadcastError, BroadcastStatus
from bot.store.models import Broadcast, DeliveryStatus
from bot.store.private_outbox import MESSAGES
from bot.store.state import Store


def requeue_uncertain(store: Store, broadcast_id: int, actor: str, via: str, now: datetime) -> int:
    """Make a broadcast's uncertain messages pending again (sent once more); count them.

    A finished broadcast goes back to ``sending`` so the worker picks it up; a cancelled one
    is refused. One transaction, audited.
    """
    with store.sessions.begin() as session:
        broadcast = session.get(Broadcast, broadcast_id, with_for_update=True)
        if broadcast is None:
            raise BroadcastError(
                f"no broadcast with id {broadcast_id}; see `campaign-bot broadcasts`"
            )
        if broadcast.status == BroadcastStatus.CANCELLED:
            raise BroadcastError(f"broadcast {broadcast_id} was cancelled; nothing re-sent")
        result = session.execute(
            update(MESSAGES)
            .where(
                MESSAGES.c.broadcast_id == broadcast_id,
                MESSAGES.c.status == DeliveryStatus.UNCERTAIN,
            )
            .values(
                status=DeliveryStatus.PENDING,
                next_attempt_at=now,
                error=f"re-sent by {actor} after an uncertain attempt",
                updated_at=now,
            )
        )
        count = int(result.rowcount)  # type: ignore[attr-defined]
        if count and broadcast.status == BroadcastStatus.DONE:
            broadcast.status = BroadcastStatus.SENDING
            broadcast.finished_at = None
            broadcast.updated_at = now
        detail = {"broadcast": broadcast_id, "recipients": count}
        store._audit(session, actor, via, "resend-uncertain", detail, at=now)
    if count:
        store.changed()
    return count
