"""SQLAlchemy tables: posts, deliveries (the outbox), rule state, audit log, campaign state."""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class UTCDateTime(TypeDecorator[datetime]):
    """Store aware datetimes as UTC and always read them back aware (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use an aware UTC time")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    pass


class PostStatus(enum.StrEnum):
    SCHEDULED = "scheduled"  # waiting for its time
    HELD = "held"  # due, waiting for a second staff member's approval
    DISPATCHED = "dispatched"  # deliveries written; see their states
    CANCELLED = "cancelled"
    MISSED = "missed"  # fell due while the bot was down, beyond the grace window
    SKIPPED = "skipped"  # fell due while paused or in a blackout window


class DeliveryStatus(enum.StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    UNCERTAIN = "uncertain"  # the worker stopped mid-send: shown to staff, never re-sent
    MISSED = "missed"
    SKIPPED = "skipped"


FINAL_DELIVERY = frozenset(
    {
        DeliveryStatus.SENT,
        DeliveryStatus.FAILED,
        DeliveryStatus.UNCERTAIN,
        DeliveryStatus.MISSED,
        DeliveryStatus.SKIPPED,
    }
)


class Post(Base):
    """One item to publish in one language on some channels at a time."""

    __tablename__ = "posts"
    __table_args__ = (Index("ix_posts_status_due", "status", "due_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    item_id: Mapped[str] = mapped_column(String(100))
    lang: Mapped[str] = mapped_column(String(10))
    channels: Mapped[str] = mapped_column(String(200))  # space separated
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(20), default=PostStatus.SCHEDULED)
    reason: Mapped[str | None] = mapped_column(Text, default=None)
    rule_id: Mapped[str | None] = mapped_column(String(100), default=None)
    # Unique per rule firing and language, so a firing becomes a post once, across restarts.
    occurrence_key: Mapped[str | None] = mapped_column(String(200), unique=True, default=None)
    created_by: Mapped[str] = mapped_column(String(100))
    approved_by: Mapped[str | None] = mapped_column(String(100), default=None)
    needs_approval: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    @property
    def channel_list(self) -> list[str]:
        return self.channels.split()


class Delivery(Base):
    """The outbox and delivery log: one row per (post, channel, account), written before it is
    sent."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("post_id", "channel", "account", name="uq_delivery_post_channel_account"),
        Index("ix_deliveries_status_next", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(20))
    # The named account of the channel's network ("" for a network without named accounts).
    account: Mapped[str] = mapped_column(String(30), default="", server_default="")
    item_id: Mapped[str] = mapped_column(String(100))
    lang: Mapped[str] = mapped_column(String(10))
    idempotency_key: Mapped[str] = mapped_column(String(100), unique=True)
    status: Mapped[str] = mapped_column(String(20), default=DeliveryStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    text: Mapped[str | None] = mapped_column(Text, default=None)
    external_id: Mapped[str | None] = mapped_column(String(200), default=None)
    url: Mapped[str | None] = mapped_column(String(500), default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    notified: Mapped[bool] = mapped_column(Boolean, default=False)
    # The process sending it (``processes.id``) while ``sending``.
    owner: Mapped[str | None] = mapped_column(String(100), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # A correction: the delivery it replies to (unique: one correction per original post).
    corrects_id: Mapped[int | None] = mapped_column(
        ForeignKey("deliveries.id", ondelete="CASCADE"), unique=True, default=None
    )
    # What else a reply to this post needs besides its id (Bluesky: the record's cid).
    external_ref: Mapped[str | None] = mapped_column(String(200), default=None)

    @property
    def target(self) -> str:
        """The account it went to, as rules and commands name it: ``x`` or ``x:kurdish``."""
        return f"{self.channel}:{self.account}" if self.account else self.channel


class RuleState(Base):
    """How far each schedule rule has been turned into posts."""

    __tablename__ = "rule_state"

    rule_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    cursor: Mapped[datetime] = mapped_column(UTCDateTime)  # fire times <= cursor are handled
    fired: Mapped[int] = mapped_column(Integer, default=0)


class CampaignState(Base):
    """Whether the campaign is paused (the kill switch); a single row."""

    __tablename__ = "campaign_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    paused: Mapped[bool] = mapped_column(Boolean, default=False)
    changed_by: Mapped[str | None] = mapped_column(String(100), default=None)
    changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class AuditEntry(Base):
    """Who did what, when, from where (cli, telegram or worker)."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    actor: Mapped[str] = mapped_column(String(100))
    via: Mapped[str] = mapped_column(String(20))
    action: Mapped[str] = mapped_column(String(50))
    detail: Mapped[str] = mapped_column(Text, default="")
    allowed: Mapped[bool] = mapped_column(Boolean, default=True)


class ChannelSession(Base):
    """A channel's saved login session (Bluesky limits logins)."""

    __tablename__ = "channel_sessions"

    channel: Mapped[str] = mapped_column(String(60), primary_key=True)
    session: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


# A new supporter's settings before they choose, and what /stop resets them to.
SUBSCRIBER_DEFAULTS: dict[str, Any] = {
    "language": "en",
    "topics": "",
    "reminder": "weekly",
    "reminder_time": "18:00",
    "reminder_weekday": 0,
    "time_zone": "Asia/Baghdad",
}


class Subscriber(Base):
    """A supporter on Telegram: only what reminders need, deleted whole by /forget."""

    __tablename__ = "subscribers"
    # Due reminders by time; with the frequency, those still without a time are a seek (0012).
    __table_args__ = (Index("ix_subscribers_due", "active", "next_reminder_at", "reminder"),)

    chat_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    language: Mapped[str] = mapped_column(String(10), default=SUBSCRIBER_DEFAULTS["language"])
    # Space separated.
    topics: Mapped[str] = mapped_column(String(200), default=SUBSCRIBER_DEFAULTS["topics"])
    # daily, weekly, off
    reminder: Mapped[str] = mapped_column(String(10), default=SUBSCRIBER_DEFAULTS["reminder"])
    # HH:MM local
    reminder_time: Mapped[str] = mapped_column(
        String(5), default=SUBSCRIBER_DEFAULTS["reminder_time"]
    )
    # Monday = 0
    reminder_weekday: Mapped[int] = mapped_column(
        Integer, default=SUBSCRIBER_DEFAULTS["reminder_weekday"]
    )
    time_zone: Mapped[str] = mapped_column(String(64), default=SUBSCRIBER_DEFAULTS["time_zone"])
    consented_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    active: Mapped[bool] = mapped_column(Boolean, default=False)
    # /stop keeps the chat id with this marker only, so imports never re-add the person.
    opted_out: Mapped[bool] = mapped_column(Boolean, default=False)
    inactive_reason: Mapped[str | None] = mapped_column(String(100), default=None)
    next_reminder_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    last_reminded_on: Mapped[str | None] = mapped_column(String(10), default=None)  # local date
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    @property
    def topic_list(self) -> list[str]:
        return self.topics.split()


class ActionCount(Base):
    """How many supporters pressed Done on an item's reminder, per day: aggregates only."""

    __tablename__ = "action_counts"

    item_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    day: Mapped[str] = mapped_column(String(10), primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)


class Broadcast(Base):
    """One item sent to every matching subscriber, by staff."""

    __tablename__ = "broadcasts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    item_id: Mapped[str] = mapped_column(String(100))
    topic: Mapped[str | None] = mapped_column(String(50), default=None)
    lang: Mapped[str | None] = mapped_column(String(10), default=None)
    rate: Mapped[float] = mapped_column(default=25.0)
    paid: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(20), default="pending")
    total: Mapped[int] = mapped_column(Integer, default=0)
    # Recipients are materialized in chat-id order; this is how far that has got.
    cursor: Mapped[int | None] = mapped_column(BigInteger, default=None)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class Message(Base):
    """The outbox for private chats: one row per (broadcast or reminder, recipient)."""

    __tablename__ = "messages"
    __table_args__ = (
        Index("ix_messages_status_next", "status", "next_attempt_at"),
        # Streams one broadcast's (or, with NULL, the reminders') pending rows in id order.
        Index("ix_messages_feed", "broadcast_id", "status", "id"),
        # A reminder's key; broadcast rows written before revision 0010 keep theirs too.
        Index(
            "uq_messages_idempotency_key",
            "idempotency_key",
            unique=True,
            sqlite_where=text("idempotency_key IS NOT NULL"),
            postgresql_where=text("idempotency_key IS NOT NULL"),
        ),
        # One row per recipient of a broadcast: two integers, cheaper to keep up than a text
        # key when a selection writes a million rows. It also finds a chat's broadcast rows
        # (``chat_rows``), one probe per broadcast.
        Index(
            "uq_messages_broadcast_chat",
            "broadcast_id",
            "chat_id",
            unique=True,
            sqlite_where=text("idempotency_key IS NULL"),
            postgresql_where=text("idempotency_key IS NULL"),
        ),
        # A chat's keyed rows (reminders, broadcast rows before 0010): the rows the pair
        # index does not hold. Broadcast rows stay out of it: no entry per recipient (0013).
        Index(
            "ix_messages_keyed_chat",
            "chat_id",
            sqlite_where=text("idempotency_key IS NOT NULL"),
            postgresql_where=text("idempotency_key IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # None for a broadcast's rows (unique per broadcast and chat instead).
    idempotency_key: Mapped[str | None] = mapped_column(String(100), default=None)
    kind: Mapped[str] = mapped_column(String(20))  # broadcast, reminder
    # ``broadcasts.id``, or None for a reminder. No foreign key: only the selection writes
    # broadcast rows, holding the broadcast's row, and the check cost ~4 us a row (0011).
    broadcast_id: Mapped[int | None] = mapped_column(Integer, default=None)
    chat_id: Mapped[int] = mapped_column(BigInteger)
    item_id: Mapped[str] = mapped_column(String(100))
    lang: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(20), default=DeliveryStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # A reminder not sent by then is missed (it would arrive at the wrong time of day).
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    external_id: Mapped[str | None] = mapped_column(String(50), default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    # The process sending it (``processes.id``) while ``sending``.
    owner: Mapped[str | None] = mapped_column(String(100), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class SignupCount(Base):
    """How many supporters signed up through each sign-up link: totals only, no chat ids."""

    __tablename__ = "signup_counts"

    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)


class ShareCount(Base):
    """How many times supporters shared each item from inline mode: totals only."""

    __tablename__ = "share_counts"

    item_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)


class ItemStatusSeen(Base):
    """A library item's correction or retraction as the worker last saw it, so the pending
    posts and messages of an item are skipped once, when the status first appears."""

    __tablename__ = "item_statuses"

    item_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    state: Mapped[str] = mapped_column(String(20))
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Process(Base):
    """A running worker process and its heartbeat: rows it sends are recovered only once it
    has been silent for longer than the lease."""

    __tablename__ = "processes"

    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    host: Mapped[str] = mapped_column(String(200))
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    heartbeat_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Duty(Base):
    """A bot-wide duty held by one process at a time (polling, pacing): a lease whose token
    grows with every change of holder."""

    __tablename__ = "duties"

    name: Mapped[str] = mapped_column(String(50), primary_key=True)
    holder: Mapped[str | None] = mapped_column(String(100), default=None)
    token: Mapped[int] = mapped_column(BigInteger, default=0)
    renewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
