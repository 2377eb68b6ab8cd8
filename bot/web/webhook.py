"""The Telegram webhook route: check Telegram's secret header, hand the update to the bot."""

from __future__ import annotations

import hmac
import json
import logging

from aiohttp import web

from bot.web.context import dashboard_of

log = logging.getLogger(__name__)
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
MAX_UPDATE = 1_000_000  # bytes; Telegram's updates are far smaller


async def receive(request: web.Request) -> web.Response:
    """Take one update: 403 without the right secret, 400 for a body that is not JSON."""
    board = dashboard_of(request)
    if board.on_update is None:
        raise web.HTTPNotFound()
    if board.webhook_secret:
        sent = request.headers.get(SECRET_HEADER, "")
        if not hmac.compare_digest(sent, board.webhook_secret):
            log.warning("webhook call without the right secret token refused")
            return web.Response(status=403, text="forbidden")
    if request.content_length is not None and request.content_length > MAX_UPDATE:
        return web.Response(status=413, text="too large")
    try:
        data = json.loads(await request.read())
    except ValueError:
        return web.Response(status=400, text="not JSON")
    if not isinstance(data, dict):
        return web.Response(status=400, text="not an update")
    await board.on_update(data)
    return web.Response(text="ok")


def add_route(app: web.Application, path: str) -> None:
    app.router.add_post(path, receive)
