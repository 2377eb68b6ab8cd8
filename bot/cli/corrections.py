"""The ``correct`` command: reply with a correction under every published post of an item."""

from __future__ import annotations

import click

from bot.cli.common import EXIT_CONTENT, config_option, fail, json_option, print_json
from bot.cli.schedule import actor, core
from bot.delivery.corrections import (
    CorrectionError,
    PlannedCorrection,
    plan_corrections,
    queue_corrections,
)


def _where(plan: PlannedCorrection) -> str:
    original = plan.original
    place = original.url or original.external_id or "(no id)"
    return f"delivery {original.id:<5} {original.target:<9} {original.lang:<3} {place}"


def _state(plan: PlannedCorrection) -> str:
    if plan.existing is not None:
        return f"already corrected: delivery {plan.existing.id} ({plan.existing.status})"
    if plan.problem is not None:
        return f"NOT CORRECTED: {plan.problem}"
    return "reply with the correction"


@click.command()
@click.argument("item_id")
@click.option("--yes", is_flag=True, help="Publish without asking for confirmation.")
@click.option("--dry-run", is_flag=True, help="Show what would go out; publish nothing.")
@config_option
@json_option
def correct(
    item_id: str, yes: bool, dry_run: bool, config_path: str | None, as_json: bool
) -> None:
    """Reply with the correction (or retraction) of ITEM_ID under each of its published posts.

    Mark the item corrected or retracted in the library first. Each published post gets
    one reply, once: run it again after a failure and only the rest go out. The running
    worker publishes the replies, like every delivery. Exit 1 when some posts cannot get
    their correction yet (the reason is shown).
    """
    if as_json and not (yes or dry_run):
        fail("--json asks no question: add --yes to publish, or --dry-run to look")
    app = core(config_path)
    try:
        item, plans = plan_corrections(app.settings, app.library, app.renderer, app.store, item_id)
    except CorrectionError as exc:
        fail(str(exc))
    assert item.status is not None
    ready = [plan for plan in plans if plan.ready]
    blocked = [plan for plan in plans if plan.problem is not None]
    if as_json and dry_run:
        print_json([_as_json(plan) for plan in plans])
        raise SystemExit(EXIT_CONTENT if blocked else 0)
    if not as_json:
        click.echo(f"{item.id} was {item.status.summary()}")
        for plan in plans:
            click.echo(f"{_where(plan)}  {_state(plan)}")
        if not plans:
            click.echo("it was never published: nothing to correct")
    if dry_run and not as_json:
        shown: set[tuple[str, str]] = set()
        for plan in ready:
            key = (plan.original.channel, plan.original.lang)
            if key not in shown:
                shown.add(key)
                click.echo(f"\n── {key[0]} · {key[1]} (dry run: not published)\n{plan.text}")
        click.echo(f"\ndry run: {len(ready)} correction(s) would go out; nothing was written")
    elif ready:
        channels = sorted({plan.original.channel for plan in ready})
        if not yes:
            click.confirm(
                f"Publish {len(ready)} correction(s) as replies on {', '.join(channels)}?",
                abort=True,
            )
        written = queue_corrections(app.store, ready, actor(), "cli", app.clock.now())
        if as_json:
            print_json({"queued": [d.id for d in written], "blocked": len(blocked)})
        else:
            ids = ", ".join(str(d.id) for d in written)
            click.echo(
                f"queued {len(written)} correction(s) (deliveries {ids or 'none'}): the running "
                "worker publishes them as replies; `campaign-bot deliveries` shows them"
            )
            if app.store.is_paused():
                click.echo("note: the campaign is paused: they go out after `campaign-bot resume`")
    elif as_json:
        print_json({"queued": [], "blocked": len(blocked)})
    if blocked:
        raise SystemExit(EXIT_CONTENT)


def _as_json(plan: PlannedCorrection) -> dict[str, object]:
    original = plan.original
    return {
        "delivery": original.id,
        "channel": original.channel,
        "account": original.account or None,
        "lang": original.lang,
        "external_id": original.external_id,
        "url": original.url,
        "text": plan.text,
        "already": plan.existing.id if plan.existing is not None else None,
        "problem": plan.problem,
    }
