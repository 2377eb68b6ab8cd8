"""The publisher registry and review records, as check and `library review` see them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result

from bot.cli import cli
from bot.config import load_config
from bot.library import load_library
from bot.library.reviews import MIGRATED_BY, text_hash
from tests.campaign_factory import SHIPPED_CONFIG, SOURCE, Campaign, finding, make_campaign

COPY = "https://www.commondreams.org/newswire/2017/07/11/iraq-battle-between-us-led-coalition"


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


@pytest.fixture
def campaign(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Campaign:
    """One finding, reviewed in English only, on the console in every campaign language."""
    made = make_campaign(tmp_path / "campaign", [finding()])
    data = made.config()
    data["schedule"]["rules"] = []
    data["schedule"]["topic_weights"] = {}
    data["channels"] = {"console": {}}
    made.write_config(data)
    monkeypatch.setenv("CAMPAIGN_CONFIG", str(made.config_path))
    return made


def check_json(campaign: Campaign | None = None) -> tuple[int, dict[str, Any]]:
    config = str(campaign.config_path if campaign else SHIPPED_CONFIG)
    result = run("check", "--json", "--config", config)
    return result.exit_code, json.loads(result.stdout)


def with_source(campaign: Campaign, **source: str) -> None:
    campaign.write_items("items.yaml", [finding(source={**SOURCE, **source})])


def messages(data: dict[str, Any], key: str) -> list[str]:
    return [entry["message"] for entry in data[key]]


# -- the publisher registry ----------------------------------------------------------------------


def test_shipped_content_passes_and_lists_every_via_source() -> None:
    loaded = load_config(SHIPPED_CONFIG)
    library, _ = load_library(loaded.library_dir)
    via = {i.id for i in library.items.values() if i.source is not None and i.source.via}
    code, data = check_json()
    assert code == 0, data["errors"]
    second_hand = [w for w in data["warnings"] if "second-hand source" in w["message"]]
    assert {w["item"] for w in second_hand} == via
    assert data["second_hand_sources"] == len(via) == len(second_hand) > 0
    text = run("check", "--config", str(SHIPPED_CONFIG))
    assert text.exit_code == 0
    assert f"({len(via)} second-hand sources), 0 problems" in text.stdout
    assert text.stderr.count("WARNING") == len(data["warnings"])


def test_url_off_the_publishers_domains_is_an_error(campaign: Campaign) -> None:
    with_source(campaign, url=COPY)
    code, data = check_json(campaign)
    assert code == 1
    assert messages(data, "errors") == [
        "source.url: www.commondreams.org is not a domain of Amnesty International (amnesty.org, "
        "amnesty.org.nz, amnesty.org.au, amnesty.org.uk, amnesty.ca); cite the publisher's own "
        "page, or mark the copy with `via: SITE`"
    ]
    assert data["errors"][0]["item"] == "f-attacks"


def test_a_lookalike_domain_is_not_the_publishers(campaign: Campaign) -> None:
    with_source(campaign, url="https://amnesty.org.example.com/report")
    code, data = check_json(campaign)
    assert code == 1
    assert (
        "amnesty.org.example.com is not a domain of Amnesty International"
        in (data["errors"][0]["message"])
    )


def test_a_copy_marked_via_is_a_warning_and_counted(campaign: Campaign) -> None:
    with_source(campaign, url=COPY, via="Common Dreams")
    code, data = check_json(campaign)
    assert code == 0, data["errors"]
    assert data["second_hand_sources"] == 1
    assert messages(data, "warnings") == [
        f"second-hand source: Amnesty International via Common Dreams ({COPY}); "
        "the publisher's own page was not confirmed"
    ]
    assert data["items"][0]["source"]["via"] == "Common Dreams"
    result = run("check")
    assert "1 warning (1 second-hand source), 0 problems" in result.stdout
    assert "WARNING items.yaml: item f-attacks: second-hand source" in result.stderr
    post = run("preview", "f-attacks", "--channel", "console", "--lang", "en", "--raw")
    assert "Amnesty International via Common Dreams" in post.stdout


def test_via_naming_no_known_publisher_is_an_error(campaign: Campaign) -> None:
    with_source(campaign, url=COPY, via="Some Blog")
    code, data = check_json(campaign)
    assert code == 1
    [error] = messages(data, "errors")
    assert error.startswith(
        "source.via (a publisher in publishers.yaml, the site carrying the copy): "
        "unknown publisher 'Some Blog'"
    )


def test_via_url_must_be_on_the_via_sites_domains(campaign: Campaign) -> None:
    with_source(campaign, url=COPY, via="RFI")
    code, data = check_json(campaign)
    assert code == 1
    assert messages(data, "errors") == [
        "source.url: www.commondreams.org is not a domain of RFI (rfi.fr)"
    ]


def test_unknown_publisher_is_an_error_with_a_suggestion(campaign: Campaign) -> None:
    with_source(campaign, publisher="Amnesty Internationl")
    code, data = check_json(campaign)
    assert code == 1
    [error] = messages(data, "errors")
    assert error.startswith(
        "source.publisher (add it to publishers.yaml with its domains): unknown publisher "
        "'Amnesty Internationl'; did you mean Amnesty International"
    )


def test_a_missing_registry_is_an_error(campaign: Campaign) -> None:
    (campaign.messages / "publishers.yaml").unlink()
    code, data = check_json(campaign)
    assert code == 1
    assert data["errors"][0]["file"] == "publishers.yaml"
    assert "missing: 1 sourced item, but no registry" in data["errors"][0]["message"]


def test_a_bad_domain_in_the_registry_is_an_error(campaign: Campaign) -> None:
    registry = {
        "publishers": {"Amnesty International": ["https://amnesty.org/en", "amnesty.org.nz"]}
    }
    (campaign.messages / "publishers.yaml").write_text(yaml.safe_dump(registry), encoding="utf-8")
    code, data = check_json(campaign)
    assert code == 1
    assert "'https://amnesty.org/en' is not a domain" in data["errors"][0]["message"]


# -- reviews bound to the text -------------------------------------------------------------------


def reviewed_languages(campaign: Campaign, item_id: str = "f-attacks") -> list[str]:
    library, _ = load_library(campaign.messages)
    return library.items[item_id].reviewed


def test_review_records_the_hash_of_the_text(campaign: Campaign) -> None:
    assert reviewed_languages(campaign) == ["en"]
    result = run("library", "review", "f-attacks", "--lang", "ar", "--by", "Layla H.")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("f-attacks · ar: reviewed by Layla H., text ")
    assert set(reviewed_languages(campaign)) == {"en", "ar"}
    library, _ = load_library(campaign.messages)
    item = library.items["f-attacks"]
    [record] = [r for r in campaign.reviews() if r["lang"] == "ar"]
    assert record["by"] == "Layla H." and record["hash"] == text_hash(item, "ar")
    assert item.publishable("ar", False) and not item.publishable("ckb", False)
    again = run("library", "review", "f-attacks", "--lang", "ar", "--by", "Layla H.")
    assert "already recorded" in again.stdout
    assert len(campaign.reviews()) == 2


def test_pending_lists_unreviewed_texts_beside_english(campaign: Campaign) -> None:
    result = run("library", "review", "--pending")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0] == "f-attacks · ar · never reviewed"
    assert lines[1].startswith("  ar: وثّقت")
    assert lines[2] == "  en: Amnesty documented 45 attacks that killed at least 426 civilians."
    assert lines[3] == "f-attacks · ckb · never reviewed"
    assert lines[-1] == "2 texts wait for review"
    only_ar = json.loads(run("library", "review", "--pending", "--lang", "ar", "--json").stdout)
    assert [(p["item"], p["lang"], p["last_review"]) for p in only_ar] == [
        ("f-attacks", "ar", None)
    ]
    assert only_ar[0]["en"].startswith("Amnesty documented")


def test_changed_text_is_unreviewed_until_reviewed_again(campaign: Campaign) -> None:
    run("library", "review", "f-attacks", "--lang", "ar", "--by", "Layla H.")
    path = campaign.messages / "items.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("426", "427"), encoding="utf-8")
    assert reviewed_languages(campaign) == []  # the English text changed too
    code, data = check_json(campaign)
    assert code == 0
    changed = [w for w in data["warnings"] if "text changed since" in w["message"]]
    assert {(w["item"], w["lang"]) for w in changed} == {("f-attacks", "en"), ("f-attacks", "ar")}
    assert any("since Layla H. reviewed it on" in w["message"] for w in changed)
    assert data["items"][0]["reviewed"] == []
    pending = run("library", "review", "--pending", "--lang", "ar").stdout
    assert pending.startswith("f-attacks · ar · text changed since Layla H. reviewed it on ")
    preview = run("preview", "f-attacks", "--channel", "console", "--lang", "ar")
    assert "UNREVIEWED" in preview.stdout
    run("library", "review", "f-attacks", "--lang", "ar", "--by", "Layla H.")
    assert reviewed_languages(campaign) == ["ar"]


def test_a_changed_content_warning_unreviews_the_language(campaign: Campaign) -> None:
    campaign.write_items("items.yaml", [finding(content_warning={"en": "Deaths"})])
    assert reviewed_languages(campaign) == ["en"]
    path = campaign.messages / "items.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("Deaths", "Death toll"), "utf-8")
    assert reviewed_languages(campaign) == []


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ["f-atacks", "--lang", "ar", "--by", "L"],
            "unknown item 'f-atacks'; did you mean f-attacks?",
        ),
        (["f-attacks", "--lang", "ar"], "recording a review needs --lang and --by NAME"),
        (["f-attacks", "--lang", "fr", "--by", "L"], "unknown language 'fr'"),
        ([], "give ITEM_ID (with --lang and --by), or --pending, or --migrate"),
        (["f-attacks", "--pending"], "give ITEM_ID (with --lang and --by), or --pending"),
    ],
)
def test_review_usage_errors(campaign: Campaign, args: list[str], expected: str) -> None:
    result = run("library", "review", *args)
    assert result.exit_code == 2
    assert expected in result.stderr
    assert len(campaign.reviews()) == 1


def test_review_of_a_language_without_text(campaign: Campaign) -> None:
    campaign.write_items("items.yaml", [finding(text={"en": "Amnesty documented 45 attacks."})])
    result = run("library", "review", "f-attacks", "--lang", "ar", "--by", "L")
    assert result.exit_code == 2
    assert "item f-attacks has no ar text (it has en)" in result.stderr


def test_old_reviewed_flags_warn_and_migrate(campaign: Campaign) -> None:
    campaign.write_items("items.yaml", [finding()])
    campaign.write_reviews([])
    path = campaign.messages / "items.yaml"
    path.write_text(
        path.read_text(encoding="utf-8").replace(
            "  id: f-attacks\n", "  id: f-attacks\n  reviewed: [en, ar]\n"
        ),
        encoding="utf-8",
    )
    code, data = check_json(campaign)
    assert code == 0
    assert any("'reviewed:' is deprecated" in m for m in messages(data, "warnings"))
    assert reviewed_languages(campaign) == []
    result = run("library", "review", "--migrate")
    assert result.exit_code == 0, result.output
    assert "recorded 2 reviews by 'migrated from reviewed flag'" in result.stdout
    assert "reviewed:" not in path.read_text(encoding="utf-8")
    assert {(r["lang"], r["by"]) for r in campaign.reviews()} == {
        ("en", MIGRATED_BY),
        ("ar", MIGRATED_BY),
    }
    assert set(reviewed_languages(campaign)) == {"en", "ar"}
    code, data = check_json(campaign)
    assert code == 0 and data["warnings"] == []


def test_a_malformed_reviews_file_is_an_error(campaign: Campaign) -> None:
    campaign.write_reviews([{"item": "f-attacks", "lang": "en", "hash": "nothex", "by": "L"}])
    code, data = check_json(campaign)
    assert code == 1
    errors = messages(data, "errors")
    assert any(e.startswith("review #1: hash: String should match pattern") for e in errors)
    assert any(e == "review #1: at: required key is missing" for e in errors)


def test_the_hash_covers_text_and_warning_only() -> None:
    from bot.library import Item

    base = finding(content_warning={"en": "Deaths"})
    base.pop("reviewed")
    item = Item.model_validate(base)
    other_source = Item.model_validate({**base, "source": {**SOURCE, "date": "2017-07-12"}})
    tagged = Item.model_validate({**base, "hashtags": ["AtAnyCost"]})
    warned = Item.model_validate({**base, "content_warning": {"en": "Death toll"}})
    assert text_hash(item, "en") == text_hash(other_source, "en") == text_hash(tagged, "en")
    assert text_hash(item, "en") != text_hash(warned, "en")
    assert text_hash(item, "ar") == text_hash(warned, "ar")  # no Arabic warning either way
    assert len(text_hash(item, "en")) == 16


def test_post_follows_the_review_records(
    campaign: Campaign, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", db_url)
    post = ("post", "f-attacks", "--channel", "console", "--lang", "ar", "--at", "+1h")
    refused = run(*post)
    assert refused.exit_code == 2 and "is not reviewed" in refused.stderr
    assert "`campaign-bot library review f-attacks --lang ar --by NAME`" in refused.stderr
    assert "`reviewed`" not in refused.stderr
    run("library", "review", "f-attacks", "--lang", "ar", "--by", "Layla H.")
    assert run(*post).exit_code == 0
    path = campaign.messages / "items.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("426", "427"), encoding="utf-8")
    again = run(*post)
    assert again.exit_code == 2 and "is not reviewed" in again.stderr


@pytest.mark.parametrize(
    "body",
    [
        "reviews:\n  - item: f-attacks\n    lang: [en\n",  # does not parse
        "reviews:\n  - item: f-attacks\n    lang: en\n    hash: nothex\n    by: L\n",  # invalid
    ],
)
def test_review_refuses_to_overwrite_a_reviews_file_with_errors(
    campaign: Campaign, body: str
) -> None:
    path = campaign.messages / "reviews.yaml"
    path.write_text(body, encoding="utf-8")
    result = run("library", "review", "f-attacks", "--lang", "ar", "--by", "L")
    assert result.exit_code == 1, result.output
    assert "reviews.yaml has errors" in result.stderr
    assert path.read_text(encoding="utf-8") == body
    items = campaign.messages / "items.yaml"
    items.write_text(
        items.read_text(encoding="utf-8").replace(
            "  id: f-attacks\n", "  id: f-attacks\n  reviewed: [en, ar]\n"
        ),
        encoding="utf-8",
    )
    result = run("library", "review", "--migrate")
    assert result.exit_code == 1, result.output
    assert "reviews.yaml has errors" in result.stderr
    assert path.read_text(encoding="utf-8") == body
    assert "reviewed: [en, ar]" in items.read_text(encoding="utf-8")
