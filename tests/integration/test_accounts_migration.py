"""A database from before accounts keeps its deliveries, their keys and the X count (0005)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from bot.store import DeliveryStatus, Store
from bot.store.database import alembic_config, current_revision, upgrade
from bot.store.posts import get_post, list_deliveries, sent_today, write_deliveries

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
OLD_KEY = "campaign-bot-1-x-0123456789abcdef"


def head(store: Store) -> str | None:
    """The newest revision (later migrations follow 0005)."""
    return ScriptDirectory.from_config(alembic_config(store.engine)).get_current_head()


@pytest.fixture(name="old_store")
def old_store_fixture(db_url: str) -> Iterator[Store]:
    """A store at revision 0002 holding one post published on X before accounts existed."""
    store = Store(db_url)
    upgrade(store.engine, "0002")
    stamp = {"now": NOW}
    with store.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO posts (item_id, lang, channels, due_at, status, created_by, "
                "needs_approval, created_at, updated_at) VALUES ('f-attacks', 'en', 'x', "
                ":now, 'dispatched', 'rule:daily', false, :now, :now)"
            ),
            stamp,
        )
        post_id = connection.execute(text("SELECT id FROM posts")).scalar_one()
        connection.execute(
            text(
                "INSERT INTO deliveries (post_id, channel, item_id, lang, idempotency_key, "
                "status, attempts, next_attempt_at, external_id, notified, created_at, "
                "updated_at) VALUES (:post, 'x', 'f-attacks', 'en', :key, 'sent', 1, :now, "
                "'1860000000000000001', false, :now, :now)"
            ),
            {**stamp, "key": OLD_KEY, "post": post_id},
        )
    yield store
    store.close()


def test_existing_deliveries_stay_valid_with_their_keys(old_store: Store) -> None:
    old_store.upgrade()
    assert old_store.migrated == ("0002", head(old_store))
    [row] = list_deliveries(old_store)
    assert (row.channel, row.account, row.target) == ("x", "", "x")
    assert row.idempotency_key == OLD_KEY
    assert row.external_id == "1860000000000000001"
    # The single account's X cap still counts what it sent before the upgrade.
    day_start = NOW - timedelta(hours=6)
    assert sent_today(old_store, "x", day_start) == 1
    assert sent_today(old_store, "x", day_start, "kurdish") == 0

    post = get_post(old_store, row.post_id)
    with old_store.sessions.begin() as session:  # another account of the same network: allowed
        write_deliveries(session, post, NOW, DeliveryStatus.PENDING, accounts=[("x", "kurdish")])
    with pytest.raises(IntegrityError), old_store.sessions.begin() as session:
        # The unnamed account's delivery of this post exists: never a second one.
        write_deliveries(session, post, NOW, DeliveryStatus.PENDING)
    keys = [r.idempotency_key for r in list_deliveries(old_store)]
    assert keys[0] == OLD_KEY and keys[1].startswith(f"campaign-bot-{post.id}-x-kurdish-")


def test_a_named_accounts_bluesky_session_fits(old_store: Store) -> None:
    old_store.upgrade()
    key = "bluesky:" + "k" * 30  # the longest account name
    old_store.save(key, "handle:::did:::tokens")
    assert old_store.load(key) == "handle:::did:::tokens"


def test_downgrade_returns_to_one_delivery_per_post_and_channel(old_store: Store) -> None:
    old_store.upgrade()
    command.downgrade(alembic_config(old_store.engine), "0002")
    assert current_revision(old_store.engine) == "0002"
    with old_store.engine.connect() as connection:
        keys = connection.execute(text("SELECT idempotency_key FROM deliveries")).scalars()
        assert list(keys) == [OLD_KEY]
    with pytest.raises(IntegrityError), old_store.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO deliveries (post_id, channel, item_id, lang, idempotency_key, "
                "status, attempts, next_attempt_at, notified, created_at, updated_at) "
                "SELECT post_id, 'x', item_id, lang, 'another-key', 'pending', 0, "
                "next_attempt_at, false, created_at, updated_at FROM deliveries"
            )
        )
    old_store.upgrade()  # and up again
    assert old_store.migrated == ("0002", head(old_store))
