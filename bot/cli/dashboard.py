"""``campaign-bot dashboard link``: a one-time sign-in link from the shell."""

from __future__ import annotations

import click

from bot.app import DRY_RUN_STAFF
from bot.cli.common import config_option, fail, handles_config_errors
from bot.cli.schedule import actor, core
from bot.config import dashboard_url
from bot.store.signin import LINK_LIFETIME, create_link


@click.group("dashboard")
def dashboard_group() -> None:
    """The staff dashboard in the browser (served by `campaign-bot run`)."""


@dashboard_group.command("link")
@click.option("--staff", "staff_id", type=int, required=True, help="Your Telegram user id.")
@config_option
@handles_config_errors
def link(staff_id: int, config_path: str | None) -> None:
    """Print a one-time sign-in link (10 minutes, single use) for a staff member."""
    base = dashboard_url()  # a bad DASHBOARD_URL or PORT: exit 2 before a link is made
    app = core(config_path)
    staff = app.settings.staff
    if staff_id not in staff and not (not staff and staff_id == DRY_RUN_STAFF):
        if staff:
            fail(f"{staff_id} is not on the staff list (`staff:` in the config)")
        fail(
            f"{staff_id} is not on the staff list: `staff:` in the config is empty; add your "
            f"Telegram id there, or use --staff {DRY_RUN_STAFF} with a dry run"
        )
    token = create_link(app.store, staff_id, app.clock.now())
    app.store.audit(actor(), "cli", "dashboard-link", {"staff": staff_id})
    minutes = int(LINK_LIFETIME.total_seconds() // 60)
    click.echo(f"{base}/signin/{token}")
    click.echo(f"(valid {minutes} minutes, once; it opens a 12-hour session)", err=True)
