"""Sign-up links in the config: codes Telegram accepts, unique, in the campaign's languages."""

from __future__ import annotations

from typing import Any

import pytest
from click.testing import CliRunner

from bot.cli import cli
from bot.config import ConfigError, load_config
from bot.links import preset_for
from tests.campaign_factory import Campaign


def _links(campaign: Campaign, links: list[dict[str, Any]], **campaign_keys: Any) -> None:
    data = campaign.config()
    data["signup_links"] = links
    data["campaign"].update(campaign_keys)
    campaign.write_config(data)


def _error(campaign: Campaign, links: list[dict[str, Any]], **campaign_keys: Any) -> str:
    _links(campaign, links, **campaign_keys)
    with pytest.raises(ConfigError) as info:
        load_config(campaign.config_path)
    return str(info.value)


@pytest.mark.parametrize(
    "code", ["erbil poster", "erbil.poster", "x" * 65, "", "ئەربیل", "erbil\n", "erbil?x=1"]
)
def test_a_code_telegram_would_not_accept_is_a_config_error(campaign: Campaign, code: str) -> None:
    message = _error(campaign, [{"code": code}])
    assert "signup_links.0.code: a sign-up code is 1 to 64 of A-Z, a-z, 0-9, _ and -" in message


def test_duplicate_codes_and_foreign_languages_are_named(campaign: Campaign) -> None:
    message = _error(
        campaign,
        [{"code": "a", "language": "ar"}, {"code": "a", "language": "ckb"}],
        languages=["en", "ar"],
    )
    assert "signup_links.1.code: duplicate code (also signup_links.0.code)" in message
    assert "signup_links.1.language: not one of the campaign's languages" in message


def test_check_exits_2_on_a_bad_link(campaign: Campaign) -> None:
    _links(campaign, [{"code": "bad code!"}])
    result = CliRunner().invoke(cli, ["check", "--config", str(campaign.config_path)])
    assert result.exit_code == 2
    assert "signup_links.0.code" in result.stderr


def test_a_payload_becomes_a_preset_only_for_a_configured_well_formed_code(
    campaign: Campaign,
) -> None:
    _links(campaign, [{"code": "Erbil_1", "language": "ckb", "topics": ["aid", "gone"]}])
    settings = load_config(campaign.config_path).settings
    preset = preset_for("Erbil_1", settings, ["aid", "weapons"])
    assert preset is not None
    assert (preset.code, preset.language, preset.topics) == ("Erbil_1", "ckb", ("aid",))
    for payload in (None, "", "erbil_1", "Erbil_1 ", "Erbil_1\n", "x" * 65):
        assert preset_for(payload, settings, ["aid"]) is None, payload


def test_check_reports_a_link_topic_no_item_has(campaign: Campaign) -> None:
    _links(campaign, [{"code": "stall", "topics": ["weapons", "chlorine"]}])
    result = CliRunner().invoke(cli, ["check", "--config", str(campaign.config_path)])
    assert result.exit_code == 1
    assert "signup_links.0.topics: unknown topic 'chlorine'" in result.stderr
    assert "unknown topic 'weapons'" not in result.stderr
