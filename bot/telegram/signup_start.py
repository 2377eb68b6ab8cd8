"""/start with a sign-up code: remember its preset until consent, then apply and count it.

The code is held in the supporter's conversation data between /start and pressing "I agree"
(in memory, never in the database) and dropped once counted: the total per code is all that is
kept, so nothing ties a person to the link they used.
"""

from __future__ import annotations

from typing import Any

from telegram.ext import ContextTypes

from bot.links import LinkPreset, preset_for
from bot.store.tallies import count_signup
from bot.telegram.services import BotServices

KEY = "signup_link"


def remember_link(context: ContextTypes.DEFAULT_TYPE, app: BotServices) -> LinkPreset | None:
    """Keep the preset of ``/start <code>``; a plain /start or an unknown code forgets it."""
    # A deep link's payload is one word; anything else was typed and is no code.
    payload = context.args[0] if context.args and len(context.args) == 1 else None
    preset = preset_for(payload, app.settings, app.topics)
    if context.user_data is not None:
        if preset is None:
            context.user_data.pop(KEY, None)
        else:
            context.user_data[KEY] = preset
    return preset


def _remembered(context: ContextTypes.DEFAULT_TYPE) -> LinkPreset | None:
    value = context.user_data.get(KEY) if context.user_data is not None else None
    return value if isinstance(value, LinkPreset) else None


def with_link_preset(
    context: ContextTypes.DEFAULT_TYPE, app: BotServices, starting: dict[str, Any]
) -> dict[str, Any]:
    """The starting settings with the link's language and topics, if /start had a code."""
    preset = _remembered(context)
    if preset is None:
        return starting
    chosen = dict(starting)
    if preset.language in app.settings.campaign.languages:
        chosen["language"] = preset.language
    if preset.topics:
        chosen["topics"] = " ".join(preset.topics)
    return chosen


def count_link_signup(context: ContextTypes.DEFAULT_TYPE, app: BotServices) -> None:
    """Add this sign-up to its link's total and forget the code."""
    preset = _remembered(context)
    if preset is None:
        return
    count_signup(app.store, preset.code)
    if context.user_data is not None:
        context.user_data.pop(KEY, None)
