"""Dashboard sign-in: one-time links and browser sessions, stored hashed, bound to a staff id."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import BigInteger, Boolean, Integer, String, delete, select, update
from sqlalchemy.orm import Mapped, mapped_column

from bot.store.models import Base, UTCDateTime
from bot.store.state import Store

LINK_LIFETIME = timedelta(minutes=10)
SESSION_LIFETIME = timedelta(hours=12)


class SignInLink(Base):
    """A one-time sign-in link: valid for ten minutes, used at most once."""

    __tablename__ = "signin_links"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    staff_id: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used: Mapped[bool] = mapped_column(Boolean, default=False)


class WebSession(Base):
    """A signed-in browser: the cookie holds the token, the table only its hash."""

    __tablename__ = "web_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    staff_id: Mapped[int] = mapped_column(BigInteger)
    csrf: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class SignInError(Exception):
    """A sign-in link or session that cannot be used; the message says why, briefly."""


@dataclass(frozen=True)
class Session:
    """A live dashboard session."""

    staff_id: int
    csrf: str
    expires_at: datetime


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_link(store: Store, staff_id: int, now: datetime) -> str:
    """Store a new one-time link for ``staff_id``; return its token (shown once)."""
    token = secrets.token_urlsafe(32)
    with store.sessions.begin() as session:
        session.execute(delete(SignInLink).where(SignInLink.expires_at < now - LINK_LIFETIME))
        session.add(
            SignInLink(
                token_hash=_hash(token),
                staff_id=staff_id,
                created_at=now,
                expires_at=now + LINK_LIFETIME,
            )
        )
    return token


def peek_link(store: Store, token: str, now: datetime) -> int:
    """Tell whose a link is without using it up; raise SignInError if it cannot be used."""
    with store.sessions() as session:
        row = session.get(SignInLink, _hash(token))
    if row is None:
        raise SignInError("This sign-in link is not valid.")
    if row.used:
        raise SignInError("This sign-in link has already been used.")
    if row.expires_at <= now:
        raise SignInError("This sign-in link has expired.")
    return row.staff_id


def spend_link(store: Store, token: str, now: datetime) -> int:
    """Use a link up (compare-and-set, so only one click wins); return its staff id."""
    staff_id = peek_link(store, token, now)
    with store.sessions.begin() as session:
        result = session.execute(
            update(SignInLink)
            .where(
                SignInLink.token_hash == _hash(token),
                SignInLink.used.is_(False),
                SignInLink.expires_at > now,
            )
            .values(used=True)
        )
        if not result.rowcount:  # type: ignore[attr-defined]
            raise SignInError("This sign-in link has already been used.")
    return staff_id


def start_session(store: Store, staff_id: int, now: datetime) -> str:
    """Open a session for ``staff_id``; return the cookie's token."""
    token = secrets.token_urlsafe(32)
    with store.sessions.begin() as session:
        session.execute(delete(WebSession).where(WebSession.expires_at < now))
        session.add(
            WebSession(
                token_hash=_hash(token),
                staff_id=staff_id,
                csrf=secrets.token_urlsafe(24),
                created_at=now,
                expires_at=now + SESSION_LIFETIME,
            )
        )
    return token


def find_session(store: Store, token: str, now: datetime) -> Session | None:
    """The live session of a cookie token, or None (unknown or expired)."""
    with store.sessions() as session:
        row = session.scalar(select(WebSession).where(WebSession.token_hash == _hash(token)))
    if row is None or row.expires_at <= now:
        return None
    return Session(row.staff_id, row.csrf, row.expires_at)


def end_session(store: Store, token: str) -> None:
    with store.sessions.begin() as session:
        session.execute(delete(WebSession).where(WebSession.token_hash == _hash(token)))
