"""Staff broadcasts, shared by the CLI and Telegram: plan with counts, start, cancel, progress."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.config import Settings
from bot.delivery.selection import publishable_languages
from bot.library import Library, unknown_message
from bot.store import Broadcast, DeliveryStatus, Store
from bot.store.audience import (
    ACTIVE_BROADCAST,
    BroadcastError,
    audience_by_language,
    cancel_broadcast,
    create_broadcast,
    get_broadcast,
    list_broadcasts,
)
from bot.store.models import FINAL_DELIVERY
from bot.store.private_outbox import status_counts

FREE_LIMIT = 30.0  # Telegram's broadcast limit, messages/s
PAID_LIMIT = 1000.0  # with allow_paid_broadcast (0.1 Star per message)

__all__ = [
    "BroadcastError",
    "BroadcastPlan",
    "Progress",
    "cancel",
    "plan_broadcast",
    "progress",
    "progress_lines",
    "start_broadcast",
]


def _duration(seconds: float) -> str:
    if seconds < 1:
        return "under a second"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min {secs} s" if minutes else f"{secs} s"


@dataclass(frozen=True)
class BroadcastPlan:
    """What a broadcast would do, shown to staff before they confirm."""

    item_id: str
    topic: str | None
    lang: str | None
    rate: float
    paid: bool
    by_language: dict[str, int]  # recipients per language
    left_out: dict[str, int]  # matching subscribers whose language has no reviewed text

    @property
    def recipients(self) -> int:
        return sum(self.by_language.values())

    def describe(self) -> str:
        languages = ", ".join(f"{lang} {n:,}" for lang, n in sorted(self.by_language.items()))
        who = f"{self.recipients:,} subscriber{'s' if self.recipients != 1 else ''}"
        scope = f" on #{self.topic}" if self.topic else ""
        mode = " as a paid broadcast (0.1 Star per message)" if self.paid else ""
        text = (
            f"Broadcast {self.item_id} to {who}{scope} ({languages or 'none'}) at "
            f"{self.rate:g}/s{mode}: about {_duration(self.recipients / self.rate)}."
        )
        if self.left_out:
            gone = ", ".join(f"{n:,} {lang}" for lang, n in sorted(self.left_out.items()))
            text += f" Left out, no reviewed text in their language: {gone}."
        return text


def plan_broadcast(
    settings: Settings,
    library: Library,
    store: Store,
    item_id: str,
    *,
    topic: str | None = None,
    lang: str | None = None,
    rate: float | None = None,
    paid: bool | None = None,
) -> BroadcastPlan:
    """Check a broadcast and count its recipients; raise BroadcastError saying what is wrong."""
    if item_id not in library.items:
        raise BroadcastError(unknown_message("item", item_id, library.items))
    if (status := library.items[item_id].status) is not None:
        raise BroadcastError(
            f"{item_id} was {status.summary()}; it is no longer broadcast"
            + (" (post it with `campaign-bot post`)" if status.state == "corrected" else "")
        )
    topics = sorted(library.topics)
    if topic and topic not in topics:
        raise BroadcastError(unknown_message("topic", topic, topics))
    if lang and lang not in settings.campaign.languages:
        raise BroadcastError(unknown_message("language", lang, settings.campaign.languages))
    paid = settings.broadcast.paid if paid is None else paid
    rate = settings.broadcast.rate if rate is None else rate
    limit = PAID_LIMIT if paid else FREE_LIMIT
    if not 0 < rate <= limit:
        hint = "" if paid else "; above 30/s needs a paid broadcast (--paid)"
        raise BroadcastError(f"rate must be above 0 and at most {limit:g} messages/s{hint}")
    languages = publishable_languages(library, settings, item_id, lang)
    if not languages:
        raise BroadcastError(
            f"{item_id} has no reviewed text in {lang or 'any campaign language'}; a person "
            "must review it first (or set publish_unreviewed: true)"
        )
    counts = audience_by_language(store, topic, lang)
    return BroadcastPlan(
        item_id,
        topic,
        lang,
        rate,
        paid,
        {code: n for code, n in counts.items() if code in languages},
        {code: n for code, n in counts.items() if code not in languages},
    )


def start_broadcast(
    store: Store, plan: BroadcastPlan, actor: str, via: str, now: datetime
) -> Broadcast:
    """Queue a planned broadcast; the worker selects the recipients and sends."""
    if not plan.recipients:
        raise BroadcastError("no active subscriber matches; nothing to send")
    return create_broadcast(
        store,
        item_id=plan.item_id,
        topic=plan.topic,
        lang=plan.lang,
        rate=plan.rate,
        paid=plan.paid,
        actor=actor,
        via=via,
        now=now,
    )


def cancel(store: Store, broadcast_id: int, actor: str, via: str, now: datetime) -> Broadcast:
    """Cancel a broadcast that is still selecting or sending."""
    return cancel_broadcast(store, broadcast_id, actor, via, now)


@dataclass(frozen=True)
class Progress:
    """How far a broadcast has got."""

    broadcast: Broadcast
    counts: dict[str, int]

    @property
    def total(self) -> int:
        return max(self.broadcast.total, sum(self.counts.values()))

    @property
    def final(self) -> int:
        return sum(n for status, n in self.counts.items() if status in FINAL_DELIVERY)

    @property
    def complete(self) -> bool:
        """Every recipient is in a final state (and selection is over)."""
        return self.broadcast.status not in ACTIVE_BROADCAST and self.final == self.total

    def line(self) -> str:
        b = self.broadcast
        sent = self.counts.get(DeliveryStatus.SENT, 0)
        others = ", ".join(
            f"{n:,} {status}"
            for status, n in sorted(self.counts.items())
            if status != DeliveryStatus.SENT and n
        )
        scope = f" #{b.topic}" if b.topic else ""
        return (
            f"Broadcast {b.id} {b.item_id}{scope}: {b.status}, {sent:,}/{self.total:,} sent"
            + (f" ({others})" if others else "")
            + f" at {b.rate:g}/s{' paid' if b.paid else ''}"
        )

    def as_json(self) -> dict[str, object]:
        b = self.broadcast
        return {
            "id": b.id,
            "item": b.item_id,
            "topic": b.topic,
            "lang": b.lang,
            "status": b.status,
            "rate": b.rate,
            "paid": b.paid,
            "total": self.total,
            "counts": self.counts,
            "created_at": b.created_at.isoformat(),
            "started_at": b.started_at.isoformat() if b.started_at else None,
            "finished_at": b.finished_at.isoformat() if b.finished_at else None,
        }


def progress(store: Store, broadcast_id: int) -> Progress:
    broadcast = get_broadcast(store, broadcast_id)
    return Progress(broadcast, status_counts(store, broadcast_id))


def progress_lines(store: Store, limit: int = 3) -> list[str]:
    """Lines for /stats: the active broadcasts, else the latest ones."""
    shown = list_broadcasts(store, active_only=True, limit=limit) or list_broadcasts(
        store, limit=1
    )
    return [Progress(b, status_counts(store, b.id)).line() for b in shown]
