"""/healthz, /metrics and the webhook route of the one HTTP server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from bot.app import build_core
from bot.clock import FixedClock
from bot.store import Delivery, DeliveryStatus, Post, PostStatus
from bot.store.posts import create_post, write_deliveries
from bot.store.subscribers import consent
from bot.web import Dashboard, build_web_app
from tests.databases import postgres_schema
from tests.tcp_proxy import TcpProxy
from tests.web_harness import START, Web, dashboard_campaign, start_web


@pytest.fixture(name="web")
async def web_fixture(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Web]:
    async for web in start_web(dashboard_campaign(tmp_path / "c"), db_url, monkeypatch):
        yield web


async def test_healthz_reports_the_database_pause_channels_and_next_post(web: Web) -> None:
    response = await web.client.get("/healthz")
    assert response.status == 200
    report = await response.json()
    assert report["database"] == "ok" and report["paused"] is False
    assert report["channels"] == web.core.settings.enabled_channels
    assert report["next_post"] == "2026-11-24T06:00:00+00:00"  # 09:00 in Baghdad
    web.core.store.set_paused(True, "cli:test", "cli")
    assert (await (await web.client.get("/healthz")).json())["paused"] is True


async def test_metrics_parse_as_prometheus_text(web: Web) -> None:
    store = web.core.store
    post = create_post(
        store,
        item_id="f-attacks",
        lang="en",
        channels=["telegram", "x"],
        due_at=web.clock.now(),
        created_by="cli:t",
        via="cli",
    )
    assert post is not None
    with store.sessions.begin() as session:
        write_deliveries(session, post, web.clock.now(), DeliveryStatus.SENT)
    with store.sessions.begin() as session:
        first = session.scalars(select(Delivery).order_by(Delivery.id)).first()
        assert first is not None
        first.status = DeliveryStatus.FAILED
        sent_post = session.get(Post, post.id)
        assert sent_post is not None
        sent_post.status = PostStatus.DISPATCHED
    consent(store, 31, language="en")
    response = await web.client.get("/metrics")
    assert response.status == 200 and response.content_type == "text/plain"
    families = {f.name: f for f in text_string_to_metric_families(await response.text())}
    samples = {
        (s.labels.get("channel"), s.labels.get("status")): s.value
        for s in families["campaign_deliveries"].samples
    }
    assert samples == {("telegram", "failed"): 1.0, ("x", "sent"): 1.0}
    assert families["campaign_subscribers_active"].samples[0].value == 1.0
    assert families["campaign_database_up"].samples[0].value == 1.0
    [until] = families["campaign_seconds_until_next_post"].samples
    assert until.value == 30 * 60  # 05:30 UTC now, the rule fires at 06:00 UTC
    depth = {s.labels["kind"]: s.value for s in families["campaign_queue_depth"].samples}
    assert depth == {"posts": 0.0, "messages": 0.0}


async def test_fanout_sends_and_429s_are_counted(web: Web) -> None:
    class Counting:
        sent = 12
        rate_limited = 3

    web.board.fanout = lambda: Counting()  # type: ignore[assignment,return-value]
    text = await (await web.client.get("/metrics")).text()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert families["campaign_fanout_sent"].samples[0].value == 12
    assert families["campaign_fanout_rate_limited"].samples[0].value == 3


@pytest.mark.postgres
async def test_healthz_is_503_while_the_database_is_away_and_200_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The test's own TCP path to PostgreSQL is cut and restored; the shared server runs on."""
    with postgres_schema() as real_url:
        parts = urlsplit(real_url)
        proxy = TcpProxy(parts.hostname or "127.0.0.1", parts.port or 5432)
        proxy.start()
        netloc = f"{parts.username}@127.0.0.1:{proxy.port}"
        url = urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))
        monkeypatch.setenv("DATABASE_URL", url + "&connect_timeout=3")
        campaign = dashboard_campaign(tmp_path / "c")
        core = build_core(str(campaign.config_path), clock=FixedClock(START))
        client: TestClient[Any, Any] = TestClient(
            TestServer(build_web_app(Dashboard(core, ["console"])))
        )
        await client.start_server()
        try:
            assert (await client.get("/healthz")).status == 200
            port = proxy.port
            proxy.stop()
            response = await client.get("/healthz")
            assert response.status == 503
            assert (await response.json())["database"] == "unreachable"
            assert (await client.get("/healthz")).status == 503  # probes go on
            metrics = await (await client.get("/metrics")).text()
            assert "campaign_database_up 0.0" in metrics
            proxy.port = port
            proxy.start()
            status = 0
            for _ in range(20):  # the pool notices the fresh connection on its first ping
                status = (await client.get("/healthz")).status
                if status == 200:
                    break
                await asyncio.sleep(0.5)
            assert status == 200
            # However many probes met the outage: one line when it began, one when it ended.
            lines = [r.getMessage() for r in caplog.records if "database" in r.getMessage()]
            assert [line.split(":")[0] for line in lines] == ["health check"] * 2, lines
            assert "reachable again after" in lines[1]
        finally:
            await client.close()
            proxy.close()
            core.store.close()


async def test_the_webhook_route_checks_telegrams_secret(web: Web) -> None:
    received: list[dict[str, Any]] = []

    async def on_update(data: dict[str, Any]) -> None:
        received.append(data)

    board = Dashboard(
        web.core,
        ["console"],
        on_update=on_update,
        webhook_path="/telegram/hook",
        webhook_secret="s3cret-Value_1",
    )
    async with TestClient(TestServer(build_web_app(board))) as client:
        update = {"update_id": 5, "message": {"message_id": 1, "text": "/start"}}
        for headers, expected in (
            ({}, 403),
            ({"X-Telegram-Bot-Api-Secret-Token": "wrong"}, 403),
            ({"X-Telegram-Bot-Api-Secret-Token": "s3cret-Value_1"}, 200),
        ):
            response = await client.post("/telegram/hook", json=update, headers=headers)
            assert response.status == expected
        bad = await client.post(
            "/telegram/hook",
            data=b"{",
            headers={"X-Telegram-Bot-Api-Secret-Token": "s3cret-Value_1"},
        )
        assert bad.status == 400
    assert received == [update]


async def test_the_receiver_puts_updates_on_ptbs_queue() -> None:
    from telegram.ext import Application

    from bot.telegram.application import receiver

    application = Application.builder().token("1:TEST").build()
    put = receiver(application)
    await put(
        {
            "update_id": 77,
            "message": {
                "message_id": 1,
                "date": 0,
                "chat": {"id": 5, "type": "private"},
                "text": "/start",
            },
        }
    )
    update = application.update_queue.get_nowait()
    assert update.update_id == 77 and update.message.text == "/start"
