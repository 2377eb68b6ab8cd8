"""Commands for the audience: broadcast (and resend-uncertain), broadcasts, cancel-broadcast,
subscribers (CSV, stats)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from bot.cli.common import EXIT_CONTENT, config_option, fail, json_option, print_json
from bot.cli.schedule import actor, core
from bot.delivery.broadcasts import (
    BroadcastError,
    Progress,
    cancel,
    plan_broadcast,
    progress,
    start_broadcast,
)
from bot.delivery.subscriber_csv import RowError, check_file, read_file, write_csv
from bot.store import DeliveryStatus, Store
from bot.store.audience import (
    export_subscribers,
    get_broadcast,
    import_subscribers,
    list_broadcasts,
)
from bot.store.private_outbox import status_counts
from bot.store.subscribers import subscriber_stats
from bot.store.uncertain import requeue_uncertain

POLL_SECONDS = 0.5
STALL_HINT_SECONDS = 30.0
MAX_PROBLEMS = 50


class ItemOrCommand(click.Group):
    """``broadcast ITEM [OPTIONS]`` sends an item; ``broadcast COMMAND`` runs a subcommand."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["send", *args]
        return super().parse_args(ctx, args)


@click.group(cls=ItemOrCommand)
def broadcast() -> None:
    """Send an item to subscribers: `broadcast ITEM [OPTIONS]` (same as `broadcast send`).

    `broadcast resend-uncertain ID` queues a broadcast's uncertain recipients again.
    """


@broadcast.command(name="send")
@click.argument("item_id")
@click.option("--topic", help="Only subscribers following this topic.")
@click.option("--lang", help="Only subscribers using this language.")
@click.option("--rate", type=float, help="Messages per second (default: broadcast.rate).")
@click.option(
    "--paid/--free",
    default=None,
    help="Paid broadcast: up to 1000/s at 0.1 Star each (default: broadcast.paid).",
)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--wait", is_flag=True, help="Show progress until every recipient is done.")
@config_option
def send(
    item_id: str,
    topic: str | None,
    lang: str | None,
    rate: float | None,
    paid: bool | None,
    yes: bool,
    wait: bool,
    config_path: str | None,
) -> None:
    """Send ITEM_ID to every matching active subscriber (the running worker sends it)."""
    app = core(config_path)
    try:
        plan = plan_broadcast(
            app.settings,
            app.library,
            app.store,
            item_id,
            topic=topic,
            lang=lang,
            rate=rate,
            paid=paid,
        )
    except BroadcastError as exc:
        fail(str(exc))
    click.echo(plan.describe())
    if not plan.recipients:
        fail("no active subscriber matches; nothing to send", EXIT_CONTENT)
    if not yes and not _confirmed():
        sys.exit(1)
    try:
        created = start_broadcast(app.store, plan, actor(), "cli", app.clock.now())
    except BroadcastError as exc:
        fail(str(exc))
    click.echo(f"broadcast {created.id} queued; the worker (`campaign-bot run`) sends it")
    if wait:
        _follow(app.store, created.id, plan.recipients)


@broadcast.command(name="resend-uncertain")
@click.argument("broadcast_id", type=int)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@config_option
def resend_uncertain(broadcast_id: int, yes: bool, config_path: str | None) -> None:
    """Queue BROADCAST_ID's uncertain recipients again (the running worker sends them).

    Uncertain means the request left but its answer never came: Telegram may have delivered
    the message already, so some of these people may get it twice.
    """
    app = core(config_path)
    try:
        get_broadcast(app.store, broadcast_id)  # an unknown id is refused
        count = status_counts(app.store, broadcast_id).get(DeliveryStatus.UNCERTAIN, 0)
    except BroadcastError as exc:
        fail(str(exc))
    if not count:
        fail(f"broadcast {broadcast_id} has no uncertain recipients; nothing to re-send", 1)
    click.echo(
        f"Broadcast {broadcast_id}: {count} uncertain recipients. Telegram may already have "
        "delivered the message to some of them; they would get it twice."
    )
    if not yes and not _confirmed("Re-send to them?"):
        sys.exit(1)
    try:
        requeued = requeue_uncertain(app.store, broadcast_id, actor(), "cli", app.clock.now())
    except BroadcastError as exc:
        fail(str(exc))
    click.echo(
        f"broadcast {broadcast_id}: {requeued} recipients queued again; "
        "the worker (`campaign-bot run`) sends them"
    )


def _confirmed(question: str = "Send it?") -> bool:
    """Ask staff to confirm; without an answer (no terminal, end of input) nothing is sent."""
    try:
        if click.confirm(question, default=False):
            return True
    except click.Abort:
        click.echo(
            "\nno answer (is standard input a terminal?): nothing sent; "
            "pass --yes to send without asking",
            err=True,
        )
        return False
    click.echo("nothing sent")
    return False


