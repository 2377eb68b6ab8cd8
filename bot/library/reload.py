"""Reload the message library in place when its files change, so a running worker sees edits."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from bot.library.loader import Library, Problem, load_library

Stamp = tuple[tuple[str, int, int], ...]


def library_stamp(root: Path) -> Stamp:
    """Name, size and modification time of every library file: changes when one is edited."""
    stamps = []
    for path in sorted(root.glob("*.yaml")):
        try:
            info = path.stat()
        except OSError:  # removed between the listing and the look
            continue
        stamps.append((path.name, info.st_size, info.st_mtime_ns))
    return tuple(stamps)


def reload_library(library: Library) -> list[Problem]:
    """Load the files again into ``library`` (every holder sees the new items at once).

    When the files have problems nothing changes and the problems are returned: a half-saved
    edit must not take items away from a running campaign.
    """
    try:
        fresh, problems = load_library(library.root)
    except OSError as exc:  # unreadable now (permissions, a file half replaced)
        return [Problem(str(library.root), f"cannot read the library: {exc}")]
    if problems:
        return problems
    for field in dataclasses.fields(Library):
        if field.name not in ("root", "revision"):
            setattr(library, field.name, getattr(fresh, field.name))
    library.revision += 1
    return []
