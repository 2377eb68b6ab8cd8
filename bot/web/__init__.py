"""The HTTP server: dashboard pages and templates, the webhook route, /healthz, /metrics."""

from bot.web.context import Dashboard
from bot.web.server import WebServer, build_web_app

__all__ = ["Dashboard", "WebServer", "build_web_app"]
