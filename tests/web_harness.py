"""A dashboard over a throwaway campaign, and a signed-in HTTP client for it."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.app import Core, build_core
from bot.clock import FixedClock
from bot.store.signin import create_link
from bot.web import Dashboard, build_web_app
from tests.campaign_factory import Campaign, action, demand, finding, make_campaign

STAFF_A = 9001
STAFF_B = 9002
OUTSIDER = 4242
# A Tuesday morning in Baghdad; rules fire at 09:00 local.
START = datetime(2026, 11, 24, 5, 30, tzinfo=UTC)
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def dashboard_campaign(root: Path, *, approvals_required: int = 0) -> Campaign:
    """Items in three languages (en and ar reviewed), staff A and B, a daily rule."""
    items = [
        finding(reviewed=["en", "ar"]),
        demand(reviewed=["en", "ar"]),
        action(reviewed=["en", "ar"]),
    ]
    campaign = make_campaign(root, items)
    config = campaign.config()
    config["staff"] = [STAFF_A, STAFF_B]
    config["approvals_required"] = approvals_required
    campaign.write_config(config)
    return campaign


@dataclass
class Web:
    """The dashboard under test: its client, core, clock and the board itself."""

    client: TestClient[Any, Any]
    core: Core
    clock: FixedClock
    board: Dashboard

    async def sign_in(self, staff_id: int = STAFF_A) -> str:
        """Sign in through a one-time link; return the session's CSRF token."""
        token = create_link(self.core.store, staff_id, self.clock.now())
        response = await self.client.post(f"/signin/{token}", allow_redirects=False)
        assert response.status == 303, await response.text()
        page = await (await self.client.get("/calendar")).text()
        found = CSRF.search(page)
        assert found is not None, page
        return found.group(1)

    async def post(self, path: str, data: dict[str, Any], csrf: str) -> tuple[int, str]:
        response = await self.client.post(path, data={**data, "csrf": csrf}, allow_redirects=False)
        return response.status, await response.text()

    def audit(self) -> list[tuple[str, str, str, bool, str]]:
        return [
            (a.actor, a.via, a.action, a.allowed, a.detail)
            for a in reversed(self.core.store.audit_log(500))
        ]


async def start_web(
    campaign: Campaign, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Web]:
    monkeypatch.setenv("DATABASE_URL", db_url)
    clock = FixedClock(START)
    core = build_core(str(campaign.config_path), clock=clock)
    board = Dashboard(core, core.settings.enabled_channels)
    client: TestClient[Any, Any] = TestClient(TestServer(build_web_app(board)))
    await client.start_server()
    try:
        yield Web(client, core, clock, board)
    finally:
        await client.close()
        core.store.close()
