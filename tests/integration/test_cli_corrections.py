"""The status block's errors, `check` listing corrected and retracted items, and `correct`'s
answers when there is nothing (or not everything) to publish."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from click.testing import CliRunner, Result

from bot.cli import cli
from bot.store import DeliveryStatus, PostStatus, Store
from bot.store.posts import create_post, finish_delivery, list_deliveries, write_deliveries
from tests.campaign_factory import Campaign, action, finding

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
REASON = {"en": "Wrong figure.", "ar": "رقم خاطئ.", "ckb": "ژمارەی هەڵە."}
TEXT = {
    "en": "Amnesty documented 45 attacks that killed at least 526 civilians.",
    "ar": "وثّقت منظمة العفو الدولية 45 هجومًا قتل ما لا يقل عن 526 مدنيًا.",
    "ckb": "ڕێکخراوی لێبوردنی نێودەوڵەتی 45 هێرشی تۆمار کرد کە لانیکەم 526 مەدەنی کوشت.",
}


def run(*args: str, **kwargs: Any) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False, **kwargs)


def retracted(**overrides: Any) -> dict[str, Any]:
    return {"state": "retracted", "date": "2026-11-24", "reason": REASON, **overrides}


def corrected(**overrides: Any) -> dict[str, Any]:
    status = {"state": "corrected", "date": "2026-11-24", "note": "526, not 426.", "text": TEXT}
    return {**status, **overrides}


def errors(campaign: Campaign) -> list[str]:
    result = run("check", "--json", "--config", str(campaign.config_path))
    return [e["message"] for e in json.loads(result.stdout)["errors"]]


@pytest.mark.parametrize(
    ("status", "message"),
    [
        ({"state": "withdrawn", "date": "2026-11-24"}, "status.state: Input should be"),
        (retracted(date="24 Nov"), "status.date: Input should be a valid date"),
        (retracted(reason=None), "status: a retracted item needs a reason per language"),
        (
            retracted(reason={"en": "Wrong."}),
            "status.reason is missing ar, ckb: the item has text in ",
        ),
        (retracted(text=TEXT), "status: a retracted item has no corrected text or source"),
        (corrected(note=""), "status: a corrected item needs a note: what changed and why"),
        (corrected(text=None), "status: a corrected item needs text: the corrected text"),
        (corrected(reviewed=["en"]), "status.reviewed: unknown key"),
        (corrected(colour="red"), "status.colour: unknown key"),
    ],
)
def test_a_bad_status_block_is_a_clear_content_error(
    campaign: Campaign, status: dict[str, Any], message: str
) -> None:
    campaign.write_items("items.yaml", [finding(status=status)])
    found = errors(campaign)
    assert any(m.startswith(message) for m in found), found
    result = run("check", "--config", str(campaign.config_path))
    assert result.exit_code == 1


def test_a_corrected_number_needs_a_source(campaign: Campaign) -> None:
    item = action(status=corrected(text={"en": "Call 3 MPs.", "ar": "x", "ckb": "y"}))
    campaign.write_items("items.yaml", [item, finding()])
    assert "status.text contains a number but the item has no source" in errors(campaign)


def test_check_lists_corrected_and_retracted_items(campaign: Campaign) -> None:
    data = campaign.config()
    data["schedule"]["topic_weights"] = {}
    data["schedule"]["rules"] = [
        {"id": "daily", "cron": "0 9 * * *", "channels": ["x"], "pick": {"kinds": ["finding"]}}
    ]
    campaign.write_config(data)
    campaign.write_items(
        "items.yaml",
        [
            finding(status=corrected()),
            finding("f-2", status=retracted()),
            action(),
        ],
    )
    result = run("check", "--config", str(campaign.config_path))
    assert result.exit_code == 1
    assert (
        "schedule.rules.0.pick: rule 'daily' matches only corrected or retracted items "
        "(f-attacks, f-2), so it would never post; widen pick or add items"
    ) in result.stderr
    lines = result.stdout.splitlines()
    assert "CORRECTED f-attacks: corrected on 2026-11-24: 526, not 426." in lines
    assert "RETRACTED f-2: retracted on 2026-11-24: Wrong figure." in lines
    data = json.loads(run("check", "--json", "--config", str(campaign.config_path)).stdout)
    assert len(data["errors"]) == 1
    states = {i["id"]: (i["status"] or {}).get("state") for i in data["items"]}
    assert states == {"f-attacks": "corrected", "f-2": "retracted", "a-share": None}
    preview = run(
        "preview",
        "f-attacks",
        "--channel",
        "x",
        "--lang",
        "en",
        "--raw",
        "--config",
        str(campaign.config_path),
    )
    assert preview.stdout.startswith("Amnesty documented 45 attacks that killed at least 526")


def test_check_renders_the_correction_templates(campaign: Campaign) -> None:
    campaign.write_items("items.yaml", [finding(status=corrected())])
    campaign.write_raw("templates/x/correction.j2", "{{ correction.text }}\n")
    found = [m for m in errors(campaign) if not m.startswith("schedule.")]
    dropped = (
        "correction: template x/correction.j2 dropped the citation (the source's publisher "
        "and URL must appear in every post of a sourced item)"
    )
    assert found and set(found) == {dropped}


@pytest.fixture
def on_database(campaign: Campaign, db_url: str, monkeypatch: pytest.MonkeyPatch) -> Campaign:
    monkeypatch.setenv("CAMPAIGN_CONFIG", str(campaign.config_path))
    monkeypatch.setenv("DATABASE_URL", db_url)
    data = campaign.config()
    data["channels"] = {"console": {}, "x": {}, "mastodon": {}}
    data["schedule"]["rules"] = []
    campaign.write_config(data)
    return campaign


def published(store: Store, item_id: str, channels: list[str], lang: str = "en") -> None:
    post = create_post(
        store,
        item_id=item_id,
        lang=lang,
        channels=channels,
        due_at=NOW,
        created_by="cli:a",
        via="cli",
        status=PostStatus.DISPATCHED,
    )
    assert post is not None
    with store.sessions.begin() as session:
        write_deliveries(session, post, NOW, DeliveryStatus.PENDING)
    for row in list_deliveries(store):
        if row.post_id == post.id:
            finish_delivery(
                store, row.id, DeliveryStatus.SENT, NOW, external_id=f"{row.channel}-{row.id}"
            )


def test_correct_refuses_unknown_and_unmarked_items(on_database: Campaign, store: Store) -> None:
    unknown = run("correct", "f-atacks", "--yes")
    assert unknown.exit_code == 2
    assert "unknown item 'f-atacks'; did you mean f-attacks?" in unknown.output
    unmarked = run("correct", "f-attacks", "--yes")
    assert unmarked.exit_code == 2
    assert "f-attacks is neither corrected nor retracted: add a `status:` block" in unmarked.output


def test_correct_says_when_nothing_was_published(on_database: Campaign, store: Store) -> None:
    on_database.write_items("items.yaml", [finding(status=retracted())])
    result = run("correct", "f-attacks", "--yes")
    assert result.exit_code == 0, result.output
    assert "it was never published: nothing to correct" in result.output
    assert list_deliveries(store) == []


def test_correct_holds_back_unreviewed_languages_and_sends_the_rest_later(
    on_database: Campaign, store: Store
) -> None:
    on_database.write_items("items.yaml", [finding(status=retracted(), reviewed=["en"])])
    published(store, "f-attacks", ["x", "mastodon"])
    published(store, "f-attacks", ["x"], lang="ar")
    result = run("correct", "f-attacks", "--yes")
    assert result.exit_code == 1
    assert "queued 2 correction(s)" in result.output
    assert (
        "NOT CORRECTED: the ar text of the retracted status is not reviewed: `campaign-bot "
        "library review f-attacks --lang ar --by NAME` (or set publish_unreviewed: true), "
        "then run correct again"
    ) in result.output

    on_database.write_items("items.yaml", [finding(status=retracted(), reviewed=["en", "ar"])])
    dry = run("correct", "f-attacks", "--dry-run", "--json")
    assert dry.exit_code == 0
    plans = json.loads(dry.stdout)
    assert [(p["channel"], p["lang"], p["already"] is not None) for p in plans] == [
        ("x", "en", True),
        ("mastodon", "en", True),
        ("x", "ar", False),
    ]
    assert "سحب" in plans[2]["text"] and "رقم خاطئ." in plans[2]["text"]
    again = run("correct", "f-attacks", "--yes")
    assert again.exit_code == 0, again.output
    assert "queued 1 correction(s)" in again.output
    corrections = [d for d in list_deliveries(store) if d.corrects_id is not None]
    assert len(corrections) == 3
    assert len({d.corrects_id for d in corrections}) == 3


def test_correct_json_needs_yes_or_dry_run(on_database: Campaign, store: Store) -> None:
    on_database.write_items("items.yaml", [finding(status=retracted())])
    published(store, "f-attacks", ["x"])
    asked = run("correct", "f-attacks", "--json")
    assert asked.exit_code == 2
    assert "--json asks no question: add --yes to publish" in asked.output
    done = run("correct", "f-attacks", "--json", "--yes")
    assert done.exit_code == 0
    [correction] = [d for d in list_deliveries(store) if d.corrects_id is not None]
    assert json.loads(done.stdout) == {"queued": [correction.id], "blocked": 0}
