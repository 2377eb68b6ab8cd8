"""What `run` says at start: the next posts, and in a dry run a link to the dashboard."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from bot.schedule.outlook import coming_up
from bot.store.signin import LINK_LIFETIME, create_link

if TYPE_CHECKING:
    from bot.app import Core

log = logging.getLogger(__name__)


def announce(core: Core, base_url: str, *, signin_as: int | None) -> None:
    """Log the next few posts; with ``signin_as``, a one-time sign-in link for that staff id."""
    lines = coming_up(core.settings, core.library, core.store, core.clock)
    if lines:
        log.info("coming up:\n  %s", "\n  ".join(lines))
    else:
        log.info("nothing scheduled in the next 31 days (see `campaign-bot queue`)")
    if signin_as is None:
        return
    token = create_link(core.store, signin_as, core.clock.now())
    note = "" if signin_as in core.settings.staff else " (a local staff id: add yours to `staff:`)"
    log.info(
        "dashboard: open %s/signin/%s within %d minutes to sign in as %d%s",
        base_url,
        token,
        LINK_LIFETIME.total_seconds() // 60,
        signin_as,
        note,
    )
