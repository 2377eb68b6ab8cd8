"""Sign-in links from the shell (`dashboard link`) and from Telegram (/dashboard)."""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from bot.cli import cli
from bot.store import Store
from bot.store.signin import peek_link
from bot.store.state import utc_now
from tests.fakes.telegram_api import FakeBotAPI
from tests.fakes.telegram_fixtures import (  # noqa: F401 (fixtures by name)
    STAFF_A,
    Running,
    fake_api_fixture,
    ptb_timedelta_fixture,
    start_running,
    stop_running,
    telegram_campaign,
)
from tests.web_harness import dashboard_campaign

LINK = re.compile(r"(https?://[^/\s\"]+)/signin/([\w-]+)")


def test_the_cli_prints_a_link_for_staff_only(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    campaign = dashboard_campaign(tmp_path / "c")
    monkeypatch.setenv("CAMPAIGN_CONFIG", str(campaign.config_path))
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("DASHBOARD_URL", "https://campaign.example.org/")
    result = CliRunner().invoke(cli, ["dashboard", "link", "--staff", "9001"])
    assert result.exit_code == 0, result.output
    found = LINK.search(result.stdout)
    assert found is not None and found.group(1) == "https://campaign.example.org"
    store = Store(db_url)
    try:
        assert peek_link(store, found.group(2), utc_now()) == 9001
        assert store.audit_log(1)[0].action == "dashboard-link"
    finally:
        store.close()
    refused = CliRunner().invoke(cli, ["dashboard", "link", "--staff", "4242"])
    assert refused.exit_code == 2
    assert "4242 is not on the staff list" in refused.output


def test_without_staff_the_cli_offers_the_dry_run_id(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.campaign_factory import make_campaign

    shipped = make_campaign(tmp_path / "shipped")  # staff: [] as shipped
    monkeypatch.delenv("PORT")
    monkeypatch.setenv("CAMPAIGN_CONFIG", str(shipped.config_path))
    monkeypatch.setenv("DATABASE_URL", db_url)
    refused = CliRunner().invoke(cli, ["dashboard", "link", "--staff", "9001"])
    assert refused.exit_code == 2 and "--staff 1 with a dry run" in refused.output
    result = CliRunner().invoke(cli, ["dashboard", "link", "--staff", "1"])
    assert result.exit_code == 0
    assert LINK.search(result.stdout) is not None
    assert "http://127.0.0.1:8080/signin/" in result.stdout  # DASHBOARD_URL's default


@pytest.fixture(name="running")
async def running_fixture(
    fake_api: FakeBotAPI, tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Running]:
    running = await start_running(
        fake_api, telegram_campaign(tmp_path / "campaign"), db_url, monkeypatch
    )
    yield running
    await stop_running(running)


async def test_slash_dashboard_sends_staff_a_link_without_a_preview(
    running: Running, fake_api: FakeBotAPI
) -> None:
    [reply] = await running.driver.send(STAFF_A, "/dashboard")
    found = LINK.search(reply.text)
    assert found is not None, reply.text
    assert peek_link(running.core.store, found.group(2), utc_now()) == STAFF_A
    [call] = [c for c in fake_api.calls_to("sendMessage") if "/signin/" in str(c.params)]
    assert '"is_disabled": true' in str(call.params).replace("True", "true").replace("'", '"')
    [refusal] = await running.driver.send(4242, "/dashboard")
    assert "/signin/" not in refusal.text
    audit = running.core.store.audit_log()
    assert ("telegram:4242", "dashboard", False) in [(a.actor, a.action, a.allowed) for a in audit]


async def test_slash_dashboard_follows_the_staff_list_in_the_config_file(
    running: Running, fake_api: FakeBotAPI
) -> None:
    path = running.core.loaded.path
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["staff"] = [s for s in data["staff"] if s != STAFF_A]
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    later = path.stat().st_mtime_ns + 5_000_000_000
    os.utime(path, ns=(later, later))
    [refusal] = await running.driver.send(STAFF_A, "/dashboard")  # no restart needed
    assert "/signin/" not in refusal.text
