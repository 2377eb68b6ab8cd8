"""The store on SQLite and PostgreSQL: migrations, posts, the outbox rows, pause, audit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from bot.store import Base, DeliveryStatus, Post, PostError, PostStatus, Store
from bot.store.posts import (
    approve_post,
    cancel_post,
    claim_delivery,
    create_post,
    get_post,
    recover_interrupted,
    write_deliveries,
)

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


def new_post(store: Store, **fields: Any) -> Post:
    values: dict[str, Any] = {
        "item_id": "f",
        "lang": "en",
        "channels": ["x"],
        "due_at": NOW,
        "created_by": "cli:a",
        "via": "cli",
    }
    values.update(fields)
    post = create_post(store, **values)
    assert post is not None
    return post


def test_migrations_match_the_models(store: Store) -> None:
    with store.engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert diff == []


def test_upgrade_twice_is_harmless(store: Store) -> None:
    store.upgrade()
    assert store.is_paused() is False


def test_times_come_back_aware_utc(store: Store) -> None:
    local = datetime(2026, 3, 29, 9, 0, tzinfo=UTC).astimezone()
    post = create_post(
        store,
        item_id="f",
        lang="en",
        channels=["console"],
        due_at=local,
        created_by="cli:test",
        via="cli",
    )
    assert post is not None
    again = get_post(store, post.id)
    assert again.due_at == local
    assert again.due_at.tzinfo is not None and again.due_at.utcoffset() == timedelta(0)


def test_occurrence_key_makes_a_firing_one_post(store: Store) -> None:
    first = create_post(
        store,
        item_id="f",
        lang="en",
        channels=["x"],
        due_at=NOW,
        created_by="rule:r",
        via="worker",
        rule_id="r",
        occurrence_key="r@1#en",
    )
    second = create_post(
        store,
        item_id="g",
        lang="en",
        channels=["x"],
        due_at=NOW,
        created_by="rule:r",
        via="worker",
        rule_id="r",
        occurrence_key="r@1#en",
    )
    assert first is not None and second is None


def test_cancel_only_before_dispatch(store: Store) -> None:
    post = create_post(
        store, item_id="f", lang="en", channels=["x"], due_at=NOW, created_by="cli:a", via="cli"
    )
    assert post is not None
    assert cancel_post(store, post.id, "cli:a", "cli").status == PostStatus.CANCELLED
    with pytest.raises(PostError, match="is cancelled and can no longer be cancelled"):
        cancel_post(store, post.id, "cli:a", "cli")
    with pytest.raises(PostError, match="no post with id 999"):
        cancel_post(store, 999, "cli:a", "cli")
    actions = [(e.action, e.actor, e.via) for e in store.audit_log()]
    assert ("cancel", "cli:a", "cli") in actions and ("post", "cli:a", "cli") in actions


def test_two_person_approval(store: Store) -> None:
    post = create_post(
        store,
        item_id="f",
        lang="en",
        channels=["x"],
        due_at=NOW,
        created_by="telegram:1",
        via="telegram",
        needs_approval=True,
    )
    assert post is not None
    with pytest.raises(PostError, match="different staff member"):
        approve_post(store, post.id, "telegram:1", "telegram", NOW)
    approved = approve_post(store, post.id, "telegram:2", "telegram", NOW)
    assert approved.approved_by == "telegram:2"
    with pytest.raises(PostError, match="already approved"):
        approve_post(store, post.id, "telegram:3", "telegram", NOW)


def test_delivery_claim_is_exclusive_and_recovery_marks_uncertain(store: Store) -> None:
    post = create_post(
        store,
        item_id="f",
        lang="en",
        channels=["x", "mastodon"],
        due_at=NOW,
        created_by="cli:a",
        via="cli",
    )
    assert post is not None
    with store.sessions.begin() as session:
        write_deliveries(session, post, NOW, DeliveryStatus.PENDING)
    from bot.store.posts import ready_deliveries

    rows = ready_deliveries(store, NOW)
    assert [r.channel for r in rows] == ["x", "mastodon"]
    assert claim_delivery(store, rows[0].id, "text", NOW) is True
    assert claim_delivery(store, rows[0].id, "text", NOW) is False
    recovered = recover_interrupted(store)
    assert [r.id for r in recovered] == [rows[0].id]
    assert [r.channel for r in ready_deliveries(store, NOW)] == ["mastodon"]


def test_pause_is_shared_between_processes(db_url: str) -> None:
    one, two = Store(db_url), Store(db_url)
    one.upgrade()
    try:
        assert one.set_paused(True, "cli:a", "cli") is True
        assert two.is_paused() is True
        assert two.set_paused(True, "cli:b", "cli") is False
        assert two.set_paused(False, "cli:b", "cli") is True
        assert one.is_paused() is False
    finally:
        one.close()
        two.close()


def test_session_store_round_trip(store: Store) -> None:
    assert store.load("bluesky") is None
    store.save("bluesky", "s1")
    store.save("bluesky", "s2")
    assert store.load("bluesky") == "s2"
