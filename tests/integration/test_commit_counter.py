"""The commit counter: SQLite tells in microseconds whether anyone committed since a look."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime

from sqlalchemy import text

from bot.store import Store


def test_every_commit_from_this_process_or_another_changes_the_count(store: Store) -> None:
    if store.engine.dialect.name != "sqlite":
        assert store.commits.read() is None  # no such number: the pollers always look
        return
    first = store.commits.read()
    assert first is not None and store.commits.read() == first  # nothing committed

    store.set_paused(True, "test", "test", datetime.now(UTC))
    second = store.commits.read()
    assert second is not None and second != first

    with store.engine.connect() as connection:  # a transaction rolled back commits nothing
        connection.execute(text("UPDATE campaign_state SET paused = false"))
        connection.rollback()
    assert store.commits.read() == second

    database = store.engine.url.database
    script = (
        "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]);"
        " c.execute('UPDATE campaign_state SET paused = 0'); c.commit()"
    )
    subprocess.run([sys.executable, "-c", script, str(database)], check=True, timeout=60)
    third = store.commits.read()  # the CLI or another worker
    assert third is not None and third != second


def test_an_in_memory_database_has_no_count() -> None:
    store = Store("sqlite://")
    try:
        assert store.commits.read() is None
    finally:
        store.close()
