"""The outbox: turn due posts into delivery rows, then send them once with classified retries."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.accounts import daily_cap, delivery_accounts
from bot.channels import Channel, ChannelError, ErrorKind, Outgoing, ReplyTarget
from bot.clock import Clock
from bot.config import Settings, parse_duration
from bot.delivery.notify import Notifier
from bot.delivery.replicas import SOLO, Ownership
from bot.delivery.unwritten import Conclusion, UnwrittenOutcomes
from bot.library import Library
from bot.render import RULES, Rendered, Renderer, RenderError
from bot.render.threads import split_thread
from bot.schedule.reminders import blackout_at
from bot.store import Delivery, DeliveryStatus, Post, PostStatus, Store
from bot.store.corrections import get_delivery
from bot.store.posts import (
    claim_delivery,
    due_posts,
    finish_delivery,
    ready_deliveries,
    recover_interrupted,
    sent_today,
    set_post_status,
    write_deliveries,
)

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
MAX_RATE_LIMIT_WAITS = 20


def backoff(attempt: int) -> timedelta:
    """Exponential backoff: 5 s, 10 s, 20 s ... capped at 10 minutes."""
    return timedelta(seconds=min(600, 5 * 2 ** max(0, attempt - 1)))


class Outbox:
    """Dispatches due posts and sends their deliveries through the channels."""

    def __init__(
        self,
        *,
        settings: Settings,
        library: Library,
        renderer: Renderer,
        store: Store,
        channels: Mapping[str, Channel],
        clock: Clock,
        notifier: Notifier,
        ownership: Ownership = SOLO,
    ) -> None:
        self.settings = settings
        self.ownership = ownership
        self.library = library
        self.renderer = renderer
        self.store = store
        self.channels = channels
        self.clock = clock
        self.notifier = notifier
        self.grace = parse_duration(settings.schedule.misfire_grace)
        self.unwritten = UnwrittenOutcomes(store, notifier)
        # Channels whose deliveries wait without spending attempts (Telegram not up yet).
        self.held: dict[str, str] = {}

    def hold(self, channel: str, reason: str | None) -> None:
        """Keep a network's deliveries (every account) pending while ``reason`` holds; None
        sends again."""
        if reason is None:
            self.held.pop(channel, None)
        else:
            self.held[channel] = reason

    async def recover(self, horizon: datetime | None = None) -> int:
        """Deliveries left ``sending`` by a process silent since ``horizon`` (default: dead by
        this process's lease) become ``uncertain``, and staff are told; count them."""
        since = horizon if horizon is not None else self.ownership.silent_since()
        rows = await asyncio.to_thread(recover_interrupted, self.store, since)
        for row in rows:
            await self.notifier.notify_staff(
                f"Delivery {row.id} ({row.item_id} on {row.target}, {row.lang}) is uncertain: "
                "the bot stopped while sending it. Check the channel; it will not be re-sent."
            )
        return len(rows)

    def blackout(self, now: datetime) -> str | None:
        window = blackout_at(self.settings, now, self.store)
        if window is None:
            return None
        end, reason = window
        return f"blackout until {end:%Y-%m-%d %H:%M} UTC: {reason}".rstrip(": ")

    async def dispatch_due(self) -> int:
        """Decide the fate of every due post; write deliveries for those that go out."""
        now = self.clock.now()
        dispatched = 0
        paused = self.store.is_paused()
        for post in due_posts(self.store, now):
            status, reason = self._verdict(post, now, paused)
            accounts = self.accounts(post)
            if status is PostStatus.DISPATCHED and not accounts:
                status = PostStatus.SKIPPED
                reason = f"no account of {', '.join(post.channel_list)} carries {post.lang}"
            with self.store.sessions.begin() as session:
                if not set_post_status(session, post.id, (PostStatus.SCHEDULED,), status, reason):
                    continue  # cancelled or handled by someone else meanwhile
                if status is PostStatus.DISPATCHED:
                    write_deliveries(session, post, now, DeliveryStatus.PENDING, accounts=accounts)
                    dispatched += 1
                elif status in (PostStatus.SKIPPED, PostStatus.MISSED):
                    write_deliveries(
                        session, post, now, DeliveryStatus(status.value), reason, accounts
                    )
            if status is PostStatus.HELD:
                await self.notifier.notify_staff(
                    f"Post {post.id} ({post.item_id}, {post.lang}) is due but held: it needs "
                    f"approval by a second staff member (/approve {post.id})."
                )
            elif status is PostStatus.MISSED:
                await self.notifier.notify_staff(
                    f"Post {post.id} ({post.item_id}) missed: {reason}"
                )
        return dispatched

    def accounts(self, post: Post) -> list[tuple[str, str]]:
        """The (network, account) pairs a post goes to: those carrying its language."""
        found = delivery_accounts(self.settings, post.channel_list, post.lang)
        return [(account.network, account.name) for account in found]

    def _verdict(self, post: Post, now: datetime, paused: bool) -> tuple[PostStatus, str | None]:
        if (retracted := self.library.retraction(post.item_id)) is not None:
            return PostStatus.SKIPPED, retracted
        if paused or self.store.was_paused_at(post.due_at):
            return PostStatus.SKIPPED, "the campaign was paused when it fell due"
        if (blackout := self.blackout(now)) is not None:
            return PostStatus.SKIPPED, blackout
        if now - post.due_at > self.grace:
            return PostStatus.MISSED, (
                f"fell due at {post.due_at:%Y-%m-%d %H:%M} UTC, more than "
                f"{self.settings.schedule.misfire_grace} before the bot could send it"
            )
        if post.needs_approval and not post.approved_by:
            return PostStatus.HELD, "waiting for approval by a second staff member"
        return PostStatus.DISPATCHED, None

    async def send_ready(self) -> int:
        """Send every delivery that is ready; return how many were sent."""
        await self.unwritten.flush()  # outcomes the database refused last time come first
        sent = 0
        for delivery in ready_deliveries(self.store, self.clock.now(), held=self.held):
            if self.store.is_paused() or self.blackout(self.clock.now()):
                return sent
            if not self.ownership.may_send():  # lost its lease: claims nothing until it beats
                return sent
            sent += await self._send(delivery)
        return sent

    def _day_start(self) -> datetime:
        zone = ZoneInfo(self.settings.campaign.time_zone)
        local = self.clock.now().astimezone(zone)
        return local.replace(hour=0, minute=0, second=0, microsecond=0)

    async def _send(self, delivery: Delivery) -> int:
        channel = self.channels.get(delivery.target)
        if channel is None:
            finish_delivery(
                self.store,
                delivery.id,
                DeliveryStatus.FAILED,
                self.clock.now(),
                error=f"channel {delivery.target} is not configured in this run",
            )
            return 0
        options = self.settings.channels.get(delivery.channel)
        retracted = (
            self.library.retraction(delivery.item_id) if delivery.corrects_id is None else None
        )
        if retracted is not None:
            finish_delivery(
                self.store, delivery.id, DeliveryStatus.SKIPPED, self.clock.now(), error=retracted
            )
            return 0
        # A correction is not held back by the daily cap.
        if delivery.channel == "x" and options is not None and delivery.corrects_id is None:
            cap = daily_cap(self.settings, "x", delivery.account)
            if sent_today(self.store, "x", self._day_start(), delivery.account) >= cap:
                on = f" on {delivery.target}" if delivery.account else ""
                finish_delivery(
                    self.store,
                    delivery.id,
                    DeliveryStatus.SKIPPED,
                    self.clock.now(),
                    error=f"X daily cap of {cap} posts reached{on}",
                )
                return 0
        try:
            rendered, reply_to = self._render(delivery)
        except (KeyError, RenderError) as exc:
            finish_delivery(
                self.store, delivery.id, DeliveryStatus.FAILED, self.clock.now(), error=str(exc)
            )
            await self._tell(delivery, str(exc))
            return 0
        threads = options is not None and options.threads
        if not rendered.fits and not threads:
            reason = (
                f"too long for {delivery.channel}: {rendered.length} characters, "
                f"the limit is {rendered.limit}"
            )
            finish_delivery(
                self.store, delivery.id, DeliveryStatus.FAILED, self.clock.now(), error=reason
            )
            await self._tell(delivery, reason)
            return 0
        owner = self.ownership
        claimed = claim_delivery(
            self.store,
            delivery.id,
            rendered.text,
            self.clock.now(),
            owner=owner.identity,
            alive_since=owner.alive_since(),
        )
        if not claimed:
            return 0
        # From here on the row is ``sending``: every way out must write its outcome.
        try:
            published = await channel.publish(self._outgoing(delivery, rendered, reply_to))
        except ChannelError as exc:
            await self._failed(delivery, exc)
            return 0
        except Exception as exc:  # a bug, or an answer the client library could not read
            await self._unexpected(delivery, exc)
            return 0
        if not published.external_id:
            await self._unexpected(delivery, ValueError("an answer without a post id"))
            return 0
        sent = Conclusion(
            delivery.id,
            DeliveryStatus.SENT,
            self.clock.now(),
            {
                "external_id": published.external_id,
                "url": published.url,
                "external_ref": published.ref,
                "error": None,
            },
        )
        await self.unwritten.conclude(sent)
        log.info(
            "sent %s %s on %s: %s",
            delivery.item_id,
            delivery.lang,
            delivery.target,
            published.url or published.external_id,
        )
        return 1

    def _render(self, delivery: Delivery) -> tuple[Rendered, ReplyTarget | None]:
        """The post's text; for a correction, its text and the post it replies to."""
        item = self.library.get(delivery.item_id)
        if delivery.corrects_id is None:
            return self.renderer.render(item, delivery.channel, delivery.lang), None
        original = get_delivery(self.store, delivery.corrects_id)
        if original is None or not original.external_id:
            raise RenderError(
                f"correction of delivery {delivery.corrects_id}: the original post has no "
                "recorded id on the network to reply to"
            )
        rendered = self.renderer.render_correction(item, delivery.channel, delivery.lang)
        return rendered, ReplyTarget(original.external_id, original.external_ref)

    def _outgoing(
        self, delivery: Delivery, rendered: Rendered, reply_to: ReplyTarget | None
    ) -> Outgoing:
        parts = [rendered.text]
        if not rendered.fits:
            parts = split_thread(rendered.text, RULES[delivery.channel].measure, rendered.limit)
        return Outgoing(
            text=parts[0],
            continuation=tuple(parts[1:]),
            lang=delivery.lang,
            item_id=delivery.item_id,
            idempotency_key=delivery.idempotency_key,
            content_warning=rendered.content_warning,
            links=rendered.links,
            reply_to=reply_to,
        )

    async def _unexpected(self, delivery: Delivery, exc: Exception) -> None:
        """The request may have left: mark the delivery uncertain now and tell staff."""
        log.error(
            "unexpected error publishing delivery %d on %s",
            delivery.id,
            delivery.channel,
            exc_info=exc,
        )
        reason = (
            f"unexpected error while publishing ({type(exc).__name__}): the post may or may "
            "not be out. Check the channel; it will not be re-sent."
        )
        await self._conclude(delivery, DeliveryStatus.UNCERTAIN, reason)

    async def _failed(self, delivery: Delivery, exc: ChannelError) -> None:
        now = self.clock.now()
        attempts = delivery.attempts + 1
        if exc.kind is ErrorKind.RATE_LIMITED and attempts < MAX_RATE_LIMIT_WAITS:
            wait = timedelta(seconds=exc.retry_after or 60)
            values = {"next_attempt_at": now + wait, "error": f"rate limited: {exc.reason}"}
            await self.unwritten.conclude(
                Conclusion(delivery.id, DeliveryStatus.PENDING, now, values)
            )
            return
        if exc.kind is ErrorKind.TRANSIENT and attempts < MAX_ATTEMPTS:
            values = {"next_attempt_at": now + backoff(attempts), "error": exc.reason}
            await self.unwritten.conclude(
                Conclusion(delivery.id, DeliveryStatus.PENDING, now, values)
            )
            return
        status = (
            DeliveryStatus.UNCERTAIN if exc.kind is ErrorKind.UNCERTAIN else DeliveryStatus.FAILED
        )
        reason = exc.reason
        if exc.kind is ErrorKind.AUTH and delivery.account:
            # The channel names the plain variables; a named account reads its own.
            reason += f" (for {delivery.target}: the ones ending in __{delivery.account.upper()})"
        await self._conclude(delivery, status, reason)

    async def _conclude(self, delivery: Delivery, status: DeliveryStatus, reason: str) -> None:
        notice = (
            f"Delivery {delivery.id} ({delivery.item_id} on {delivery.target}, "
            f"{delivery.lang}) {status}: {reason}"
        )
        values: dict[str, object] = {"error": reason}
        await self.unwritten.conclude(
            Conclusion(delivery.id, status, self.clock.now(), values, notice)
        )

    async def _tell(self, delivery: Delivery, what: str) -> None:
        await self.notifier.notify_staff(
            f"Delivery {delivery.id} ({delivery.item_id} on {delivery.target}, "
            f"{delivery.lang}) {what}"
        )
