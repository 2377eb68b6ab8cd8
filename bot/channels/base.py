"""The protocol every publishing channel implements, and the errors it may raise."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

# The external id of a post the console channel printed in a dry run instead of publishing it.
DRY_RUN_PREFIX = "dry-run:"


@dataclass(frozen=True)
class Link:
    """A link as shown in the text (``display``) and where it points (``url``)."""

    display: str
    url: str


@dataclass(frozen=True)
class ReplyTarget:
    """The published post a reply goes under: its external id, and what else the network
    needs to address it (``ref``: Bluesky's record cid; None elsewhere, or when not known)."""

    external_id: str
    ref: str | None = None


@dataclass(frozen=True)
class Outgoing:
    """One rendered post on its way to one channel."""

    text: str
    lang: str
    item_id: str
    idempotency_key: str
    content_warning: str | None = None
    # Extra parts for channels that thread long items (X reply chains); empty for one post.
    continuation: tuple[str, ...] = ()
    # Links whose display text in ``text`` differs from their URL (Bluesky facets need them).
    links: tuple[Link, ...] = ()
    # Publish as a reply to this post (a correction); None for a post of its own.
    reply_to: ReplyTarget | None = None


@dataclass(frozen=True)
class Published:
    """What a channel reports back after a successful publish."""

    external_id: str
    url: str | None = None
    extra_ids: tuple[str, ...] = field(default_factory=tuple)
    # What a later reply needs besides ``external_id`` (Bluesky: the record's cid).
    ref: str | None = None


class ErrorKind(enum.StrEnum):
    """How the outbox should treat a failed publish."""

    TRANSIENT = "transient"  # network error, 5xx: retry with backoff
    RATE_LIMITED = "rate_limited"  # retry no earlier than retry_after seconds
    PERMANENT = "permanent"  # bad request, duplicate content: failed, do not retry
    AUTH = "auth"  # credentials invalid: failed, staff must act
    UNCERTAIN = "uncertain"  # the request may have been applied (timeout after sending)


class ChannelError(Exception):
    """A classified publishing failure; the message never contains a secret."""

    def __init__(self, kind: ErrorKind, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason
        self.retry_after = retry_after


class SessionStore(Protocol):
    """Keeps a channel's login session between runs (Bluesky limits logins)."""

    def load(self, channel: str) -> str | None:
        """Return the saved session string, if any."""
        ...

    def save(self, channel: str, session: str) -> None:
        """Persist the session string."""
        ...


@runtime_checkable
class Channel(Protocol):
    """A place posts are published: console, Telegram channel, X, Mastodon, Bluesky."""

    name: str

    async def publish(self, post: Outgoing) -> Published:
        """Publish one post, or raise ChannelError."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...
