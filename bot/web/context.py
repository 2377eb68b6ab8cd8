"""What the dashboard's pages need, handed over once by the composition root."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import web

from bot.store.outage import OutageReporter
from bot.store.signin import Session

if TYPE_CHECKING:
    from bot.app import Core
    from bot.delivery.fanout import FanOut


@dataclass
class Dashboard:
    """The core plus the live parts of a running bot the pages and metrics look at."""

    core: Core
    channels: list[str]
    secure_cookies: bool = False
    # The running fan-out (sends and 429s for /metrics), when the bot sends private messages.
    fanout: Callable[[], FanOut | None] = field(default=lambda: None)
    # Takes one Telegram update (as JSON) for the webhook route; None: no webhook.
    on_update: Callable[[dict[str, Any]], Any] | None = None
    webhook_path: str = ""
    webhook_secret: str = ""
    # A dry run with no `staff:` in the config signs in as this local id (never with Telegram).
    local_staff: int | None = None
    # /healthz during a database outage: one line when it begins, one when it ends.
    outage: OutageReporter = field(default_factory=lambda: OutageReporter("health check"))

    def is_staff(self, staff_id: int) -> bool:
        """Whether ``staff_id`` is on the staff list in the config file now (removal ends
        access at once, without a restart)."""
        return staff_id in self.core.staff or staff_id == self.local_staff


DASHBOARD = web.AppKey("dashboard", Dashboard)


def dashboard_of(request: web.Request) -> Dashboard:
    return request.app[DASHBOARD]


SESSION = web.RequestKey("session", Session)


def session_of(request: web.Request) -> Session | None:
    """The signed-in staff member's session (set by the sign-in middleware), or None."""
    return request.get(SESSION)
