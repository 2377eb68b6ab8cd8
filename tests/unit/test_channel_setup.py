"""Channels are enabled by their credentials; a missing one is a clear error naming it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.app import build_channels
from bot.channels.console import ConsoleChannel
from bot.config import ConfigError, Settings, load_config
from bot.store import Store
from tests.campaign_factory import SHIPPED_CONFIG

Setup = tuple[Settings, Store]


@pytest.fixture
def settings_and_store(tmp_path: Path) -> Iterator[Setup]:
    store = Store(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    yield load_config(SHIPPED_CONFIG).settings, store
    store.close()


def test_no_credentials_means_dry_run(settings_and_store: Setup) -> None:
    settings, store = settings_and_store
    channels = build_channels(settings, store, dry_run=False)
    assert set(channels) == {"console", "telegram", "x", "mastodon", "bluesky"}
    assert all(isinstance(c, ConsoleChannel) for c in channels.values())
    x, console = channels["x"], channels["console"]
    assert isinstance(x, ConsoleChannel) and isinstance(console, ConsoleChannel)
    assert x.dry_run and not console.dry_run


def test_partial_credentials_name_every_missing_variable(
    settings_and_store: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings, store = settings_and_store
    monkeypatch.setenv("X_CONSUMER_KEY", "key-value")
    with pytest.raises(ConfigError) as info:
        build_channels(settings, store, dry_run=False)
    message = str(info.value)
    assert "x needs X_CONSUMER_SECRET, X_ACCESS_TOKEN, X_ACCESS_TOKEN_SECRET" in message
    assert "telegram needs TELEGRAM_BOT_TOKEN, TELEGRAM_CHANNEL_ID" in message
    assert "mastodon needs MASTODON_API_BASE_URL, MASTODON_ACCESS_TOKEN" in message
    assert "bluesky needs BLUESKY_HANDLE, BLUESKY_APP_PASSWORD" in message
    assert "--dry-run" in message
    assert "key-value" not in message


def test_dry_run_flag_wins_over_credentials(
    settings_and_store: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings, store = settings_and_store
    monkeypatch.setenv("X_CONSUMER_KEY", "key-value")
    channels = build_channels(settings, store, dry_run=True)
    assert all(isinstance(c, ConsoleChannel) for c in channels.values())
