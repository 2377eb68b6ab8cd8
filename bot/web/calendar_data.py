"""The calendar's entries: posts and their deliveries, and the planner's rule firings to come."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from urllib.parse import urlencode

from bot.app import Core
from bot.schedule.posting import build_queue
from bot.store import Delivery, Post, PostStatus
from bot.store.dashboard import deliveries_of
from bot.store.posts import posts_between


@dataclass
class Entry:
    """One thing in a calendar cell: a post (with what went out) or a planned rule firing."""

    at: datetime
    item: str
    lang: str
    channels: list[str]
    origin: str
    state: str
    href: str
    post_id: int | None = None
    deliveries: list[Delivery] = field(default_factory=list)

    @property
    def css(self) -> str:
        return "state-" + self.state.split(":")[0].replace(" ", "-")


def post_state(post: Post) -> str:
    """How a post reads in the calendar: its status, why it was skipped, or who must approve."""
    waiting = post.status in (PostStatus.SCHEDULED, PostStatus.HELD)
    if waiting and post.needs_approval and not post.approved_by:
        return "needs approval"
    if post.reason and post.status in (PostStatus.SKIPPED, PostStatus.MISSED):
        return f"{post.status}: {post.reason}"
    return str(post.status)


def _post_entry(post: Post, deliveries: list[Delivery]) -> Entry:
    return Entry(
        post.due_at,
        post.item_id,
        post.lang,
        post.channel_list,
        f"post {post.id}" + (f" (rule {post.rule_id})" if post.rule_id else ""),
        post_state(post),
        f"/calendar/post/{post.id}",
        post.id,
        deliveries,
    )


def entries(core: Core, start: datetime, end: datetime) -> list[Entry]:
    """Everything in ``[start, end)``: posts (any state) and, from now on, planned firings."""
    posts = posts_between(core.store, start, end)
    sent = deliveries_of(core.store, [p.id for p in posts])
    found = [_post_entry(p, sent.get(p.id, [])) for p in posts]
    now = core.clock.now()
    if end > now:
        days = (end - now).total_seconds() / 86400
        for row in build_queue(core.settings, core.library, core.store, core.clock, days):
            if not row.origin.startswith("rule "):
                continue  # one-off posts are in the table already
            at = datetime.strptime(row.utc, "%Y-%m-%dT%H:%MZ").replace(tzinfo=UTC)
            if not start <= at < end:
                continue
            query = urlencode(
                {
                    "item": row.item,
                    "lang": row.lang,
                    "at": row.utc,
                    "channels": ",".join(row.channels),
                }
            )
            state = row.state  # blackouts and the pause included (posting.planned_state)
            found.append(
                Entry(
                    at,
                    row.item,
                    row.lang,
                    row.channels,
                    row.origin,
                    state,
                    f"/calendar/slot?{query}",
                )
            )
    return sorted(found, key=lambda e: (e.at, e.origin, e.lang))


def grid(first: date, weeks: int) -> list[list[date]]:
    """Weeks of days from ``first`` (a Monday)."""
    return [[first + timedelta(days=7 * w + d) for d in range(7)] for w in range(weeks)]


def span(core: Core, view: str, anchor: date) -> tuple[date, int]:
    """The first Monday and number of weeks a week or month view shows around ``anchor``."""
    if view == "month":
        first_of_month = anchor.replace(day=1)
        first = first_of_month - timedelta(days=first_of_month.weekday())
        next_month = (first_of_month + timedelta(days=32)).replace(day=1)
        weeks = -(-((next_month - first).days) // 7)
        return first, weeks
    return anchor - timedelta(days=anchor.weekday()), 1


def bounds(core: Core, first: date, weeks: int) -> tuple[datetime, datetime]:
    zone = core.settings.zone
    start = datetime.combine(first, time(0), tzinfo=zone)
    end = datetime.combine(first + timedelta(days=7 * weeks), time(0), tzinfo=zone)
    return start.astimezone(UTC), end.astimezone(UTC)
