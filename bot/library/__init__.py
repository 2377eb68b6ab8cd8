"""The message library: sourced items loaded from YAML and validated."""

from bot.library.loader import Library, Problem, load_library, unknown_message
from bot.library.models import KINDS, Item, ItemStatus, Kind, Source, Target
from bot.library.search import shareable_items
from bot.library.selection import current_call_to_action, latest_findings

__all__ = [
    "KINDS",
    "Item",
    "ItemStatus",
    "Kind",
    "Library",
    "Problem",
    "Source",
    "Target",
    "current_call_to_action",
    "latest_findings",
    "load_library",
    "shareable_items",
    "unknown_message",
]
