"""Has anything been committed to the database since the last look? Microseconds to ask."""

from __future__ import annotations

import sqlite3
import threading

from sqlalchemy import Engine


class CommitCounter:
    """A number that changes whenever any connection commits to a SQLite database file.

    SQLite's ``PRAGMA data_version`` on a connection changes when *another* connection has
    committed, whether in this process or in another (the CLI, a second worker). This
    counter keeps a connection of its own that never writes, so every commit counts; a read
    costs a few microseconds and never waits for a writer. The idle pollers compare it with
    the value they saw at their last look and skip the look's queries when it is the same.

    ``read`` returns None where there is no such number (PostgreSQL, an in-memory SQLite
    database, a ``file:`` URI it does not open) or the read failed: the caller then looks,
    as it would without a counter.
    """

    def __init__(self, engine: Engine) -> None:
        database = engine.url.database if engine.dialect.name == "sqlite" else None
        plain_file = database and database != ":memory:" and not database.startswith("file:")
        self._path = database if plain_file else None
        self._connection: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def read(self) -> int | None:
        if self._path is None:
            return None
        with self._lock:
            try:
                if self._connection is None:
                    # Autocommit and no busy wait: the pragma opens no transaction to wait in.
                    self._connection = sqlite3.connect(
                        self._path, timeout=0, isolation_level=None, check_same_thread=False
                    )
                return int(self._connection.execute("PRAGMA data_version").fetchone()[0])
            except sqlite3.Error:
                self._close()
                return None

    def close(self) -> None:
        with self._lock:
            self._close()

    def _close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None
