"""The dashboard with named accounts: the schedule form offers them, and pages show which account
a delivery went to."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.store import DeliveryStatus, Post
from bot.store.posts import write_deliveries
from tests.web_harness import Web, dashboard_campaign, start_web


@pytest.fixture(name="web")
async def web_fixture(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Web]:
    campaign = dashboard_campaign(tmp_path / "c")
    config = campaign.config()
    config["channels"] = {
        "console": {"enabled": False},
        "telegram": {},
        "x": {
            "accounts": {
                "english": {"languages": ["en"]},
                "arabic": {"languages": ["ar"]},
            }
        },
    }
    for rule in config["schedule"]["rules"]:
        rule["channels"] = ["telegram", "x"]
    campaign.write_config(config)
    async for web in start_web(campaign, db_url, monkeypatch):
        yield web


async def test_a_post_to_one_account_from_the_dashboard(web: Web) -> None:
    csrf = await web.sign_in()
    form = await (await web.client.get("/schedule")).text()
    assert 'value="x:english"' in form and 'value="x:arabic"' in form
    fields = [("item", "f-attacks"), ("channel", "x:arabic"), ("lang", "ar"), ("when", "")]
    response = await web.client.post(
        "/schedule", data=[("csrf", csrf), *fields], allow_redirects=False
    )
    assert response.status == 303, await response.text()
    refused = await web.client.post(
        "/schedule",
        data=[("csrf", csrf), ("item", "f-attacks"), ("channel", "x:arabic"), ("lang", "en")],
    )
    assert refused.status == 400
    assert "no account of x:arabic carries en" in await refused.text()

    with web.core.store.sessions.begin() as session:
        [post] = session.scalars(select(Post))
        assert post.channels == "x:arabic"
        write_deliveries(
            session, post, web.clock.now(), DeliveryStatus.PENDING, None, [("x", "arabic")]
        )
    page = await web.client.get(f"/calendar/post/{post.id}")
    text = await page.text()
    assert page.status == 200, text[:500]
    assert "<td>x:arabic</td><td>pending</td>" in text
    assert "<h3>x · ar</h3>" in text  # the preview renders as X does
    listing = await (await web.client.get("/deliveries")).text()
    assert "<td>x:arabic</td><td>ar</td>" in listing
