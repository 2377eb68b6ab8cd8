"""Queries for posts, their deliveries and the schedule rules' progress."""

from __future__ import annotations

import secrets
from collections.abc import Collection, Iterable, Sequence
from datetime import datetime

from sqlalchemy import case, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.channels.base import DRY_RUN_PREFIX
from bot.store.models import Delivery, DeliveryStatus, Post, PostStatus, RuleState
from bot.store.replicas import owner_alive, owner_dead
from bot.store.state import Store, utc_now


class PostError(Exception):
    """A post cannot be changed the way someone asked; the message says why."""


def create_post(
    store: Store,
    *,
    item_id: str,
    lang: str,
    channels: Sequence[str],
    due_at: datetime,
    created_by: str,
    via: str,
    rule_id: str | None = None,
    occurrence_key: str | None = None,
    needs_approval: bool = False,
    status: PostStatus = PostStatus.SCHEDULED,
    reason: str | None = None,
) -> Post | None:
    """Insert a post; return None when its occurrence key already exists."""
    now = utc_now()
    post = Post(
        item_id=item_id,
        lang=lang,
        channels=" ".join(channels),
        due_at=due_at,
        status=status,
        reason=reason,
        rule_id=rule_id,
        occurrence_key=occurrence_key,
        created_by=created_by,
        needs_approval=needs_approval,
        created_at=now,
        updated_at=now,
    )
    try:
        with store.sessions.begin() as session:
            session.add(post)
            session.flush()
            if rule_id is None:
                store._audit(
                    session,
                    created_by,
                    via,
                    "post",
                    {
                        "post": post.id,
                        "item": item_id,
                        "lang": lang,
                        "channels": list(channels),
                        "due_at": due_at.isoformat(),
                    },
                )
    except IntegrityError:
        if occurrence_key is None:
            raise
        return None
    if rule_id is None:
        store.changed()  # a one-off post: the worker learns its due time now
    return post


def get_post(store: Store, post_id: int) -> Post:
    with store.sessions() as session:
        post = session.get(Post, post_id)
    if post is None:
        raise PostError(f"no post with id {post_id}; see `campaign-bot queue`")
    return post


