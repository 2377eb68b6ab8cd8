"""SQLite is for one process: ``run`` holds an exclusive lock on a file next to the database."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TextIO

from sqlalchemy.engine import make_url

from bot.config import ConfigError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no advisory locks; run one process by hand
    fcntl = None  # type: ignore[assignment]


def lock_path(url: str) -> Path | None:
    """The lock file of a SQLite database file (None: PostgreSQL, or SQLite in memory)."""
    parsed = make_url(url)
    database = parsed.database
    if not parsed.drivername.startswith("sqlite") or not database or database == ":memory:":
        return None
    if database.startswith("file:"):
        return None  # a URI database: shared memory or the like
    path = Path(database).resolve()
    return path.with_name(path.name + ".lock")


def hold_sqlite(url: str) -> TextIO | None:
    """Lock the SQLite database at ``url`` for this process, or raise ConfigError if another
    ``run`` holds it. Keep the returned file open while running: closing it releases the lock
    (so does the end of the process, however it ends)."""
    path = lock_path(url)
    if path is None or fcntl is None:
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = path.open("a+", encoding="utf-8")
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.seek(0)
        holder = handle.read().strip()
        handle.close()
        who = f" (pid {holder})" if holder.isdigit() else ""
        database = path.with_suffix("")
        raise ConfigError(
            f"another `campaign-bot run`{who} is using the SQLite database {database}; "
            "SQLite is for one process: stop it first, or use PostgreSQL (DATABASE_URL) "
            "to run replicas"
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return handle
