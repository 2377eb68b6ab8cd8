"""A database from before 0010 keeps its keyed rows; a selection under way finishes once."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import insert, select, text
from sqlalchemy.exc import IntegrityError

from bot.store import Store
from bot.store.audience import get_broadcast, materialize_batch
from bot.store.database import MIGRATIONS, alembic_config, current_revision
from bot.store.private_outbox import MESSAGES, insert_messages
from tests.integration.test_fanout_support import add_subscribers, messages

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
BEFORE = "0003"  # the head before broadcast rows lost their text key
HEAD = ScriptDirectory(str(MIGRATIONS)).get_current_head()
AUDIENCE = range(1, 11)


def reminder(chat_id: int, key: str) -> dict[str, object]:
    return {
        "idempotency_key": key,
        "kind": "reminder",
        "broadcast_id": None,
        "chat_id": chat_id,
        "item_id": "a-share",
        "lang": "en",
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": NOW,
        "created_at": NOW,
        "updated_at": NOW,
    }


@pytest.fixture(name="old_store")
def old_store_fixture(db_url: str) -> Iterator[Store]:
    """A store at 0003 with a reminder and a broadcast whose selection got to chat 4."""
    store = Store(db_url)
    command.upgrade(alembic_config(store.engine), BEFORE)
    add_subscribers(store, AUDIENCE)
    stamp = {"now": NOW}
    with store.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO broadcasts (id, item_id, rate, paid, status, total, cursor, "
                "created_by, created_at, updated_at) VALUES (1, 'a-share', 25.0, false, "
                "'selecting', 4, 4, 'cli:test', :now, :now)"
            ),
            stamp,
        )
        for chat in range(1, 5):
            connection.execute(
                text(
                    "INSERT INTO messages (idempotency_key, kind, broadcast_id, chat_id, "
                    "item_id, lang, status, attempts, next_attempt_at, created_at, "
                    "updated_at) VALUES (:key, 'broadcast', 1, :chat, 'a-share', 'en', "
                    "'sent', 1, :now, :now, :now)"
                ),
                {**stamp, "key": f"b1:{chat}", "chat": chat},
            )
        connection.execute(insert(MESSAGES), [reminder(7, "rem:7:2026-11-24")])
    yield store
    store.close()


def keys(store: Store) -> dict[tuple[str, int], str | None]:
    with store.engine.connect() as connection:
        rows = connection.execute(
            select(MESSAGES.c.kind, MESSAGES.c.chat_id, MESSAGES.c.idempotency_key)
        )
        return {(kind, chat): key for kind, chat, key in rows}


def test_the_selection_under_way_finishes_with_everyone_once(old_store: Store) -> None:
    old_store.upgrade()
    assert old_store.migrated == (BEFORE, HEAD)
    while not materialize_batch(old_store, 1, ["en"], 3, NOW)[1]:
        pass

    assert Counter(row.chat_id for row in messages(old_store, 1)) == Counter(AUDIENCE)
    assert get_broadcast(old_store, 1).total == len(AUDIENCE)
    found = keys(old_store)
    # The rows written before the upgrade keep their keys, and their state.
    assert [found["broadcast", chat] for chat in range(1, 5)] == [f"b1:{c}" for c in range(1, 5)]
    assert all(found["broadcast", chat] is None for chat in range(5, 11))
    assert {row.chat_id for row in messages(old_store, 1) if row.status == "sent"} == {1, 2, 3, 4}


def test_reminder_keys_still_make_a_reminder_once(old_store: Store) -> None:
    old_store.upgrade()
    with old_store.sessions.begin() as session:  # the reminders job ran again the same day
        insert_messages(
            session, [reminder(7, "rem:7:2026-11-24"), reminder(8, "rem:8:2026-11-24")]
        )
    assert sorted(chat for kind, chat in keys(old_store) if kind == "reminder") == [7, 8]
    with pytest.raises(IntegrityError), old_store.engine.begin() as connection:
        connection.execute(insert(MESSAGES), [reminder(9, "rem:8:2026-11-24")])


def test_downgrade_gives_every_row_its_key_back(old_store: Store) -> None:
    old_store.upgrade()
    while not materialize_batch(old_store, 1, ["en"], 100, NOW)[1]:
        pass
    command.downgrade(alembic_config(old_store.engine), BEFORE)
    assert current_revision(old_store.engine) == BEFORE

    found = keys(old_store)
    assert {found["broadcast", chat] for chat in AUDIENCE} == {f"b1:{c}" for c in AUDIENCE}
    assert found["reminder", 7] == "rem:7:2026-11-24"
    with pytest.raises(IntegrityError), old_store.engine.begin() as connection:
        connection.execute(  # the text key is unique again
            text(
                "INSERT INTO messages (idempotency_key, kind, broadcast_id, chat_id, item_id, "
                "lang, status, attempts, next_attempt_at, created_at, updated_at) VALUES "
                "('b1:5', 'broadcast', 1, 5, 'a-share', 'en', 'pending', 0, :now, :now, :now)"
            ),
            {"now": NOW},
        )
    old_store.upgrade()  # and up again
    assert old_store.migrated == (BEFORE, HEAD)
