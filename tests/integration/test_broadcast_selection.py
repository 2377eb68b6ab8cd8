"""Selecting a broadcast's recipients on both stores: each one once, across a crash and a move."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.store import Broadcast, DeliveryStatus, Store
from bot.store import audience as audience_queries
from bot.store.audience import create_broadcast, get_broadcast, materialize_batch
from bot.store.private_outbox import MESSAGES
from bot.store.subscribers import forget, migrate_chat
from tests.integration.test_fanout_support import add_subscribers, messages

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
LANGUAGES = ["en", "ar"]


class Crash(Exception):
    """The process died in the middle of a selection transaction."""


def broadcast(store: Store) -> Broadcast:
    return create_broadcast(
        store,
        item_id="a-share",
        topic=None,
        lang=None,
        rate=25.0,
        paid=False,
        actor="cli:test",
        via="cli",
        now=NOW,
    )


def select_all(store: Store, broadcast_id: int, limit: int) -> None:
    while not materialize_batch(store, broadcast_id, LANGUAGES, limit, NOW)[1]:
        pass


def recipients(store: Store, broadcast_id: int) -> Counter[int]:
    return Counter(row.chat_id for row in messages(store, broadcast_id))


def row_for(broadcast_id: int, chat_id: int) -> dict[str, Any]:
    return {
        "kind": "broadcast",
        "broadcast_id": broadcast_id,
        "chat_id": chat_id,
        "item_id": "a-share",
        "lang": "en",
        "status": DeliveryStatus.PENDING,
        "attempts": 0,
        "next_attempt_at": NOW,
        "created_at": NOW,
        "updated_at": NOW,
    }


def test_a_selection_that_crashes_mid_batch_resumes_with_no_duplicate_and_no_gap(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    audience = add_subscribers(store, range(1, 41), language=lambda c: "ar" if c % 3 else "en")
    add_subscribers(store, range(41, 46), active=False)  # between the others in chat order
    add_subscribers(store, range(46, 61), language="ckb")  # not a language of the item
    sent = broadcast(store)
    assert materialize_batch(store, sent.id, LANGUAGES, 7, NOW) == (7, False)
    assert materialize_batch(store, sent.id, LANGUAGES, 7, NOW) == (7, False)

    real_insert = audience_queries.insert_recipients

    def insert_then_die(session: Session, columns: Any, query: Any) -> int:
        real_insert(session, columns, query)  # the rows are written, not committed
        raise Crash

    monkeypatch.setattr(audience_queries, "insert_recipients", insert_then_die)
    with pytest.raises(Crash):
        materialize_batch(store, sent.id, LANGUAGES, 7, NOW)
    assert get_broadcast(store, sent.id).cursor == 14  # where the last commit left it
    assert sum(recipients(store, sent.id).values()) == 14

    monkeypatch.undo()
    select_all(store, sent.id, 7)
    assert recipients(store, sent.id) == Counter(audience)
    assert get_broadcast(store, sent.id).total == len(audience)


def test_selecting_again_from_the_start_adds_nobody(store: Store) -> None:
    audience = add_subscribers(store, range(1, 21))
    sent = broadcast(store)
    select_all(store, sent.id, 6)
    with store.sessions.begin() as session:  # as if a cursor update had been lost
        session.execute(
            update(Broadcast)
            .where(Broadcast.id == sent.id)
            .values(cursor=None, status="selecting")
        )
    select_all(store, sent.id, 6)
    assert recipients(store, sent.id) == Counter(audience)
    assert get_broadcast(store, sent.id).total == len(audience)


def test_the_database_refuses_a_second_row_for_a_recipient_of_a_broadcast(store: Store) -> None:
    add_subscribers(store, [1, 2])
    first, second = broadcast(store), broadcast(store)
    select_all(store, first.id, 10)
    with pytest.raises(IntegrityError), store.engine.begin() as connection:
        connection.execute(insert(MESSAGES), [row_for(first.id, 2)])
    with store.engine.begin() as connection:  # the same chat in another broadcast is fine
        connection.execute(insert(MESSAGES), [row_for(second.id, 2)])
    assert recipients(store, first.id) == Counter([1, 2])
    assert recipients(store, second.id) == Counter([2])


def test_a_chat_moving_to_an_id_the_broadcast_has_already_gets_it_once(store: Store) -> None:
    add_subscribers(store, [1, 2, 3])
    sent = broadcast(store)
    select_all(store, sent.id, 10)
    with store.engine.begin() as connection:
        connection.execute(
            update(MESSAGES).where(MESSAGES.c.chat_id == 1).values(status=DeliveryStatus.SENT)
        )

    migrate_chat(store, 2, 3)  # Telegram says chat 2 is now chat 3, which has its own row

    rows = {(row.chat_id, row.status) for row in messages(store, sent.id)}
    assert rows == {(1, "sent"), (2, "skipped"), (3, "pending")}
    migrate_chat(store, 1, 3)  # a row already sent stays where it went
    assert {(row.chat_id, row.status) for row in messages(store, sent.id)} == rows
    migrate_chat(store, 3, 4)  # a free id: the row follows the chat
    assert recipients(store, sent.id) == Counter([1, 2, 4])


def test_a_chat_moved_past_the_cursor_mid_selection_gets_one_row(store: Store) -> None:
    audience = add_subscribers(store, range(1, 21))
    sent = broadcast(store)
    assert materialize_batch(store, sent.id, LANGUAGES, 5, NOW) == (5, False)
    migrate_chat(store, 3, 100)  # selected already; its row moves with it, past the cursor
    assert materialize_batch(store, sent.id, LANGUAGES, 5, NOW) == (5, False)  # 6..10: none
    select_all(store, sent.id, 5)  # the batch that reaches chat 100 skips it, the rest go in
    expected = Counter(c for c in audience if c != 3) + Counter([100])
    assert recipients(store, sent.id) == expected
    assert get_broadcast(store, sent.id).total == len(audience)


def test_forget_and_a_move_find_every_kind_of_row_of_a_chat(store: Store) -> None:
    # A chat's rows are found through two indexes (no index on the chat alone): its keyed
    # rows (a reminder; a broadcast row written before revision 0010) and its broadcast rows.
    add_subscribers(store, [1, 2])
    first, second = broadcast(store), broadcast(store)
    select_all(store, first.id, 10)
    select_all(store, second.id, 10)
    keyed = [
        {**row_for(None, chat), "kind": "reminder", "idempotency_key": f"rem:{chat}:2026-11-24"}
        for chat in (1, 2)
    ] + [{**row_for(first.id, chat), "idempotency_key": f"b:{first.id}:{chat}"} for chat in (1, 2)]
    with store.engine.begin() as connection:
        connection.execute(insert(MESSAGES), keyed)

    def rows_of(chat: int) -> Counter[tuple[int | None, str | None]]:
        with store.engine.connect() as connection:
            found = connection.execute(
                select(MESSAGES.c.broadcast_id, MESSAGES.c.idempotency_key).where(
                    MESSAGES.c.chat_id == chat
                )
            )
            return Counter((row.broadcast_id, row.idempotency_key) for row in found)

    two = rows_of(2)
    assert sum(two.values()) == 4
    migrate_chat(store, 2, 5)  # every row of chat 2 follows it
    assert rows_of(2) == Counter() and rows_of(5) == two
    assert forget(store, 5) == 4 + 1  # its four messages and its settings
    assert rows_of(5) == Counter() and sum(rows_of(1).values()) == 4
