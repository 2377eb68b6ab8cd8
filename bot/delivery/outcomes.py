"""What becomes of a message after a send attempt: sent, retried later, failed or uncertain."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.channels.base import ErrorKind
from bot.delivery.private import RecipientError
from bot.store import DeliveryStatus
from bot.store.private_outbox import FeedRow, Outcome


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently the fan-out retries one message."""

    max_attempts: int = 5  # requests per message for network errors and 5xx
    backoff_base: float = 2.0  # seconds before the 2nd attempt; doubles each time
    backoff_cap: float = 300.0
    max_rate_limit_waits: int = 20  # 429s one message may meet before it fails
    auth_pause: float = 60.0  # the token was refused: hold all sending this long

    def backoff(self, attempts: int) -> float:
        return float(min(self.backoff_cap, self.backoff_base * 2 ** max(0, attempts - 1)))


@dataclass(frozen=True)
class Decision:
    """An outcome to record, and whether (and when) the row goes round again."""

    outcome: Outcome
    retry_in: float | None = None
    rate_limited: float | None = None  # seconds to pause the lane (a 429)
    auth_failed: bool = False


def sent(row: FeedRow, message_id: int, now: datetime) -> Outcome:
    return Outcome(
        row.id,
        DeliveryStatus.SENT,
        row.chat_id,
        row.attempts + 1,
        now,
        external_id=str(message_id),
    )


def final(
    row: FeedRow,
    status: DeliveryStatus,
    reason: str,
    now: datetime,
    *,
    claimed: bool = True,
    deactivate: str | None = None,
) -> Outcome:
    """An outcome that ends the row; ``claimed`` says whether a request was made."""
    attempts = row.attempts + (1 if claimed else 0)
    return Outcome(row.id, status, row.chat_id, attempts, now, reason, deactivate=deactivate)


def _retry(row: FeedRow, reason: str, now: datetime, delay: float, attempts: int) -> Outcome:
    return Outcome(
        row.id,
        DeliveryStatus.PENDING,
        row.chat_id,
        attempts,
        now + timedelta(seconds=delay),
        reason,
    )


def after_error(row: FeedRow, exc: RecipientError, now: datetime, policy: RetryPolicy) -> Decision:
    """Decide what a failed send means for its row (updates ``row`` for a retry in memory)."""
    reason = exc.reason
    if exc.migrate_to is not None:  # a group became a supergroup: same people, new id
        row.chat_id = exc.migrate_to
        return Decision(_retry(row, reason, now, 0.0, row.attempts), retry_in=0.0)
    if exc.kind is ErrorKind.RATE_LIMITED:
        wait = exc.retry_after or 1.0
        row.waits += 1
        if row.waits > policy.max_rate_limit_waits:
            return Decision(final(row, DeliveryStatus.FAILED, f"gave up: {reason}", now))
        # A 429 is not the message's fault: it does not count as an attempt.
        return Decision(_retry(row, reason, now, wait, row.attempts), wait, rate_limited=wait)
    if exc.kind is ErrorKind.AUTH:
        wait = policy.auth_pause
        return Decision(_retry(row, reason, now, wait, row.attempts), wait, auth_failed=True)
    if exc.kind is ErrorKind.TRANSIENT:
        attempts = row.attempts + 1
        if attempts >= policy.max_attempts:
            return Decision(
                final(
                    row, DeliveryStatus.FAILED, f"gave up after {attempts} attempts: {reason}", now
                )
            )
        row.attempts = attempts
        delay = policy.backoff(attempts)
        return Decision(_retry(row, reason, now, delay, attempts), retry_in=delay)
    if exc.kind is ErrorKind.UNCERTAIN:
        return Decision(final(row, DeliveryStatus.UNCERTAIN, reason, now))
    return Decision(final(row, DeliveryStatus.FAILED, reason, now, deactivate=exc.gone))
