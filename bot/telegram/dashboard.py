"""/dashboard: a staff member gets a one-time sign-in link to the dashboard, without a preview."""

from __future__ import annotations

import html

from telegram import Update
from telegram.ext import ContextTypes

from bot.config import dashboard_url
from bot.store.signin import create_link
from bot.telegram.access import staff_only
from bot.telegram.services import BotServices
from bot.telegram.supporters import reply


@staff_only
async def dashboard(
    update: Update, context: ContextTypes.DEFAULT_TYPE, app: BotServices, actor: str
) -> None:
    """Answer with a sign-in link bound to this staff member: 10 minutes, usable once."""
    user = update.effective_user
    assert user is not None  # staff_only checked it
    token = create_link(app.store, user.id, app.clock.now())
    app.store.audit(actor, "telegram", "dashboard-link", {"staff": user.id})
    url = f"{dashboard_url()}/signin/{token}"
    await reply(
        update,
        f'<a href="{html.escape(url)}">Open the dashboard</a>\n'
        "The link works once, for 10 minutes, and only for you; do not forward it.",
    )
