"""Split a post that is too long for one X post into a reply chain, at sentence boundaries."""

from __future__ import annotations

import re
from collections.abc import Callable

_BREAKS = re.compile(r"(?<=\n\n)|(?<=[.!?؟])\s+")


def split_thread(text: str, measure: Callable[[str], int], limit: int) -> list[str]:
    """Cut ``text`` into parts that each measure at most ``limit`` (paragraphs, then sentences).

    The last paragraph (the citation) is never cut. A piece that alone is too long is cut at
    spaces as a last resort.
    """
    if measure(text) <= limit:
        return [text]
    head, _, citation = text.rpartition("\n\n")
    pieces = [p.strip() for p in _BREAKS.split(head) if p.strip()] if head else []
    pieces.append(citation.strip() if head else text.strip())
    parts: list[str] = []
    current = ""
    for piece in pieces:
        candidate = (
            f"{current}\n\n{piece}"
            if current and "\n" in piece
            else (f"{current} {piece}" if current else piece)
        )
        if measure(candidate) <= limit:
            current = candidate
            continue
        if current:
            parts.append(current)
        current = piece
        while measure(current) > limit:
            cut = _last_space_within(current, measure, limit)
            parts.append(current[:cut].rstrip())
            current = current[cut:].lstrip()
    if current:
        parts.append(current)
    return parts


def _last_space_within(text: str, measure: Callable[[str], int], limit: int) -> int:
    best = 0
    for match in re.finditer(r"\s", text):
        if measure(text[: match.start()]) > limit:
            break
        best = match.start()
    return best or len(text) // 2
