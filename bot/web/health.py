"""GET /healthz: is the database reachable, is the campaign paused, what goes out next."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiohttp import web
from sqlalchemy.exc import SQLAlchemyError

from bot.schedule.outlook import next_post_at
from bot.web.context import Dashboard, dashboard_of

log = logging.getLogger(__name__)
routes = web.RouteTableDef()


def health(board: Dashboard) -> dict[str, Any]:
    """The health report; raises SQLAlchemyError when the database cannot be reached."""
    core = board.core
    store = core.store
    due = next_post_at(core.settings, core.library, store, core.clock)
    return {
        "database": "ok",
        "paused": store.is_paused(),
        "channels": board.channels,
        "next_post": due.isoformat() if due else None,
    }


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    board = dashboard_of(request)
    try:
        report = await asyncio.to_thread(health, board)
    except SQLAlchemyError as exc:
        if not board.outage.failed(exc):  # a probe every few seconds: not a line each
            log.warning("health check: database unreachable: %s", type(exc).__name__)
        report = {"database": "unreachable", "channels": board.channels}
        return web.json_response(report, status=503)
    board.outage.succeeded()
    return web.json_response(report)
