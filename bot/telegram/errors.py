"""Reading python-telegram-bot errors the same way everywhere (flood-control waits)."""

from __future__ import annotations

import warnings
from datetime import timedelta

from telegram.error import RetryAfter
from telegram.warnings import PTBDeprecationWarning


def retry_after_seconds(exc: RetryAfter) -> float:
    """Return how long Telegram asked to wait, in seconds.

    PTB 22 returns an ``int`` with a PTBDeprecationWarning unless ``PTB_TIMEDELTA`` is set,
    and a ``timedelta`` if it is (the only type from PTB 23 on): accept both, warn never.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value: int | float | timedelta = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)
