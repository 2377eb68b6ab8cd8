"""The content commands as a user runs them: check, preview, library list, with bad inputs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from bot.cli import cli
from tests.campaign_factory import SHIPPED_CONFIG, Campaign, finding, make_campaign


@pytest.fixture
def campaign(tmp_path: Path) -> Campaign:
    """The small campaign, with topic weights only for the topics its few items have."""
    made = make_campaign(tmp_path / "campaign")
    data = made.config()
    data["schedule"]["topic_weights"] = {"weapons": 2, "acknowledge": 2}
    made.write_config(data)
    return made


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def check_json(campaign: Campaign) -> tuple[int, dict[str, Any]]:
    result = run("check", "--json", "--config", str(campaign.config_path))
    return result.exit_code, json.loads(result.stdout)


def test_shipped_campaign_checks_clean() -> None:
    result = run("check", "--config", str(SHIPPED_CONFIG))
    assert result.exit_code == 0, result.output
    assert "0 problems" in result.stdout


def test_shipped_campaign_json_lists_every_item_with_renders() -> None:
    result = run("check", "--json", "--config", str(SHIPPED_CONFIG))
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["errors"] == []
    kinds = [item["kind"] for item in data["items"]]
    assert kinds.count("finding") >= 20
    assert kinds.count("demand") >= 6
    assert kinds.count("action") >= 6
    for item in data["items"]:
        channels = {r["channel"] for r in item["renders"]}
        assert channels == {"console", "telegram", "x", "mastodon", "bluesky"}, item["id"]
        assert all(r["ok"] for r in item["renders"])
        if item["kind"] in ("finding", "demand"):
            assert item["source"]["url"].startswith("http")


def test_clean_campaign_exits_zero(campaign: Campaign) -> None:
    code, data = check_json(campaign)
    assert code == 0
    assert data["errors"] == []
    first = data["items"][0]
    assert set(first) >= {"id", "kind", "topics", "languages", "reviewed", "source", "renders"}
    assert set(first["renders"][0]) >= {"channel", "lang", "length", "limit", "ok"}


# The corpus of bad inputs: each gives its exact error and exit code.


def _only_error(campaign: Campaign) -> dict[str, Any]:
    code, data = check_json(campaign)
    assert code == 1
    return data["errors"][0]


def test_malformed_yaml(campaign: Campaign) -> None:
    campaign.write_raw("items.yaml", "items:\n  - id: x\n    text: {en: [unclosed\n")
    error = _only_error(campaign)
    assert error["file"] == "items.yaml"
    assert error["message"].startswith("malformed YAML at line 4")


def test_duplicate_id(campaign: Campaign) -> None:
    campaign.write_items("more.yaml", [finding()])
    code, data = check_json(campaign)
    assert code == 1
    assert {
        "file": "more.yaml",
        "item": "f-attacks",
        "channel": None,
        "lang": None,
        "message": "duplicate id (first defined in items.yaml)",
    } in data["errors"]


def test_finding_without_source(campaign: Campaign) -> None:
    campaign.write_items("items.yaml", [finding(source=None)])
    error = _only_error(campaign)
    assert error["item"] == "f-attacks"
    assert error["message"] == "a finding needs a source (publisher, title, url, date)"


def test_number_without_source_is_refused(campaign: Campaign) -> None:
    item = finding(kind="action", confidence=None, source=None)
    del item["confidence"]
    campaign.write_items("items.yaml", [item])
    assert _only_error(campaign)["message"] == "text contains a number but the item has no source"


def test_bad_url(campaign: Campaign) -> None:
    bad = finding()
    bad["source"]["url"] = "not a url"
    campaign.write_items("items.yaml", [bad])
    error = _only_error(campaign)
    assert error["message"].startswith("source.url: Input should be a valid URL")


def test_unknown_language(campaign: Campaign) -> None:
    campaign.write_items("items.yaml", [finding(text={"en": "Hi.", "fr": "Salut."})])
    error = _only_error(campaign)
    assert error["message"] == "text: unknown language 'fr'; expected one of en, ar, ckb"


def test_template_syntax_error(campaign: Campaign) -> None:
    campaign.write_raw("templates/x/finding.j2", "{{ item.text }\n\n{% if %}\n")
    code, data = check_json(campaign)
    assert code == 1
    x_errors = [e for e in data["errors"] if e["channel"] == "x"]
    assert x_errors[0]["message"].startswith("template syntax error in x/finding.j2 line 1")


def test_unknown_template_variable(campaign: Campaign) -> None:
    campaign.write_raw("templates/mastodon/finding.j2", "{{ item.summary }}\n")
    code, data = check_json(campaign)
    assert code == 1
    messages = {e["message"] for e in data["errors"] if e["channel"] == "mastodon"}
    assert messages == {
        "unknown variable in mastodon/finding.j2: 'dict object' has no attribute 'summary'"
    }


def test_template_injection_in_content_is_literal(campaign: Campaign) -> None:
    campaign.write_items("items.yaml", [finding(text={"en": "{{ 7*7 }} {{ config }}"})])
    result = run(
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
    assert result.exit_code == 0
    assert result.stdout.startswith("{{ 7*7 }} {{ config }}\n")


def test_over_length_item(campaign: Campaign) -> None:
    campaign.write_items("items.yaml", [finding(text={"en": "x" * 400})])
    code, data = check_json(campaign)
    assert code == 1
    over = {(e["channel"], e["lang"]): e["message"] for e in data["errors"]}
    assert over[("x", "en")].startswith("over length by ")
    assert over[("bluesky", "en")].startswith("over length by ")
    assert ("mastodon", "en") not in over


def test_unknown_config_key_exits_2(campaign: Campaign) -> None:
    data = campaign.config()
    data["schedul"] = {}
    campaign.write_config(data)
    result = run("check", "--config", str(campaign.config_path))
    assert result.exit_code == 2
    assert "schedul: unknown key" in result.stderr


def test_bad_time_zone_exits_2(campaign: Campaign) -> None:
    data = campaign.config()
    data["campaign"]["time_zone"] = "Baghdad"
    campaign.write_config(data)
    result = run("check", "--config", str(campaign.config_path))
    assert result.exit_code == 2
    assert "campaign.time_zone: unknown time zone 'Baghdad'" in result.stderr
    assert result.stderr.count("'Baghdad'") == 1  # the value once, not again as "(got ...)"


def test_config_from_environment(campaign: Campaign, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAMPAIGN_CONFIG", str(campaign.config_path))
    assert run("check").exit_code == 0


# preview and library list


def test_preview_shows_length_limit_and_review_state(campaign: Campaign) -> None:
    result = run("preview", "f-attacks", "--channel", "x", "--config", str(campaign.config_path))
    assert result.exit_code == 0
    assert "── x · en · " in result.stdout and "/280 ok · reviewed" in result.stdout
    assert "── x · ar · " in result.stdout and "UNREVIEWED (not published)" in result.stdout


def test_preview_unknown_item_names_closest(campaign: Campaign) -> None:
    result = run("preview", "f-atacks", "--config", str(campaign.config_path))
    assert result.exit_code == 2
    assert "unknown item 'f-atacks'; did you mean f-attacks?" in result.stderr


def test_preview_unknown_channel_and_language(campaign: Campaign) -> None:
    result = run(
        "preview", "f-attacks", "--channel", "mastadon", "--config", str(campaign.config_path)
    )
    assert "unknown channel 'mastadon'; did you mean mastodon?" in result.stderr
    result = run("preview", "f-attacks", "--lang", "ku", "--config", str(campaign.config_path))
    assert result.exit_code == 2 and "unknown language 'ku'" in result.stderr


def test_raw_needs_one_post(campaign: Campaign) -> None:
    result = run("preview", "f-attacks", "--raw", "--config", str(campaign.config_path))
    assert result.exit_code == 2
    assert "--raw prints one post: add --channel and --lang" in result.stderr


def test_library_list_filters(campaign: Campaign) -> None:
    result = run(
        "library", "list", "--kind", "finding", "--json", "--config", str(campaign.config_path)
    )
    assert [i["id"] for i in json.loads(result.stdout)] == ["f-attacks"]
    result = run(
        "library", "list", "--topic", "acknowledge", "--config", str(campaign.config_path)
    )
    assert "d-acknowledge" in result.stdout and "a-share" in result.stdout
    assert "f-attacks" not in result.stdout
