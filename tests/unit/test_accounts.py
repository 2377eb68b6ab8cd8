"""Accounts in the config: their names, languages and credentials, and the errors people see."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from bot.accounts import accounts_for, target_names
from bot.app import build_channels
from bot.channels.console import ConsoleChannel
from bot.cli import cli
from bot.config import (
    ConfigError,
    Settings,
    account_env,
    load_config,
    missing_credentials,
    secret_values,
)
from bot.store import Store
from tests.campaign_factory import Campaign, finding

ACCOUNTS: dict[str, Any] = {
    "console": {"enabled": False},
    "telegram": {
        "accounts": {"english": {"languages": ["en"]}, "arabic": {"languages": ["ar"]}},
    },
    "x": {
        "accounts": {
            "english": {"languages": ["en"]},
            "kurdish": {"languages": ["ckb"], "max_posts_per_day": 3},
        },
    },
}
RULE = {"id": "daily", "cron": "0 9 * * *", "channels": ["telegram", "x"]}
X_ENGLISH = {
    "X_CONSUMER_KEY__ENGLISH": "english-consumer-key",
    "X_CONSUMER_SECRET__ENGLISH": "english-consumer-secret",
    "X_ACCESS_TOKEN__ENGLISH": "english-access-token",
    "X_ACCESS_TOKEN_SECRET__ENGLISH": "english-access-secret",
}


def configure(campaign: Campaign, channels: dict[str, Any], rule: dict[str, Any]) -> Path:
    data = campaign.config()
    data["channels"] = channels
    data["schedule"]["rules"] = [rule]
    campaign.write_config(data)
    return campaign.config_path


def config_error(campaign: Campaign, channels: dict[str, Any], rule: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(configure(campaign, channels, rule))
    return str(info.value)


@pytest.fixture
def settings(campaign: Campaign) -> Settings:
    return load_config(configure(campaign, ACCOUNTS, RULE)).settings


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    instance = Store(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    yield instance
    instance.close()


def test_each_language_goes_to_the_accounts_carrying_it(settings: Settings) -> None:
    def keys(targets: list[str], lang: str) -> list[str]:
        return [a.key for a in accounts_for(settings, targets, lang)]

    assert keys(["telegram", "x"], "en") == ["telegram:english", "x:english"]
    assert keys(["telegram", "x"], "ar") == ["telegram:arabic"]
    assert keys(["telegram", "x"], "ckb") == ["x:kurdish"]
    assert keys(["x:kurdish"], "en") == []
    assert keys(["x", "x:english"], "en") == ["x:english"]  # named twice, sent once
    assert settings.channel_languages("x") == ["en", "ckb"]  # what `check` renders
    # In the order of the file (the test's YAML writer sorts the keys).
    assert target_names(settings) == [
        "telegram",
        "x",
        "telegram:arabic",
        "telegram:english",
        "x:english",
        "x:kurdish",
    ]


def test_a_rule_may_name_one_account(campaign: Campaign) -> None:
    rule = {**RULE, "channels": ["x:kurdish", "telegram:arabic"]}
    loaded = load_config(configure(campaign, ACCOUNTS, rule)).settings
    assert loaded.schedule.rules[0].channels == ["x:kurdish", "telegram:arabic"]


def test_a_rule_naming_an_unknown_account_is_located(campaign: Campaign) -> None:
    message = config_error(campaign, ACCOUNTS, {**RULE, "channels": ["x:arabic"]})
    assert (
        "  schedule.rules.0.channels: unknown account 'x:arabic'; expected one of x:english, "
        "x:kurdish"
    ) in message.splitlines()


def test_an_account_of_a_network_without_accounts(campaign: Campaign) -> None:
    channels = {**ACCOUNTS, "mastodon": {}}
    message = config_error(campaign, channels, {**RULE, "channels": ["mastodon:english"]})
    assert "mastodon has no named accounts" in message


@pytest.mark.parametrize(
    ("accounts", "wanted"),
    [
        (
            {"Kurdish": {"languages": ["ckb"]}},
            "channels.x.accounts.Kurdish.[key]: an account name is a lowercase letter, then "
            "lowercase letters, digits and _ (up to 30 in all), e.g. kurdish (got 'Kurdish')",
        ),
        ({"daily-post": {"languages": ["ckb"]}}, "digits and _ (up to 30 in all)"),
        ({"a" * 31: {"languages": ["ckb"]}}, "(up to 30 in all)"),
        ({"kurdish": {}}, "channels.x.accounts.kurdish.languages: required key is missing"),
        ({"kurdish": {"languages": ["ku"]}}, "unknown language 'ku'"),
    ],
)
def test_bad_accounts_are_config_errors(
    campaign: Campaign, accounts: dict[str, Any], wanted: str
) -> None:
    message = config_error(campaign, {**ACCOUNTS, "x": {"accounts": accounts}}, RULE)
    assert wanted in message


def test_network_languages_beside_accounts_are_a_config_error(campaign: Campaign) -> None:
    x = {**ACCOUNTS["x"], "languages": ["en", "ar"]}
    message = config_error(campaign, {**ACCOUNTS, "x": x}, RULE)
    assert (
        "  channels.x.languages: a network with accounts takes its languages from them; move "
        "these under each account's languages: and delete this line (got ['en', 'ar'])"
    ) in message.splitlines()


def test_the_console_has_no_accounts(campaign: Campaign) -> None:
    channels = {**ACCOUNTS, "console": {"accounts": {"english": {"languages": ["en"]}}}}
    assert "the console channel has no accounts" in config_error(campaign, channels, RULE)


def test_credentials_are_named_after_the_account(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("X_CONSUMER_KEY", "plain-consumer-key")
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123:shared-bot-token")
    monkeypatch.setenv("BLUESKY_BASE_URL", "http://127.0.0.1:9/")
    monkeypatch.setenv("X_CONSUMER_KEY__KURDISH", "kurdish-consumer-key")
    assert account_env("X_CONSUMER_KEY", "kurdish") == "kurdish-consumer-key"
    assert account_env("X_CONSUMER_KEY", "english") == ""  # never another account's key
    assert account_env("X_CONSUMER_KEY") == "plain-consumer-key"
    assert account_env("TELEGRAM_BOT_TOKEN", "arabic") == "123:shared-bot-token"  # one bot
    assert account_env("BLUESKY_BASE_URL", "english") == "http://127.0.0.1:9/"
    assert missing_credentials("x:kurdish") == [
        "X_CONSUMER_SECRET__KURDISH",
        "X_ACCESS_TOKEN__KURDISH",
        "X_ACCESS_TOKEN_SECRET__KURDISH",
    ]
    assert missing_credentials("telegram:arabic") == ["TELEGRAM_CHANNEL_ID__ARABIC"]
    assert "kurdish-consumer-key" in secret_values()  # redacted like the plain ones


def test_credentials_come_from_dotenv_too(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("TELEGRAM_CHANNEL_ID__ARABIC=@campaign_ar\n")
    assert account_env("TELEGRAM_CHANNEL_ID", "arabic") == "@campaign_ar"


def test_no_credentials_at_all_is_a_dry_run_per_account(settings: Settings, store: Store) -> None:
    channels = build_channels(settings, store, dry_run=False)
    assert sorted(channels) == ["telegram:arabic", "telegram:english", "x:english", "x:kurdish"]
    for name, channel in channels.items():
        assert isinstance(channel, ConsoleChannel) and channel.dry_run
        assert channel.name == name  # the dry run prints which account it would post on


def test_an_account_without_credentials_is_named(
    settings: Settings, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in X_ENGLISH.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123:shared-bot-token")
    monkeypatch.setenv("TELEGRAM_CHANNEL_ID__ENGLISH", "@campaign_en")
    monkeypatch.setenv("TELEGRAM_CHANNEL_ID__ARABIC", "@campaign_ar")
    with pytest.raises(ConfigError) as info:
        build_channels(settings, store, dry_run=False)
    assert str(info.value) == (
        "channels enabled in config lack credentials: x:kurdish needs X_CONSUMER_KEY__KURDISH, "
        "X_CONSUMER_SECRET__KURDISH, X_ACCESS_TOKEN__KURDISH, X_ACCESS_TOKEN_SECRET__KURDISH. "
        "Set them in the environment or .env, set `enabled: false` for the channel, or run "
        "with --dry-run."
    )


def test_plain_credentials_with_named_accounts_are_not_a_silent_dry_run(
    settings: Settings, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("X_CONSUMER_KEY", "plain-consumer-key")
    with pytest.raises(ConfigError) as info:
        build_channels(settings, store, dry_run=False)
    message = str(info.value)
    assert "x:english needs X_CONSUMER_KEY__ENGLISH" in message
    assert "X_CONSUMER_KEY is set, but named accounts read only their own" in message
    assert "plain-consumer-key" not in message


def test_run_with_an_account_lacking_credentials_exits_2_with_one_line(
    campaign: Campaign, monkeypatch: pytest.MonkeyPatch
) -> None:
    channels = {"console": {"enabled": False}, "x": ACCOUNTS["x"]}
    monkeypatch.setenv(
        "CAMPAIGN_CONFIG", str(configure(campaign, channels, {**RULE, "channels": ["x"]}))
    )
    for name, value in X_ENGLISH.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("LOG_LEVEL", "WARNING")  # the migrations' INFO lines aside
    # A process of its own: `run` sets up logging for the whole process.
    result = subprocess.run(
        [sys.executable, "-m", "bot", "run"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == [
        "Error: channels enabled in config lack credentials: x:kurdish needs "
        "X_CONSUMER_KEY__KURDISH, X_CONSUMER_SECRET__KURDISH, X_ACCESS_TOKEN__KURDISH, "
        "X_ACCESS_TOKEN_SECRET__KURDISH. Set them in the environment or .env, set "
        "`enabled: false` for the channel, or run with --dry-run."
    ]


@pytest.mark.parametrize(
    ("channel", "lang", "wanted"),
    [
        (
            "x:kurdish",
            "en",
            "no account of x:kurdish carries en; accounts: x:english (en), x:kurdish (ckb)",
        ),
        ("x:arabic", "ar", "unknown account 'x:arabic'; expected one of x:english, x:kurdish"),
        (
            "telegram",
            "ckb",
            "no account of telegram carries ckb; accounts: telegram:arabic (ar), "
            "telegram:english (en)",
        ),
    ],
)
def test_post_to_an_account_that_does_not_carry_the_language(
    campaign: Campaign, monkeypatch: pytest.MonkeyPatch, channel: str, lang: str, wanted: str
) -> None:
    monkeypatch.setenv("CAMPAIGN_CONFIG", str(configure(campaign, ACCOUNTS, RULE)))
    campaign.write_items("items.yaml", [finding(reviewed=["en", "ar", "ckb"])])
    result = CliRunner().invoke(cli, ["post", "f-attacks", "--channel", channel, "--lang", lang])
    assert result.exit_code == 2, result.output
    assert result.stderr.strip() == f"Error: {wanted}"


def test_queue_skips_a_language_no_account_carries(
    campaign: Campaign, monkeypatch: pytest.MonkeyPatch
) -> None:
    rule = {**RULE, "channels": ["x"], "languages": ["en", "ar"]}
    monkeypatch.setenv("CAMPAIGN_CONFIG", str(configure(campaign, ACCOUNTS, rule)))
    campaign.write_items("items.yaml", [finding(reviewed=["en", "ar", "ckb"])])
    result = CliRunner().invoke(cli, ["queue", "--days", "1", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)["posts"]
    assert {(r["lang"], tuple(r["channels"]), r["state"]) for r in rows} == {
        ("en", ("x:english",), "planned"),
        ("ar", ("x",), "skip: no account of x carries ar"),
    }


def test_a_rule_no_account_of_which_carries_its_languages(campaign: Campaign) -> None:
    rule = {**RULE, "channels": ["x:kurdish", "telegram:arabic"], "languages": ["en"]}
    message = config_error(campaign, ACCOUNTS, rule)
    assert (
        "  schedule.rules.0.channels: rule 'daily' publishes en, but no account of x:kurdish, "
        "telegram:arabic carries any of them; expected an account with one of these languages "
        "(got ['x:kurdish', 'telegram:arabic'])"
    ) in message.splitlines()


def test_post_to_two_networks_goes_where_the_language_is_carried(
    campaign: Campaign, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CAMPAIGN_CONFIG", str(configure(campaign, ACCOUNTS, RULE)))
    campaign.write_items("items.yaml", [finding(reviewed=["en", "ar", "ckb"])])
    runner = CliRunner()
    args = ["post", "f-attacks", "--channel", "telegram", "--channel", "x", "--lang"]
    result = runner.invoke(cli, [*args, "ckb", "--json"])
    assert result.exit_code == 0, result.output  # telegram carries no ckb: x:kurdish only
    queue = json.loads(runner.invoke(cli, ["queue", "--days", "0", "--json"]).stdout)
    [row] = [r for r in queue["posts"] if r["from"].startswith("post ")]
    assert row["channels"] == ["x:kurdish"]


def test_preview_takes_an_account_and_renders_as_its_network(campaign: Campaign) -> None:
    config = str(configure(campaign, ACCOUNTS, RULE))
    runner = CliRunner()
    shown = runner.invoke(
        cli, ["preview", "f-attacks", "--channel", "x:kurdish", "--lang", "en", "--config", config]
    )
    assert shown.exit_code == 0, shown.output
    as_x = runner.invoke(
        cli, ["preview", "f-attacks", "--channel", "x", "--lang", "en", "--config", config]
    )
    assert shown.stdout.replace("x:kurdish", "x") == as_x.stdout
    assert shown.stdout.startswith("── x:kurdish · en · ")
    unknown = runner.invoke(
        cli, ["preview", "f-attacks", "--channel", "x:arabic", "--config", config]
    )
    assert unknown.exit_code == 2
    assert "unknown account 'x:arabic'; expected one of x:english, x:kurdish" in unknown.stderr
