"""`campaign-bot correct` puts one reply under each published post, on all four networks.

The networks are the fakes of test_four_channels (PTB, tweepy, Mastodon.py and atproto talk
to them); the worker ticks on a fixed clock; restarts rebuild everything from the database.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from sqlalchemy import update

from bot.app import build_core
from bot.channels import Channel
from bot.cli import cli
from bot.clock import FixedClock
from bot.store import Delivery, Store
from bot.store.posts import list_deliveries
from tests.campaign_factory import Campaign
from tests.fakes.bluesky_api import GET_RECORD
from tests.integration.test_four_channels import (  # noqa: F401 (fixtures by name)
    CHANNELS,
    TELEGRAM_CHAT,
    CrashAfterPublish,
    Networks,
    ProcessDied,
    boot,
    by_channel,
    clock_fixture,
    fire,
    make_bot,
    networks_fixture,
    ptb_timedelta_fixture,
)

CORRECTED = {
    "en": "Corrected: the figure is 5,805 civilians.",
    "ar": "تصحيح: الرقم هو 5805 مدنيين.",
    "ckb": "ڕاستکردنەوە: ژمارەکە 5805 هاووڵاتیی مەدەنییە.",
}


def mark(campaign: Campaign, item_id: str, status: dict[str, Any]) -> None:
    """Give one item a status block, as staff edit the YAML, and review its English wording
    (`library review ITEM --lang en`)."""
    path = campaign.messages / "items.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    for item in data["items"]:
        if item["id"] == item_id:
            item["status"] = status
            campaign.review(item, ["en"])
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")


@pytest.fixture(autouse=True)
def cli_on_the_test_clock(clock: FixedClock, monkeypatch: pytest.MonkeyPatch) -> None:
    """Commands see the worker's fixed clock, as they share the real one in production."""
    monkeypatch.setattr("bot.cli.schedule.build_core", lambda path: build_core(path, clock=clock))


def corrected(note: str = "The first version gave the wrong figure.") -> dict[str, Any]:
    return {
        "state": "corrected",
        "date": "2026-11-25",
        "note": note,
        "text": CORRECTED,
    }


def correct(*args: str) -> Any:
    return CliRunner().invoke(cli, ["correct", *args], catch_exceptions=False)


def replies(networks: Networks) -> dict[str, list[tuple[str, str]]]:
    """(id replied to, text) of every reply each network received."""
    telegram = [
        (str(json.loads(m.params["reply_parameters"])["message_id"]), m.text)
        for m in networks.telegram.sent_messages(TELEGRAM_CHAT)
        if m.params.get("reply_parameters")
    ]
    x = [
        (t["reply"]["in_reply_to_tweet_id"], t["text"]) for t in networks.x.tweets if "reply" in t
    ]
    mastodon = [
        (s["in_reply_to_id"], s["content"])
        for s in networks.mastodon.statuses
        if s["in_reply_to_id"]
    ]
    bluesky = [
        (p["reply"]["parent"]["uri"], p["text"]) for p in networks.bluesky.posts if "reply" in p
    ]
    return {"telegram": telegram, "x": x, "mastodon": mastodon, "bluesky": bluesky}


def originals(store: Store) -> dict[str, Delivery]:
    rows = by_channel([d for d in list_deliveries(store) if d.corrects_id is None])
    found = {}
    for name, group in rows.items():
        [row] = group
        found[name] = row
    return found


