"""Configuration: the shipped file loads, bad values name the file, key, value and expectation."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import ConfigError, database_url, load_config, parse_duration
from tests.campaign_factory import SHIPPED_CONFIG, Campaign


def test_shipped_config_loads() -> None:
    loaded = load_config(SHIPPED_CONFIG)
    settings = loaded.settings
    assert settings.campaign.time_zone == "Asia/Baghdad"
    assert settings.campaign.languages == ["en", "ar", "ckb"]
    assert settings.publish_unreviewed is False
    assert loaded.library_dir == (SHIPPED_CONFIG.parent.parent / "messages").resolve()
    assert {"telegram", "x", "mastodon", "bluesky", "console"} <= set(settings.enabled_channels)


def _broken(campaign: Campaign, **changes: object) -> str:
    data = campaign.config()
    for dotted, value in changes.items():
        *path, last = dotted.split("__")
        node = data
        for key in path:
            node = node[key]
        node[last] = value
    campaign.write_config(data)
    with pytest.raises(ConfigError) as info:
        load_config(campaign.config_path)
    return str(info.value)


def test_unknown_key_names_file_and_key(campaign: Campaign) -> None:
    message = _broken(campaign, campaign__colour="red")
    assert str(campaign.config_path) in message
    assert "campaign.colour: unknown key" in message


def test_bad_time_zone_names_value_and_expectation(campaign: Campaign) -> None:
    message = _broken(campaign, campaign__time_zone="Mars/Olympus")
    assert "campaign.time_zone: unknown time zone 'Mars/Olympus'" in message
    assert "IANA name" in message


def test_bad_language(campaign: Campaign) -> None:
    message = _broken(campaign, campaign__languages=["en", "fr"])
    assert "campaign.languages.1: unknown language 'fr'" in message


def test_wrong_type(campaign: Campaign) -> None:
    message = _broken(campaign, staff="alice")
    assert "staff" in message and "'alice'" in message


def test_rule_with_unknown_channel(campaign: Campaign) -> None:
    data = campaign.config()
    data["schedule"]["rules"][0]["channels"] = ["myspace"]
    campaign.write_config(data)
    with pytest.raises(ConfigError, match="names channel 'myspace'"):
        load_config(campaign.config_path)


def test_missing_file_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="pass --config PATH or set CAMPAIGN_CONFIG"):
        load_config(tmp_path / "nope.yaml")


def test_durations() -> None:
    assert parse_duration("15m").total_seconds() == 900
    assert parse_duration("14d").days == 14
    with pytest.raises(ValueError, match="expected a duration"):
        parse_duration("soon")


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgres://u@h:5432/db", "postgresql+psycopg://u@h:5432/db"),
        ("postgresql://u@h/db", "postgresql+psycopg://u@h/db"),
        ("sqlite:////tmp/x.db", "sqlite:////tmp/x.db"),
    ],
)
def test_database_url_accepts_heroku(
    monkeypatch: pytest.MonkeyPatch, given: str, expected: str
) -> None:
    monkeypatch.setenv("DATABASE_URL", given)
    assert database_url() == expected


def test_database_url_defaults_to_sqlite_in_data_dir(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "d"))
    assert database_url() == f"sqlite:///{tmp_path / 'd' / 'campaign.sqlite3'}"


def test_dotenv_is_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("LOG_LEVEL=DEBUG\n")
    from bot.config import env

    assert env("LOG_LEVEL") == "DEBUG"
    monkeypatch.setenv("LOG_LEVEL", "ERROR")
    assert env("LOG_LEVEL") == "ERROR"
