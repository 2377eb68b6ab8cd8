"""Rendering: sandboxed templates, right-to-left isolation and per-channel length rules."""

from bot.render.bidi import isolate, isolate_runs, strip_isolates
from bot.render.engine import Rendered, Renderer, RenderError
from bot.render.limits import RULES, LengthRule

__all__ = [
    "RULES",
    "LengthRule",
    "RenderError",
    "Rendered",
    "Renderer",
    "isolate",
    "isolate_runs",
    "strip_isolates",
]
