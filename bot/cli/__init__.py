"""The ``campaign-bot`` command line: thin commands that parse, call a service and print."""

from __future__ import annotations

import click

from bot import __version__
from bot.cli.audience import broadcast, broadcasts, cancel_broadcast, subscribers
from bot.cli.common import CampaignGroup
from bot.cli.content import check, library_group, preview
from bot.cli.corrections import correct
from bot.cli.dashboard import dashboard_group
from bot.cli.links import links
from bot.cli.reviews import review
from bot.cli.schedule import (
    approve,
    cancel,
    db,
    deliveries,
    pause,
    post,
    queue,
    resume,
    run,
)


@click.group(cls=CampaignGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="campaign-bot")
def cli() -> None:
    """Campaign bot: sourced advocacy posts on a schedule, for Telegram, X, Mastodon, Bluesky."""


cli.add_command(check)
cli.add_command(preview)
cli.add_command(library_group)
library_group.add_command(review)
for command in (run, post, queue, approve, cancel, pause, resume, deliveries, db):
    cli.add_command(command)


for command in (broadcast, broadcasts, cancel_broadcast, subscribers, dashboard_group):
    cli.add_command(command)

cli.add_command(links)
cli.add_command(correct)


def main() -> None:
    """Run the command line."""
    cli(prog_name="campaign-bot")
