"""Counts in words for people: ``1 item``, ``2 items``."""

from __future__ import annotations


def counted(number: int, noun: str) -> str:
    """Return ``1 item`` or ``2 items``."""
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"
