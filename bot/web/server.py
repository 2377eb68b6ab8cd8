"""The one HTTP server of a process: dashboard pages, webhook, /healthz and /metrics."""

from __future__ import annotations

import logging
from importlib import resources

from aiohttp import web

from bot.config import ConfigError
from bot.web import (
    auth,
    broadcasts,
    calendar,
    deliveries,
    health,
    killswitch,
    library,
    metrics,
    schedule,
    signin,
    supporters,
    templating,
    webhook,
)
from bot.web.context import DASHBOARD, Dashboard

log = logging.getLogger(__name__)
STATIC = resources.files("bot.web") / "static"


def build_web_app(board: Dashboard) -> web.Application:
    """Build the aiohttp application with every route, the sign-in check and the CSP."""
    app = web.Application(
        middlewares=[auth.security_headers, auth.require_staff], client_max_size=1_000_000
    )
    app[DASHBOARD] = board
    templating.install(app)
    metrics.install(app, board)
    for module in (
        health,
        metrics,
        signin,
        calendar,
        library,
        schedule,
        deliveries,
        broadcasts,
        supporters,
        killswitch,
    ):
        app.router.add_routes(module.routes)
    app.router.add_static("/static", str(STATIC), append_version=False)
    if board.on_update is not None and board.webhook_path:
        webhook.add_route(app, board.webhook_path)
    return app


class WebServer:
    """Runs the application on HOST:PORT inside the bot's event loop."""

    def __init__(self, app: web.Application, host: str, port: int) -> None:
        self.app = app
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        """Where the server listens (PORT=0 picks a free port: the real one after start)."""
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        self._runner = web.AppRunner(self.app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        try:
            await site.start()
        except OSError as exc:
            await self._runner.cleanup()
            self._runner = None
            raise ConfigError(
                f"cannot listen on {self.host}:{self.port} ({exc.strerror or exc}); set PORT "
                "(and HOST) to a free address"
            ) from None
        self.port = int(self._runner.addresses[0][1])
        log.info("HTTP server on %s (dashboard, /healthz, /metrics)", self.url)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