def _follow(store: Store, broadcast_id: int, expected: int) -> None:
    """Show a progress bar until every recipient is in a final state."""
    last_change = time.monotonic()
    done = 0
    with click.progressbar(length=max(expected, 1), label=f"broadcast {broadcast_id}") as bar:
        while True:
            state = progress(store, broadcast_id)
            bar.length = max(state.total, 1)
            if state.final > done:
                bar.update(state.final - done)
                done, last_change = state.final, time.monotonic()
            if state.complete:
                break
            if time.monotonic() - last_change > STALL_HINT_SECONDS:
                click.echo("\nno progress for 30 s: is the worker running (`campaign-bot run`)?")
                last_change = time.monotonic()
            time.sleep(POLL_SECONDS)
    click.echo(state.line())


@click.command()
@config_option
@json_option
def broadcasts(config_path: str | None, as_json: bool) -> None:
    """List recent broadcasts with their progress."""
    app = core(config_path)
    rows = [Progress(b, status_counts(app.store, b.id)) for b in list_broadcasts(app.store)]
    if as_json:
        print_json([row.as_json() for row in rows])
        return
    for row in rows:
        click.echo(row.line())
    click.echo(f"{len(rows)} broadcasts")


@click.command(name="cancel-broadcast")
@click.argument("broadcast_id", type=int)
@config_option
def cancel_broadcast(broadcast_id: int, config_path: str | None) -> None:
    """Cancel a broadcast: recipients not sent to yet are skipped."""
    app = core(config_path)
    try:
        cancel(app.store, broadcast_id, actor(), "cli", app.clock.now())
    except BroadcastError as exc:
        fail(str(exc))
    click.echo(progress(app.store, broadcast_id).line())


@click.group()
def subscribers() -> None:
    """Supporters: import and export as CSV, statistics."""


@subscribers.command(name="import")
@click.argument("csv_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@config_option
def import_command(csv_file: Path, config_path: str | None) -> None:
    """Import subscribers from CSV_FILE: all rows or, if any row is bad, none.

    Columns: chat_id, language, topics (space separated), reminder (daily, weekly, off),
    reminder_time (HH:MM), time_zone, consented_at (ISO time with zone); optional
    reminder_weekday (0-6, Monday = 0). People who used /stop are never re-added.
    """
    app = core(config_path)
    topics = app.library.topics
    now = app.clock.now()
    problems = check_file(csv_file, app.settings, topics, now)
    if problems:
        for problem in problems[:MAX_PROBLEMS]:
            click.echo(f"{csv_file}: {problem}", err=True)
        if len(problems) > MAX_PROBLEMS:
            click.echo(f"... and {len(problems) - MAX_PROBLEMS} more", err=True)
        rows = len({problem.line for problem in problems})
        fail(f"{len(problems)} problem(s) in {rows} row(s); nothing was imported", EXIT_CONTENT)
    try:
        result = import_subscribers(
            app.store, read_file(csv_file, app.settings, topics, now), actor(), now
        )
    except RowError as exc:  # the file changed after the check; the transaction rolled back
        fail(f"{csv_file}: {exc}; nothing was imported", EXIT_CONTENT)
    click.echo(
        f"imported {result.added + result.updated} subscribers ({result.added} new, "
        f"{result.updated} updated); {result.opted_out} left out because they used /stop"
    )


@subscribers.command()
@click.option(
    "--output", type=click.Path(dir_okay=False, path_type=Path), help="File (default: stdout)."
)
@config_option
def export(output: Path | None, config_path: str | None) -> None:
    """Export the active subscribers as CSV, in the columns import reads."""
    app = core(config_path)
    if output is None:
        write_csv(export_subscribers(app.store), sys.stdout)
        return
    with output.open("w", newline="", encoding="utf-8") as handle:
        count = write_csv(export_subscribers(app.store), handle)
    click.echo(f"exported {count} subscribers to {output}", err=True)


@subscribers.command()
@config_option
@json_option
def stats(config_path: str | None, as_json: bool) -> None:
    """Count subscribers: active, inactive, by language and by topic."""
    app = core(config_path)
    data = subscriber_stats(app.store)
    if as_json:
        print_json(data)
        return
    click.echo(f"active: {data['active']}\ninactive: {data['inactive']}")
    for lang, count in sorted(data["by_language"].items()):
        click.echo(f"  {lang}: {count}")
    for topic, count in data["by_topic"].items():
        click.echo(f"  #{topic}: {count}")
