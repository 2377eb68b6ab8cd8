"""Staff actions on the schedule shared by the CLI and Telegram: one-off posts and the queue."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.accounts import accounts_for, all_accounts, daily_cap, delivery_accounts, split_target
from bot.accounts import target_names as _target_names
from bot.clock import Clock
from bot.config import Settings
from bot.library import Library, unknown_message
from bot.render import Renderer, RenderError
from bot.schedule.planner import Planner
from bot.schedule.reminders import blackout_reason
from bot.store import Post, PostError, PostStatus, Store
from bot.store.blackouts import BlackoutWindow, stored_blackouts
from bot.store.posts import create_post, move_post, posts_between, sent_today

# A time a few seconds ago (typed `now`, a clock skew) still counts as now.
PAST_TOLERANCE = timedelta(minutes=1)
# A one-off post further ahead than this is a typo (+99999d), not a plan.
MAX_AHEAD = timedelta(days=731)


def check_post(
    *,
    settings: Settings,
    library: Library,
    renderer: Renderer,
    item_id: str,
    channels: list[str],
    lang: str | None,
    due_at: datetime,
    now: datetime,
) -> tuple[str, list[str]]:
    """Every check of a one-off post, creating nothing: return its language and channels, or
    raise PostError saying what is wrong (so a form of several posts can check them all first)."""
    try:
        item = library.get(item_id)
    except KeyError as exc:
        raise PostError(str(exc.args[0])) from None
    if (retracted := library.retraction(item_id)) is not None:
        raise PostError(f"{retracted}; it is never published again")
    channels = list(dict.fromkeys(channels))  # --channel x --channel x is one post on x
    if not channels:
        raise PostError("name at least one channel")
    if due_at < now - PAST_TOLERANCE:
        raise PostError(
            f"{due_at.astimezone(settings.zone):%Y-%m-%d %H:%M %Z} is in the past; give a time "
            "to come (or leave the time out to post now)"
        )
    if due_at > now + MAX_AHEAD:
        raise PostError(
            f"{due_at.astimezone(settings.zone):%Y-%m-%d %H:%M %Z} is more than two years "
            "ahead; give a time within two years"
        )
    for channel in channels:
        _check_target(settings, channel)
    lang = lang or settings.campaign.default_language
    if lang not in settings.campaign.languages:
        raise PostError(unknown_message("language", lang, settings.campaign.languages))
    if lang not in item.text:
        raise PostError(f"{item_id} has no {lang} text; languages: {', '.join(item.text)}")
    if not item.is_reviewed(lang) and not settings.publish_unreviewed:
        raise PostError(
            f"the {lang} text of {item_id} is not reviewed; a person must review it "
            f"(`campaign-bot library review {item_id} --lang {lang} --by NAME`) or set "
            "publish_unreviewed: true"
        )
    # A network carrying no account in this language is passed over (as rules do); a named
    # account that does not carry it, or no target at all, is a mistake.
    for target in channels:
        if split_target(target)[1] and not accounts_for(settings, [target], lang):
            raise PostError(_no_account(settings, [target], lang))
    if not accounts_for(settings, channels, lang):
        raise PostError(_no_account(settings, channels, lang))
    for channel in dict.fromkeys(a.network for a in accounts_for(settings, channels, lang)):
        try:
            rendered = renderer.render(item, channel, lang)
        except RenderError as exc:
            raise PostError(str(exc)) from None
        threads = settings.threads_long_posts(channel)
        if not rendered.fits and not threads:
            raise PostError(
                f"{item_id} is {rendered.length - rendered.limit} over the {channel}"
                f" limit ({rendered.length}/{rendered.limit})"
            )
    return lang, channels


def schedule_post(
    *,
    settings: Settings,
    library: Library,
    renderer: Renderer,
    store: Store,
    item_id: str,
    channels: list[str],
    lang: str | None,
    due_at: datetime,
    actor: str,
    via: str,
    now: datetime,
) -> Post:
    """Check and schedule a one-off post; raise PostError saying what is wrong."""
    [post] = schedule_posts(
        settings=settings,
        library=library,
        renderer=renderer,
        store=store,
        item_id=item_id,
        channels=channels,
        langs=[lang],
        due_at=due_at,
        actor=actor,
        via=via,
        now=now,
    )
    return post


def schedule_posts(
    *,
    settings: Settings,
    library: Library,
    renderer: Renderer,
    store: Store,
    item_id: str,
    channels: list[str],
    langs: list[str | None],
    due_at: datetime,
    actor: str,
    via: str,
    now: datetime,
) -> list[Post]:
    """Check and schedule one post per language, all or nothing: every language passes every
    check before any post is made; raise PostError saying what is wrong."""
    checked = [
        check_post(
            settings=settings,
            library=library,
            renderer=renderer,
            item_id=item_id,
            channels=channels,
            lang=lang,
            due_at=due_at,
            now=now,
        )
        for lang in dict.fromkeys(langs)
    ]
    posts = []
    for lang, targets in checked:
        created = create_post(
            store,
            item_id=item_id,
            lang=lang,
            channels=targets,
            due_at=due_at,
            created_by=actor,
            via=via,
            needs_approval=settings.approvals_required > 0,
        )
        assert created is not None  # only rule firings can collide
        posts.append(created)
    return posts


def reschedule_post(
    settings: Settings,
    store: Store,
    post_id: int,
    due_at: datetime,
    actor: str,
    via: str,
    now: datetime,
) -> Post:
    """Move a post to another time to come; raise PostError saying what is wrong."""
    if due_at < now - PAST_TOLERANCE:
        raise PostError(
            f"{due_at.astimezone(settings.zone):%Y-%m-%d %H:%M %Z} is in the past; give a time "
            "to come"
        )
    return move_post(store, post_id, due_at, actor, via)


def _check_target(settings: Settings, target: str) -> None:
    """Raise PostError unless ``target`` names an enabled network or account."""
    network, name = split_target(target)
    if network in settings.channels and network not in settings.enabled_channels:
        raise PostError(
            f"channel {network} is disabled in the config (channels.{network}.enabled: "
            f"false); enabled: {', '.join(settings.enabled_channels)}"
        )
    if network not in settings.enabled_channels:
        raise PostError(unknown_message("channel", target, _target_names(settings)))
    if name and (problem := settings.unknown_account(target)) is not None:
        raise PostError(problem)
    if name and not settings.channels[network].accounts[name].enabled:
        raise PostError(
            f"account {target} is disabled in the config "
            f"(channels.{network}.accounts.{name}.enabled: false)"
        )


def _no_account(settings: Settings, targets: list[str], lang: str) -> str:
    networks = {split_target(target)[0] for target in targets}
    carried = [
        f"{a.key} ({', '.join(a.languages)})"
        for a in all_accounts(settings)
        if a.network in networks
    ]
    return (
        f"no account of {', '.join(targets)} carries {lang}; "
        f"accounts: {', '.join(carried) or 'none'}"
    )


@dataclass(frozen=True)
class QueueRow:
    """One post to come, from a one-off or a rule."""

    local: str
    utc: str
    item: str
    lang: str
    channels: list[str]
    origin: str
    state: str

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["from"] = data.pop("origin")
        return data


def _row(at: datetime, settings: Settings, **fields: Any) -> QueueRow:
    local = at.astimezone(settings.zone)
    return QueueRow(
        local=local.strftime("%a %Y-%m-%d %H:%M %Z"), utc=at.strftime("%Y-%m-%dT%H:%MZ"), **fields
    )


def planned_state(
    settings: Settings,
    stored: Sequence[BlackoutWindow],
    at: datetime,
    skip_reason: str | None,
    paused: bool,
) -> str:
    """How a rule firing at ``at`` will go: planned, or skipped and why (the planner's reason,
    a blackout then (configured, or one of the ``stored`` windows), or the pause now). The
    queue, /queue and the calendar all say this."""
    if skip_reason:
        return f"skip: {skip_reason}"
    blackout = blackout_reason(settings, at, stored=stored)
    if blackout:
        return f"skip: {blackout}"
    return "skip: the campaign is paused" if paused else "planned"


def build_queue(
    settings: Settings, library: Library, store: Store, clock: Clock, days: float
) -> list[QueueRow]:
    """Everything due in the next ``days``: scheduled and held one-offs, then planned firings."""
    now = clock.now()
    rows = []
    for p in posts_between(
        store,
        now - timedelta(days=1),
        now + timedelta(days=days),
        (PostStatus.SCHEDULED, PostStatus.HELD),
    ):
        state = "needs approval" if p.needs_approval and not p.approved_by else p.status
        rows.append(
            _row(
                p.due_at,
                settings,
                item=p.item_id,
                lang=p.lang,
                channels=[a.key for a in delivery_accounts(settings, p.channel_list, p.lang)]
                or p.channel_list,
                origin=f"post {p.id}",
                state=state,
            )
        )
    paused = store.is_paused()
    stored = stored_blackouts(store, now)  # once, not a query per firing
    for o in Planner(settings, library, store, clock).upcoming(days):
        state = planned_state(settings, stored, o.fire_at, o.skip_reason, paused)
        rows.append(
            _row(
                o.fire_at,
                settings,
                item=o.item_id or "-",
                lang=o.lang,
                channels=[a.key for a in accounts_for(settings, o.channels, o.lang)]
                or list(o.channels),
                origin=f"rule {o.rule_id}",
                state=state,
            )
        )
    return sorted(rows, key=lambda r: r.utc)


def x_posts_today(settings: Settings, store: Store, clock: Clock) -> tuple[int, int] | None:
    """Posts sent on X today (campaign time zone) and the daily cap, if X is configured;
    with several X accounts, their sums (``x_accounts_today`` has each)."""
    return x_totals(x_accounts_today(settings, store, clock))


def x_totals(accounts: list[tuple[str, int, int]] | None) -> tuple[int, int] | None:
    """The sums of ``x_accounts_today``'s rows: posts sent on X today and the daily cap."""
    if accounts is None:
        return None
    return sum(a[1] for a in accounts), sum(a[2] for a in accounts)


def x_accounts_today(
    settings: Settings, store: Store, clock: Clock
) -> list[tuple[str, int, int]] | None:
    """Each X account's posts today and its daily cap, as (account, sent, cap)."""
    options = settings.channels.get("x")
    if options is None:
        return None
    start = (
        clock.now().astimezone(settings.zone).replace(hour=0, minute=0, second=0, microsecond=0)
    )
    names = list(options.accounts) or [""]
    return [
        (
            f"x:{name}" if name else "x",
            sent_today(store, "x", start, name),
            daily_cap(settings, "x", name),
        )
        for name in names
    ]
