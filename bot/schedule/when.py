"""Parse times people type: ISO times with a zone, or relative ones like ``+15m``."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

_RELATIVE = re.compile(r"^\+(\d+)(s|m|h|d)$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_when(value: str, now: datetime, *, past: bool = False) -> datetime:
    """Return the aware time ``value`` names (``+10s``, ``+2h``, or ISO 8601 with a zone)."""
    text = value.strip()
    match = _RELATIVE.match(text.replace("-", "+", 1) if past else text)
    if match:
        try:
            delta = timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
            return now - delta if past else now + delta
        except OverflowError:
            raise ValueError(
                f"the time {value!r} is too far {'back' if past else 'ahead'}; "
                "expected a time between the years 1 and 9999"
            ) from None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        example = "-2h" if past else "+15m"
        raise ValueError(
            f"cannot read the time {value!r}: use ISO 8601 with a zone "
            f"(2026-12-01T09:00+03:00) or a relative time like {example}"
        ) from None
    if moment.tzinfo is None:
        raise ValueError(f"the time {value!r} has no zone; add one, e.g. {text}+03:00 or {text}Z")
    return moment
