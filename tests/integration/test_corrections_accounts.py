"""With several accounts per network, each correction replies from the account that posted."""

from __future__ import annotations

import pytest
import yaml
from click.testing import CliRunner

from bot.app import build_channels, build_core, build_runtime, learn_limits
from bot.cli import cli
from bot.clock import FixedClock
from bot.store import Store
from bot.store.posts import list_deliveries
from tests.campaign_factory import Campaign
from tests.integration.test_accounts_fediverse import (  # noqa: F401 (fixtures by name)
    START,
    Servers,
    servers_fixture,
)


class Notices:
    def __init__(self) -> None:
        self.sent: list[str] = []

    async def notify_staff(self, text: str) -> None:
        self.sent.append(text)


async def run_once(clock: FixedClock, *, fire: bool) -> list[str]:
    """One process built from config and environment; return what staff were told."""
    core = build_core(None, clock=clock)
    channels = build_channels(core.settings, core.store, dry_run=False)
    await learn_limits(core.renderer, channels)
    notices = Notices()
    runtime = build_runtime(core, channels, notices)
    await runtime.worker.tick()
    if fire:
        clock.advance(hours=1)
    await runtime.worker.tick()
    await runtime.worker.tick()
    await runtime.worker.stop()
    for channel in channels.values():
        await channel.close()
    core.store.close()
    return notices.sent


async def test_each_account_replies_under_its_own_post(
    servers: Servers, store: Store, campaign: Campaign, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FixedClock(START)
    monkeypatch.setattr("bot.cli.schedule.build_core", lambda path: build_core(path, clock=clock))
    await run_once(clock, fire=True)
    [item_id] = {d.item_id for d in list_deliveries(store)}
    originals = {d.target: d for d in list_deliveries(store)}

    path = campaign.messages / "items.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    [item] = [i for i in data["items"] if i["id"] == item_id]
    item["status"] = {
        "state": "retracted",
        "date": "2026-11-24",
        "reason": {lang: f"{lang}: withdrawn pending a check." for lang in item["text"]},
    }
    campaign.review(item, ["en", "ar", "ckb"])
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    result = CliRunner().invoke(cli, ["correct", item_id, "--yes"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "queued 4 correction(s)" in result.output
    notices = await run_once(clock, fire=False)
    assert any(n.startswith(f"{item_id} was retracted") for n in notices)
    await run_once(clock, fire=False)  # a restart: nothing again

    for name, server in servers.mastodon.items():
        first, reply = server.statuses
        assert first["id"] == originals[f"mastodon:{name}"].external_id
        assert reply["in_reply_to_id"] == first["id"]
        assert f"{first['language']}: withdrawn pending a check." in reply["content"]
    for name, server in servers.bluesky.items():
        first, reply = server.posts
        original = originals[f"bluesky:{name}"]
        assert reply["reply"]["parent"]["uri"] == original.external_id
        assert reply["reply"]["parent"]["cid"] == original.external_ref
        assert f"{first['langs'][0]}: withdrawn pending a check." in reply["text"]
    rows = [d for d in list_deliveries(store) if d.corrects_id is not None]
    assert {(d.target, d.status) for d in rows} == {(target, "sent") for target in originals}
    assert all(originals[d.target].id == d.corrects_id for d in rows)
