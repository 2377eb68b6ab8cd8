"""Corrections go where the claim went: plan and queue one reply under each published post."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.config import Settings
from bot.library import Item, Library
from bot.render import Renderer, RenderError
from bot.store import Delivery, DeliveryStatus, Store
from bot.store.corrections import corrections_of, published_deliveries, queue_correction


class CorrectionError(Exception):
    """The item cannot be corrected as asked; the message says why."""


@dataclass(frozen=True)
class PlannedCorrection:
    """The reply one published post gets, or why it gets none now."""

    original: Delivery
    text: str | None = None  # the rendered correction
    existing: Delivery | None = None  # a correction already written for this post
    problem: str | None = None  # why it cannot go out (yet)

    @property
    def ready(self) -> bool:
        return self.existing is None and self.problem is None and self.text is not None


def plan_corrections(
    settings: Settings, library: Library, renderer: Renderer, store: Store, item_id: str
) -> tuple[Item, list[PlannedCorrection]]:
    """Render the correction of every post of ``item_id`` that went out; raise when the item
    is unknown or neither corrected nor retracted."""
    try:
        item = library.get(item_id)
    except KeyError as exc:
        raise CorrectionError(str(exc.args[0])) from None
    if item.status is None:
        raise CorrectionError(
            f"{item_id} is neither corrected nor retracted: add a `status:` block to it in "
            f"{library.files[item_id]} first (see README, Corrections and retractions)"
        )
    originals = published_deliveries(store, item_id)
    done = corrections_of(store, [row.id for row in originals])
    plans = []
    for original in originals:
        if original.id in done:
            plans.append(PlannedCorrection(original, existing=done[original.id]))
        else:
            plans.append(_plan(settings, item, renderer, original))
    return item, plans


def _plan(
    settings: Settings, item: Item, renderer: Renderer, original: Delivery
) -> PlannedCorrection:
    assert item.status is not None
    channel, lang = original.channel, original.lang
    if original.status == DeliveryStatus.UNCERTAIN or not original.external_id:
        return PlannedCorrection(
            original,
            problem="uncertain: it may not have been published and has no id to reply to; "
            "check the channel and correct it by hand",
        )
    if channel not in settings.enabled_channels:
        return PlannedCorrection(original, problem=f"channel {channel} is disabled in the config")
    if not item.is_reviewed(lang) and not settings.publish_unreviewed:
        return PlannedCorrection(
            original,
            problem=f"the {lang} text of the {item.status.state} status is not reviewed: "
            f"`campaign-bot library review {item.id} --lang {lang} --by NAME` (or set "
            "publish_unreviewed: true), then run correct again",
        )
    try:
        rendered = renderer.render_correction(item, channel, lang)
    except RenderError as exc:
        return PlannedCorrection(original, problem=str(exc))
    threads = settings.threads_long_posts(channel)
    if not rendered.fits and not threads:
        return PlannedCorrection(
            original,
            problem=f"the correction is too long for {channel} "
            f"({rendered.length}/{rendered.limit}); shorten status text or the template",
        )
    return PlannedCorrection(original, text=rendered.text)


def queue_corrections(
    store: Store, plans: list[PlannedCorrection], actor: str, via: str, now: datetime
) -> list[Delivery]:
    """Write the ready corrections to the outbox; the worker publishes them as replies.

    Each original post gets one correction ever (a unique key), so running this twice, or
    from two places at once, never replies twice.
    """
    written = []
    for plan in plans:
        if plan.ready:
            delivery = queue_correction(store, plan.original, actor, via, now)
            if delivery is not None:
                written.append(delivery)
    return written
