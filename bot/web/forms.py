"""Read dashboard form fields: trimmed text with a length cap, local times in the campaign zone."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from multidict import MultiDictProxy

MAX_TEXT = 200


class FormError(ValueError):
    """A form field a person must correct; the message says which and how."""


def text(form: MultiDictProxy[Any], name: str, limit: int = MAX_TEXT) -> str:
    value = form.get(name, "")
    value = value.strip() if isinstance(value, str) else ""
    if len(value) > limit:
        raise FormError(f"{name} is too long: {len(value)} characters, at most {limit}")
    return value


def local_time(value: str, zone: ZoneInfo, name: str = "time") -> datetime:
    """Read ``YYYY-MM-DDTHH:MM`` (a datetime-local field) as a time in ``zone``."""
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise FormError(
            f"{name} {value[:40]!r} is not a date and time like 2026-12-01T18:30"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return moment
