"""Fill a database with many subscribers fast (executemany on SQLite, COPY on PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from bot.store import Store
from bot.store.audience import EXPORT_COLUMNS

LANGUAGES = ("en", "en", "en", "ar", "ckb")  # 60 % English, 20 % Arabic, 20 % Kurdish
FIRST_CHAT = 10_000_001
COLUMNS = (*EXPORT_COLUMNS, "active", "opted_out", "created_at", "updated_at")


def _rows(count: int, stamp: Any) -> Iterator[tuple[Any, ...]]:
    for number in range(count):
        yield (
            FIRST_CHAT + number,
            LANGUAGES[number % len(LANGUAGES)],
            "weapons acknowledge",
            "off",
            "18:00",
            0,
            "Asia/Baghdad",
            stamp,
            True,
            False,
            stamp,
            stamp,
        )


def fill_subscribers(url: str, count: int) -> None:
    """Create the schema and ``count`` active subscribers."""
    store = Store(url)
    store.upgrade()
    now = datetime.now(UTC)
    connection = store.engine.raw_connection()
    try:
        cursor = connection.cursor()
        if store.engine.dialect.name == "sqlite":
            stamp = now.strftime("%Y-%m-%d %H:%M:%S.%f")
            marks = ", ".join("?" * len(COLUMNS))
            cursor.executemany(
                f"INSERT INTO subscribers ({', '.join(COLUMNS)}) VALUES ({marks})",
                _rows(count, stamp),
            )
        else:
            with cursor.copy(f"COPY subscribers ({', '.join(COLUMNS)}) FROM STDIN") as copy:  # type: ignore[attr-defined]
                for row in _rows(count, now):
                    copy.write_row(row)
        connection.commit()
    finally:
        connection.close()
        store.close()
