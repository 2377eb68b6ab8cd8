"""Commands that run and steer publishing: run, post, queue, cancel, pause, resume, deliveries."""

from __future__ import annotations

import getpass
import logging
from datetime import UTC

import click

from bot.app import ContentError, Core, build_core
from bot.channels.base import DRY_RUN_PREFIX
from bot.cli.common import (
    EXIT_CONTENT,
    config_option,
    fail,
    handles_config_errors,
    json_option,
    print_json,
)
from bot.config import ConfigError, dashboard_url, env, http_port
from bot.schedule.posting import build_queue, schedule_post, x_accounts_today, x_totals
from bot.schedule.when import parse_when
from bot.store import DeliveryStatus, PostError
from bot.store.posts import approve_post, cancel_post, list_deliveries


def actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def core(config_path: str | None) -> Core:
    """Build the core for one command; its database connections close when the command ends."""
    try:
        built = build_core(config_path)
        click.get_current_context().call_on_close(built.store.close)
        return built
    except ContentError as exc:
        fail(str(exc), EXIT_CONTENT)
    except ConfigError as exc:
        fail(str(exc))


def configure_logging() -> None:
    level = env("LOG_LEVEL").upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
        fail(f"LOG_LEVEL {level!r} is not one of DEBUG, INFO, WARNING, ERROR")
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # httpx logs request URLs, which hold the bot token; APScheduler logs every job run.
    for noisy in ("httpx", "httpcore", "apscheduler"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


@click.command()
@click.option("--dry-run", is_flag=True, help="Print posts instead of publishing them.")
@config_option
@handles_config_errors
def run(dry_run: bool, config_path: str | None) -> None:
    """Run the bot: publish on schedule until SIGTERM or SIGINT (the Procfile's web process)."""
    from bot.app import run as run_app

    http_port(), dashboard_url()  # a bad PORT or DASHBOARD_URL is a one-line error, up front
    configure_logging()
    try:
        run_app(config_path, dry_run=dry_run)
    except ContentError as exc:
        fail(str(exc), EXIT_CONTENT)


@click.command()
@click.argument("item_id")
@click.option(
    "--channel",
    "channels",
    multiple=True,
    required=True,
    help="Channel to publish on; repeat for several.",
)
@click.option("--lang", help="Language (default: the campaign's default language).")
@click.option("--at", "when", help="ISO time with a zone, or +10s, +15m, +2h (default: now).")
@config_option
@json_option
def post(
    item_id: str,
    channels: tuple[str, ...],
    lang: str | None,
    when: str | None,
    config_path: str | None,
    as_json: bool,
) -> None:
    """Schedule a one-off post of ITEM_ID and print its id."""
    app = core(config_path)
    settings = app.settings
    try:
        due = parse_when(when, app.clock.now()) if when else app.clock.now()
        created = schedule_post(
            settings=settings,
            library=app.library,
            renderer=app.renderer,
            store=app.store,
            item_id=item_id,
            channels=list(channels),
            lang=lang,
            due_at=due,
            actor=actor(),
            via="cli",
            now=app.clock.now(),
        )
    except (PostError, ValueError) as exc:
        fail(str(exc))
    lang = created.lang
    if as_json:
        print_json({"id": created.id})
        return
    local = due.astimezone(settings.zone)
    utc = due.astimezone(UTC)
    notes = []
    if created.needs_approval:
        notes.append(
            "it needs approval by a second staff member: `campaign-bot approve "
            f"{created.id}` as another user, or /approve {created.id} on Telegram"
        )
    if app.store.is_paused():
        notes.append("the campaign is paused: if still paused when it falls due, it is skipped")
    click.echo(
        f"post {created.id} scheduled: {item_id} ({lang}) on {', '.join(created.channel_list)} "
        f"at {local:%Y-%m-%d %H:%M %Z} ({utc:%H:%M} UTC)"
    )
    for note in notes:
        click.echo(f"note: {note}")


@click.command()
@click.option(
    "--days",
    default=7.0,
    show_default=True,
    type=click.FloatRange(min=0),
    help="How many days ahead.",
)
@config_option
@json_option
def queue(days: float, config_path: str | None, as_json: bool) -> None:
    """Show what will be published in the next N days, from one-offs and rules."""
    app = core(config_path)
    settings = app.settings
    rows = build_queue(settings, app.library, app.store, app.clock, days)
    x_per_account = x_accounts_today(settings, app.store, app.clock)
    x_today = x_totals(x_per_account)
    x_accounts = x_per_account or []
    if as_json:
        print_json(
            {
                "posts": [r.as_json() for r in rows],
                "paused": app.store.is_paused(),
                "x_posts_today": x_today[0] if x_today else None,
                "x_max_posts_per_day": x_today[1] if x_today else None,
                "x_accounts": [
                    {"account": key, "posts_today": sent, "max_posts_per_day": cap}
                    for key, sent, cap in x_accounts
                ],
            }
        )
        return
    if app.store.is_paused():
        click.echo("PAUSED: nothing is published until `campaign-bot resume`.")
    for r in rows:
        click.echo(
            f"{r.local}  {r.utc}  {r.item:<30} {r.lang:<3} {','.join(r.channels):<30} "
            f"{r.origin:<22} {r.state}"
        )
    skipped = sum(1 for r in rows if r.state.startswith("skip"))
    going = len(rows) - skipped
    extra = f"; {skipped} more will be skipped, as shown" if skipped else ""
    click.echo(
        f"{going} post{'' if going == 1 else 's'} in the next {days:g} days{extra} "
        f"(times in {settings.campaign.time_zone} and UTC)"
    )
    if len(x_accounts) > 1:
        each = ", ".join(f"{key} {sent}/{cap}" for key, sent, cap in x_accounts)
        click.echo(f"X posts today: {each}")
    elif x_today is not None:
        click.echo(f"X posts today: {x_today[0]}/{x_today[1]}")


@click.command()
@click.argument("post_id", type=int)
@config_option
def cancel(post_id: int, config_path: str | None) -> None:
    """Cancel a scheduled post so it never fires."""
    app = core(config_path)
    try:
        cancel_post(app.store, post_id, actor(), "cli")
    except PostError as exc:
        fail(str(exc))
    click.echo(f"post {post_id} cancelled")


@click.command()
@click.argument("post_id", type=int)
@config_option
def approve(post_id: int, config_path: str | None) -> None:
    """Approve a post another staff member made (with approvals_required: 1 in config)."""
    app = core(config_path)
    try:
        approved = approve_post(app.store, post_id, actor(), "cli", app.clock.now())
    except PostError as exc:
        fail(str(exc))
    when = "now" if approved.due_at <= app.clock.now() else "at its time"
    click.echo(f"post {post_id} approved by {approved.approved_by}; it goes out {when}")


@click.command()
@config_option
def pause(config_path: str | None) -> None:
    """Pause the campaign: nothing publishes; posts falling due meanwhile are skipped."""
    app = core(config_path)
    changed = app.store.set_paused(True, actor(), "cli", app.clock.now())
    click.echo("campaign paused" if changed else "campaign was already paused")


@click.command()
@config_option
def resume(config_path: str | None) -> None:
    """Resume publishing (posts skipped while paused are not sent later)."""
    app = core(config_path)
    changed = app.store.set_paused(False, actor(), "cli", app.clock.now())
    click.echo("campaign resumed" if changed else "campaign was not paused")


@click.command()
@click.option("--since", help="Only deliveries updated since: ISO time with a zone, or -2h, -1d.")
@click.option(
    "--status",
    type=click.Choice([s.value for s in DeliveryStatus]),
    help="Only deliveries in this state.",
)
@config_option
@json_option
def deliveries(
    since: str | None, status: str | None, config_path: str | None, as_json: bool
) -> None:
    """Show the delivery log: what was published where, and what failed and why."""
    app = core(config_path)
    try:
        start = parse_when(since, app.clock.now(), past=True) if since else None
    except ValueError as exc:
        fail(str(exc))
    rows = list_deliveries(app.store, start, status)
    if as_json:
        print_json(
            [
                {
                    "id": d.id,
                    "post_id": d.post_id,
                    "item": d.item_id,
                    "channel": d.channel,
                    "account": d.account or None,
                    "lang": d.lang,
                    "status": d.status,
                    "external_id": d.external_id,
                    "url": d.url,
                    "error": d.error,
                    "corrects": d.corrects_id,
                    "created_at": d.created_at.isoformat(),
                    "updated_at": d.updated_at.isoformat(),
                }
                for d in rows
            ]
        )
        return
    width = max([9, *(len(d.target) for d in rows)])  # account names: telegram:english
    for d in rows:
        where = d.url or d.external_id or ""
        reason = f"  ({d.error})" if d.error else ""
        if d.corrects_id is not None:
            reason = f"  (correction: reply to delivery {d.corrects_id}){reason}"
        if (d.external_id or "").startswith(DRY_RUN_PREFIX):
            where = "(dry run: printed, not published)"
        click.echo(
            f"{d.id:>5} post {d.post_id:<5} {d.updated_at:%Y-%m-%d %H:%M}Z "
            f"{d.target:<{width}} {d.lang:<3} {d.status:<9} {d.item_id} {where}{reason}"
        )
    click.echo(f"{len(rows)} deliver{'y' if len(rows) == 1 else 'ies'}")


@click.group()
def db() -> None:
    """Database maintenance."""


@db.command()
@config_option
def upgrade(config_path: str | None) -> None:
    """Apply database migrations (run does this on start too)."""
    app = core(config_path)  # opening the store applies the migrations
    before, after = app.store.migrated or (None, None)
    if before == after:
        click.echo(f"database already up to date (revision {after})")
    else:
        click.echo(f"database upgraded from revision {before or 'none (empty)'} to {after}")