def set_post_status(
    session: Session,
    post_id: int,
    expected: Iterable[str],
    status: PostStatus,
    reason: str | None = None,
    approved_by: str | None = None,
) -> bool:
    """Move a post to ``status`` only if it is in one of ``expected``; tell whether it moved."""
    values: dict[str, object] = {"status": status, "updated_at": utc_now()}
    if reason is not None:
        values["reason"] = reason
    if approved_by is not None:
        values["approved_by"] = approved_by
    result = session.execute(
        update(Post).where(Post.id == post_id, Post.status.in_(list(expected))).values(**values)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def cancel_post(store: Store, post_id: int, actor: str, via: str) -> Post:
    """Cancel a post that has not been dispatched yet."""
    post = get_post(store, post_id)
    with store.sessions.begin() as session:
        moved = set_post_status(
            session,
            post_id,
            (PostStatus.SCHEDULED, PostStatus.HELD),
            PostStatus.CANCELLED,
            reason=f"cancelled by {actor}",
        )
        if not moved:
            raise PostError(f"post {post_id} is {post.status} and can no longer be cancelled")
        store._audit(session, actor, via, "cancel", {"post": post_id})
    return get_post(store, post_id)


def approve_post(store: Store, post_id: int, actor: str, via: str, now: datetime) -> Post:
    """Record a second staff member's approval of a post.

    A post held because it fell due unapproved becomes due at the approval (``now``), so the
    misfire grace counts from then: approving an hour later publishes it, not marks it missed.
    """
    post = get_post(store, post_id)
    if not post.needs_approval:
        raise PostError(f"post {post_id} does not need approval")
    if post.approved_by:
        raise PostError(f"post {post_id} was already approved by {post.approved_by}")
    if post.created_by == actor:
        raise PostError(f"post {post_id} needs approval by a different staff member")
    with store.sessions.begin() as session:
        result = session.execute(
            update(Post)
            .where(
                Post.id == post_id,
                Post.approved_by.is_(None),
                Post.status.in_([PostStatus.SCHEDULED, PostStatus.HELD]),
            )
            .values(
                approved_by=actor,
                status=PostStatus.SCHEDULED,
                due_at=case((Post.status == PostStatus.HELD, now), else_=Post.due_at),
                updated_at=now,
            )
        )
        if not result.rowcount:  # type: ignore[attr-defined]
            raise PostError(f"post {post_id} is {post.status} and cannot be approved")
        store._audit(session, actor, via, "approve", {"post": post_id})
    store.changed()  # an approved post may be due now
    return get_post(store, post_id)


def due_posts(store: Store, now: datetime) -> list[Post]:
    """Return scheduled posts whose time has come, oldest first."""
    with store.sessions() as session:
        rows = session.scalars(
            select(Post)
            .where(Post.status == PostStatus.SCHEDULED, Post.due_at <= now)
            .order_by(Post.due_at, Post.id)
        )
        return list(rows)


def posts_between(
    store: Store, start: datetime, end: datetime, statuses: Iterable[str] | None = None
) -> list[Post]:
    """The posts due in ``[start, end)`` in one of ``statuses`` (None: whatever their state)."""
    query = select(Post).where(Post.due_at >= start, Post.due_at < end)
    if statuses is not None:
        query = query.where(Post.status.in_(list(statuses)))
    with store.sessions() as session:
        return list(session.scalars(query.order_by(Post.due_at, Post.id)))


def write_deliveries(
    session: Session,
    post: Post,
    now: datetime,
    status: DeliveryStatus,
    error: str | None = None,
    accounts: Sequence[tuple[str, str]] | None = None,
) -> None:
    """Write one delivery row per channel of ``post`` (the outbox), before anything is sent.

    ``accounts`` lists the (channel, account) pairs the post goes to; without it, the post's
    channels, each a network without named accounts.
    """
    pairs = accounts if accounts is not None else [(c, "") for c in post.channel_list]
    for channel, account in pairs:
        where = f"{channel}-{account}" if account else channel
        session.add(
            Delivery(
                post_id=post.id,
                channel=channel,
                account=account,
                item_id=post.item_id,
                lang=post.lang,
                # Unique across database resets too: Mastodon remembers keys for an hour.
                idempotency_key=f"campaign-bot-{post.id}-{where}-{secrets.token_hex(8)}",
                status=status,
                next_attempt_at=now,
                error=error,
                created_at=now,
                updated_at=now,
            )
        )


def ready_deliveries(
    store: Store, now: datetime, limit: int = 50, *, held: Collection[str] = ()
) -> list[Delivery]:
    """Pending deliveries due by ``now``, oldest first, except those on ``held`` channels."""
    query = select(Delivery).where(
        Delivery.status == DeliveryStatus.PENDING, Delivery.next_attempt_at <= now
    )
    if held:
        query = query.where(Delivery.channel.not_in(list(held)))
    with store.sessions() as session:
        rows = session.scalars(query.order_by(Delivery.next_attempt_at, Delivery.id).limit(limit))
        return list(rows)


def claim_delivery(
    store: Store,
    delivery_id: int,
    text: str,
    at: datetime,
    owner: str | None = None,
    alive_since: datetime | None = None,
) -> bool:
    """Mark a pending delivery ``sending`` by ``owner`` (committed before the request leaves).

    With ``alive_since``, only while the owner's heartbeat is that recent: a process that lost
    its lease (frozen, cut off) claims nothing until it has registered again.
    """
    fence = [owner_alive(owner, alive_since)] if alive_since is not None else []
    with store.sessions.begin() as session:
        result = session.execute(
            update(Delivery)
            .where(Delivery.id == delivery_id, Delivery.status == DeliveryStatus.PENDING, *fence)
            .values(
                status=DeliveryStatus.SENDING,
                text=text,
                attempts=Delivery.attempts + 1,
                owner=owner,
                updated_at=at,
            )
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]


def finish_delivery(
    store: Store, delivery_id: int, status: DeliveryStatus, at: datetime, **values: object
) -> None:
    """Record a delivery's new status at ``at`` (the worker's clock: the X daily count uses it).

    Only a delivery still pending or sending changes: one that another process took over
    (``uncertain``, staff told) while this one was frozen keeps the state staff were told.
    """
    unfinished = [DeliveryStatus.PENDING, DeliveryStatus.SENDING]
    with store.sessions.begin() as session:
        session.execute(
            update(Delivery)
            .where(Delivery.id == delivery_id, Delivery.status.in_(unfinished))
            .values(status=status, updated_at=at, **values)
        )


def recover_interrupted(store: Store, silent_since: datetime | None = None) -> list[Delivery]:
    """Turn deliveries left ``sending`` by a dead process into ``uncertain``; return them.

    A process is dead once it has not beaten since ``silent_since`` (None: every process, as
    when the only process there can be is starting).
    """
    with store.sessions.begin() as session:
        rows = list(
            session.scalars(
                select(Delivery)
                .where(
                    Delivery.status == DeliveryStatus.SENDING,
                    owner_dead(Delivery.owner, silent_since),
                )
                .with_for_update(skip_locked=True)
            )
        )
        for row in rows:
            row.status = DeliveryStatus.UNCERTAIN
            row.error = (
                "the worker stopped while sending; check the channel and re-post by hand "
                "if it is missing"
            )
            row.updated_at = utc_now()
    return rows


def list_deliveries(
    store: Store, since: datetime | None = None, status: str | None = None, limit: int = 500
) -> list[Delivery]:
    with store.sessions() as session:
        query = select(Delivery).order_by(Delivery.id)
        if since is not None:
            query = query.where(Delivery.updated_at >= since)
        if status is not None:
            query = query.where(Delivery.status == status)
        return list(session.scalars(query.limit(limit)))


def sent_today(store: Store, channel: str, day_start: datetime, account: str = "") -> int:
    """Count deliveries sent or in flight on one account of a channel since ``day_start``
    (not dry runs)."""
    with store.sessions() as session:
        count = session.scalar(
            select(func.count(Delivery.id)).where(
                Delivery.channel == channel,
                Delivery.account == account,
                # Printed in a dry run, not published: X did not charge for it.
                func.coalesce(Delivery.external_id, "").not_like(f"{DRY_RUN_PREFIX}%"),
                Delivery.status.in_(
                    [DeliveryStatus.SENT, DeliveryStatus.SENDING, DeliveryStatus.UNCERTAIN]
                ),
                Delivery.updated_at >= day_start,
            )
        )
    return int(count or 0)


def delivery_history(store: Store, since: datetime) -> list[tuple[str, str, datetime]]:
    """Return (item, channel, due time) of every post published or planned since ``since``."""
    with store.sessions() as session:
        rows = session.execute(
            select(Post.item_id, Post.channels, Post.due_at).where(
                Post.due_at >= since,
                Post.status.in_([PostStatus.SCHEDULED, PostStatus.HELD, PostStatus.DISPATCHED]),
            )
        )
        return [
            (item, channel, due) for item, channels, due in rows for channel in channels.split()
        ]


def rule_states(store: Store) -> dict[str, RuleState]:
    with store.sessions() as session:
        return {row.rule_id: row for row in session.scalars(select(RuleState))}


def save_rule_state(session: Session, rule_id: str, cursor: datetime, fired: int) -> None:
    row = session.get(RuleState, rule_id)
    if row is None:
        session.add(RuleState(rule_id=rule_id, cursor=cursor, fired=fired))
    else:
        row.cursor = cursor
        row.fired = fired


def delivery_counts(store: Store) -> dict[str, int]:
    """Count channel deliveries by status."""
    with store.sessions() as session:
        rows = session.execute(select(Delivery.status, func.count()).group_by(Delivery.status))
        return {status: int(count) for status, count in rows}


def list_problem_deliveries(store: Store, limit: int = 30) -> list[Delivery]:
    """The newest failed, missed and uncertain deliveries: what staff must look at."""
    with store.sessions() as session:
        rows = session.scalars(
            select(Delivery)
            .where(
                Delivery.status.in_(
                    [DeliveryStatus.FAILED, DeliveryStatus.MISSED, DeliveryStatus.UNCERTAIN]
                )
            )
            .order_by(Delivery.id.desc())
            .limit(limit)
        )
        return list(rows)


def move_post(store: Store, post_id: int, due_at: datetime, actor: str, via: str) -> Post:
    """Give a post that has not gone out a new time (a held post waits for approval again)."""
    post = get_post(store, post_id)
    with store.sessions.begin() as session:
        result = session.execute(
            update(Post)
            .where(Post.id == post_id, Post.status.in_([PostStatus.SCHEDULED, PostStatus.HELD]))
            .values(due_at=due_at, status=PostStatus.SCHEDULED, updated_at=utc_now())
        )
        if not result.rowcount:  # type: ignore[attr-defined]
            raise PostError(f"post {post_id} is {post.status} and can no longer be moved")
        store._audit(
            session,
            actor,
            via,
            "move",
            {"post": post_id, "from": post.due_at.isoformat(), "to": due_at.isoformat()},
        )
    store.changed()  # the worker learns the new due time now
    return get_post(store, post_id)