async def test_correct_replies_once_under_each_published_post_on_four_networks(
    networks: Networks, clock: FixedClock, store: Store, campaign: Campaign
) -> None:
    process = await fire(networks, clock)
    first = originals(store)
    item_id = first["x"].item_id
    assert {row.status for row in first.values()} == {"sent"}
    assert networks.counts() == dict.fromkeys(CHANNELS, 1)

    mark(campaign, item_id, corrected())
    await process.tick()  # the worker reloads the library and tells staff
    [notice] = [n for n in process.notices.sent if item_id in n]
    assert notice.startswith(f"{item_id} was corrected on 2026-11-25: The first version")
    assert "It went out in 4 posts: `campaign-bot correct " in notice

    dry = correct(item_id, "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "dry run: 4 correction(s) would go out; nothing was written" in dry.output
    assert "Correction (25 Nov 2026): Corrected: the figure is 5,805 civilians." in dry.output
    await process.tick()
    assert replies(networks) == {name: [] for name in CHANNELS}

    refused = CliRunner().invoke(cli, ["correct", item_id], input="n\n")
    assert refused.exit_code == 1 and "Publish 4 correction(s) as replies" in refused.output
    await process.tick()
    assert replies(networks) == {name: [] for name in CHANNELS}

    queued = correct(item_id, "--yes")
    assert queued.exit_code == 0, queued.output
    assert "queued 4 correction(s)" in queued.output
    await process.tick()

    got = replies(networks)
    assert {name: [to for to, _ in got[name]] for name in CHANNELS} == {
        name: [first[name].external_id] for name in CHANNELS
    }
    for name in CHANNELS:
        [(_, text)] = got[name]
        assert "Correction" in text and "5,805 civilians" in text, (name, text)
        assert "Amnesty International" in text  # the corrected text carries its source
    [bluesky_reply] = [p for p in networks.bluesky.posts if "reply" in p]
    parent = {"uri": first["bluesky"].external_id, "cid": first["bluesky"].external_ref}
    assert first["bluesky"].external_ref is not None
    refs = {role: bluesky_reply["reply"][role] for role in ("root", "parent")}
    assert {role: (ref["uri"], ref["cid"]) for role, ref in refs.items()} == {
        "root": (parent["uri"], parent["cid"]),
        "parent": (parent["uri"], parent["cid"]),
    }

    # Once: again from the command line, and again after a restart.
    again = correct(item_id, "--yes")
    assert again.exit_code == 0, again.output
    assert again.output.count("already corrected: delivery") == 4
    assert "queued" not in again.output
    await process.stop()
    restarted = await boot(networks, clock)
    await restarted.tick(2)
    await restarted.stop()
    assert networks.counts() == dict.fromkeys(CHANNELS, 2)
    assert {name: len(found) for name, found in replies(networks).items()} == dict.fromkeys(
        CHANNELS, 1
    )
    rows = [d for d in list_deliveries(store) if d.corrects_id is not None]
    assert sorted((d.channel, d.corrects_id, d.status) for d in rows) == sorted(
        (name, first[name].id, "sent") for name in CHANNELS
    )
    shown = CliRunner().invoke(cli, ["deliveries"], catch_exceptions=False).output
    for name in CHANNELS:
        assert f"(correction: reply to delivery {first[name].id})" in shown


async def test_a_crash_mid_correction_never_replies_twice(
    networks: Networks, clock: FixedClock, store: Store, campaign: Campaign
) -> None:
    process = await fire(networks, clock)
    first = originals(store)
    item_id = first["x"].item_id
    await process.stop()
    # A post recorded before the cid was kept: the Bluesky channel looks the cid up.
    with store.sessions.begin() as session:
        session.execute(
            update(Delivery).where(Delivery.id == first["bluesky"].id).values(external_ref=None)
        )
    mark(
        campaign,
        item_id,
        {
            "state": "retracted",
            "date": "2026-11-25",
            "reason": {
                "en": "We could not confirm this figure with the publisher.",
                "ar": "لم نتمكن من تأكيد هذا الرقم لدى الناشر.",
                "ckb": "نەمانتوانی ئەم ژمارەیە لای بڵاوکەرەوە پشتڕاست بکەینەوە.",
            },
        },
    )
    assert correct(item_id, "--yes").exit_code == 0

    def crash_on_mastodon(channels: dict[str, Channel]) -> None:
        channels["mastodon"] = CrashAfterPublish(channels["mastodon"])

    dying = await boot(networks, clock, wrap=crash_on_mastodon, start=False)
    with pytest.raises(ProcessDied):
        await dying.tick()  # telegram and x replied; mastodon replied but it is not recorded
    await dying.stop()
    restarted = await boot(networks, clock)  # recovery, then a tick: bluesky replies
    await restarted.tick(2)
    await restarted.stop()

    got = replies(networks)
    assert {name: [to for to, _ in got[name]] for name in CHANNELS} == {
        name: [first[name].external_id] for name in CHANNELS
    }
    for name in CHANNELS:
        [(_, text)] = got[name]
        assert "Retraction" in text and "(25 Nov 2026)" in text, (name, text)
        assert "We could not confirm this figure with the publisher." in text
    assert len(networks.bluesky.calls("GET", GET_RECORD)) == 1
    assert len(networks.mastodon.calls("POST", "/api/v1/statuses")) == 2  # never replayed
    rows = {d.channel: d for d in list_deliveries(store) if d.corrects_id is not None}
    assert {name: row.status for name, row in rows.items()} == {
        "telegram": "sent",
        "x": "sent",
        "mastodon": "uncertain",
        "bluesky": "sent",
    }
    assert any(f"Delivery {rows['mastodon'].id}" in n for n in restarted.notices.sent)
    again = correct(item_id, "--yes")
    assert again.exit_code == 0, again.output
    assert f"already corrected: delivery {rows['mastodon'].id} (uncertain)" in again.output
    assert networks.counts() == dict.fromkeys(CHANNELS, 2)
