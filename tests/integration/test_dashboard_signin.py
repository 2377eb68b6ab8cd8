"""Signing in to the dashboard: one-time links, sessions, staff removal, CSRF, all audited."""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.store.signin import create_link
from tests.campaign_factory import Campaign
from tests.web_harness import OUTSIDER, STAFF_A, STAFF_B, Web, dashboard_campaign, start_web


@pytest.fixture(name="web")
async def web_fixture(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Web]:
    async for web in start_web(dashboard_campaign(tmp_path / "c"), db_url, monkeypatch):
        yield web


def refusals(web: Web) -> list[tuple[str, str]]:
    return [(actor, action) for actor, via, action, allowed, _ in web.audit() if not allowed]


async def test_a_link_signs_in_once_and_only_on_the_click(web: Web) -> None:
    token = create_link(web.core.store, STAFF_A, web.clock.now())
    for _ in range(2):  # a chat app's preview crawler fetches it: nothing is used up
        page = await web.client.get(f"/signin/{token}")
        assert page.status == 200
        assert 'id="signin"' in await page.text()
        assert page.headers["Cache-Control"] == "no-store"
    response = await web.client.post(f"/signin/{token}", allow_redirects=False)
    assert response.status == 303 and response.headers["Location"] == "/calendar"
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Max-Age=43200" in cookie
    assert "Secure" not in cookie  # plain http on loopback
    calendar = await web.client.get("/calendar")
    assert calendar.status == 200
    assert f"Sign out ({STAFF_A})" in await calendar.text()
    assert (f"telegram:{STAFF_A}", "web", "signin", True) in [a[:4] for a in web.audit()]

    again = await web.client.post(f"/signin/{token}", allow_redirects=False)
    assert again.status == 403
    assert "already been used" in await again.text()
    assert ("web:anonymous", "web-signin") in refusals(web)


async def test_an_expired_link_is_refused_and_audited(web: Web) -> None:
    token = create_link(web.core.store, STAFF_A, web.clock.now())
    web.clock.advance(minutes=10, seconds=1)
    for response in (
        await web.client.get(f"/signin/{token}"),
        await web.client.post(f"/signin/{token}", allow_redirects=False),
    ):
        assert response.status == 403
        text = await response.text()
        assert "expired" in text and "Set-Cookie" not in response.headers
    assert refusals(web).count(("web:anonymous", "web-signin")) == 2


async def test_a_forged_link_reveals_nothing(web: Web) -> None:
    create_link(web.core.store, STAFF_A, web.clock.now())
    response = await web.client.post("/signin/forged-token-value", allow_redirects=False)
    assert response.status == 403
    text = await response.text()
    assert "not valid" in text and str(STAFF_A) not in text
    assert (await web.client.get("/calendar")).status == 401
    assert ("web:anonymous", "web-signin") in refusals(web)


async def test_a_link_for_someone_not_on_the_staff_list_is_refused(web: Web) -> None:
    token = create_link(web.core.store, OUTSIDER, web.clock.now())
    response = await web.client.post(f"/signin/{token}", allow_redirects=False)
    assert response.status == 403
    assert "not on the staff list" in await response.text()
    assert (await web.client.get("/calendar")).status == 401
    [detail] = [d for *_, action, allowed, d in web.audit() if action == "web-signin"]
    assert str(OUTSIDER) in detail


async def test_removing_a_staff_id_ends_the_session_at_once(web: Web) -> None:
    await web.sign_in(STAFF_B)
    assert (await web.client.get("/library")).status == 200
    web.core.settings.staff.remove(STAFF_B)
    response = await web.client.get("/library")
    assert response.status == 403
    assert "not on the staff list" in await response.text()
    assert (f"telegram:{STAFF_B}", "web-not-staff") in refusals(web)
    web.core.settings.staff.append(STAFF_B)  # back on the list: the session is gone anyway
    assert (await web.client.get("/library")).status == 401


async def test_a_session_ends_after_twelve_hours(web: Web) -> None:
    await web.sign_in()
    web.clock.advance(hours=11, minutes=59)
    assert (await web.client.get("/calendar")).status == 200
    web.clock.advance(minutes=2)
    assert (await web.client.get("/calendar")).status == 401


async def test_cookies_are_secure_behind_https(web: Web) -> None:
    web.board.secure_cookies = True
    token = create_link(web.core.store, STAFF_A, web.clock.now())
    response = await web.client.post(f"/signin/{token}", allow_redirects=False)
    assert "Secure" in response.headers["Set-Cookie"]


async def test_signed_out_visitors_see_only_how_to_sign_in(web: Web) -> None:
    for path in ("/calendar", "/library", "/schedule", "/supporters", "/broadcasts"):
        response = await web.client.get(path)
        assert response.status == 401
        assert "/dashboard" in await response.text()
    response = await web.client.post("/pause", data={"reason": "x"})
    assert response.status == 401
    assert web.core.store.is_paused() is False
    assert ("web:anonymous", "web-signed-out") in refusals(web)


async def test_a_form_without_its_csrf_token_is_refused(web: Web) -> None:
    csrf = await web.sign_in()
    for data in ({"reason": "stop"}, {"reason": "stop", "csrf": "wrong"}):
        response = await web.client.post("/pause", data=data, allow_redirects=False)
        assert response.status == 403
        assert "security token" in await response.text()
    assert web.core.store.is_paused() is False
    assert refusals(web).count((f"telegram:{STAFF_A}", "web-csrf")) == 2
    status, _ = await web.post("/pause", {"reason": "stop"}, csrf)
    assert status == 303 and web.core.store.is_paused() is True


async def test_sign_out_ends_the_session(web: Web) -> None:
    csrf = await web.sign_in()
    status, _ = await web.post("/signout", {}, csrf)
    assert status == 303
    assert (await web.client.get("/calendar")).status == 401
    assert (f"telegram:{STAFF_A}", "web", "signout", True) in [a[:4] for a in web.audit()]


def rewrite_config(campaign: Campaign, data: dict[str, Any] | str) -> None:
    """Write the campaign's config file anew and give it a later modification time."""
    path = campaign.config_path
    if isinstance(data, str):
        path.write_text(data, encoding="utf-8")
    else:
        campaign.write_config(data)
    later = path.stat().st_mtime_ns + 5_000_000_000
    os.utime(path, ns=(later, later))


async def test_removing_a_staff_id_from_the_config_file_ends_access_without_restart(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    campaign = dashboard_campaign(tmp_path / "c")
    async for web in start_web(campaign, db_url, monkeypatch):
        await web.sign_in(STAFF_B)
        assert (await web.client.get("/library")).status == 200
        config = campaign.config()
        rewrite_config(campaign, {**config, "staff": [STAFF_A]})
        response = await web.client.get("/library")
        assert response.status == 403
        assert "not on the staff list" in await response.text()
        # A config that no longer parses keeps the last good list, and says so once.
        good = campaign.config_path.read_text(encoding="utf-8")
        rewrite_config(campaign, good + "staff: [\n")
        with caplog.at_level(logging.WARNING, logger="bot.staff"):
            await web.sign_in(STAFF_A)
            assert (await web.client.get("/library")).status == 200
            assert (await web.client.get("/calendar")).status == 200
        kept = [r for r in caplog.records if "staff list kept" in r.getMessage()]
        assert len(kept) == 1
        rewrite_config(campaign, config)
        token = create_link(web.core.store, STAFF_B, web.clock.now())
        back = await web.client.post(f"/signin/{token}", allow_redirects=False)
        assert back.status == 303
