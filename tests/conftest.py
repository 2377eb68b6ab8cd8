"""Fixtures shared by every test: throwaway campaigns and a clean environment."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.config import ACCOUNT_SUFFIX, SETTINGS
from bot.store import Store
from tests.campaign_factory import Campaign, make_campaign


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Run every test without real credentials, with its own data folder, outside the repo."""
    for name in SETTINGS:
        monkeypatch.delenv(name, raising=False)
    for name in list(os.environ):  # named accounts' credentials, such as X_CONSUMER_KEY__KURDISH
        if name.partition(ACCOUNT_SUFFIX)[0] in SETTINGS and ACCOUNT_SUFFIX in name:
            monkeypatch.delenv(name)
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    # `run` serves HTTP: on any free port, so worker processes started by tests never collide.
    monkeypatch.setenv("PORT", "0")
    monkeypatch.chdir(tmp_path)
    yield


@pytest.fixture
def campaign(tmp_path: Path) -> Campaign:
    """A small valid campaign in a temporary folder."""
    return make_campaign(tmp_path / "campaign")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database URL on SQLite and on PostgreSQL (every store test runs on both)."""
    from tests.databases import database_url

    with database_url(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    """A migrated, empty store."""
    instance = Store(db_url)
    instance.upgrade()
    yield instance
    instance.close()
