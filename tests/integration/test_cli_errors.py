"""Wrong settings a new user tries: each command says what is wrong in one line and exits 2."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from bot.cli import cli
from tests.campaign_factory import Campaign, demand, finding, make_campaign


def run(*args: str) -> Result:
    # catch_exceptions=False: a traceback fails the test instead of becoming exit code 1.
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


@pytest.fixture
def campaign(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Campaign:
    """The small campaign, with topic weights only for its items' topics, set as the default."""
    made = make_campaign(tmp_path / "campaign")
    data = made.config()
    data["schedule"]["topic_weights"] = {"weapons": 2}
    made.write_config(data)
    monkeypatch.setenv("CAMPAIGN_CONFIG", str(made.config_path))
    return made


def _one_line_error(result: Result) -> str:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ")
    return lines[0]


DATABASE_COMMANDS = [
    ["pause"],
    ["queue"],
    ["deliveries", "--since", "-1d"],
    ["db", "upgrade"],
    ["broadcasts"],
    ["subscribers", "stats"],
]


@pytest.mark.parametrize("command", DATABASE_COMMANDS, ids=lambda c: " ".join(c))
@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "postgresql://staff:hunter2secret@127.0.0.1:1/campaign",
            "cannot open DATABASE_URL=postgresql://staff:***@127.0.0.1:1/campaign: ",
        ),
        ("mysql://staff:hunter2secret@localhost/campaign", "needs the database driver"),
        ("not a url", "DATABASE_URL=not a url is not a database URL; expected e.g. postgresql"),
        ("nosuchdb://x", "names a kind of database SQLAlchemy does not know"),
        ("sqlite:///{tmp}/missing/x.db", "cannot open DATABASE_URL=sqlite:///{tmp}/missing/x.db"),
    ],
)
def test_bad_database_url(
    campaign: Campaign,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    command: list[str],
    url: str,
    expected: str,
) -> None:
    url, expected = url.format(tmp=tmp_path), expected.format(tmp=tmp_path)
    monkeypatch.setenv("DATABASE_URL", url)
    line = _one_line_error(run(*command))
    assert expected in line
    assert "hunter2secret" not in line


@pytest.mark.postgres
def test_missing_postgres_database(campaign: Campaign, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/no_such_campaign_db")
    line = _one_line_error(run("queue"))
    assert "cannot open DATABASE_URL=postgresql://postgres@127.0.0.1:5432/no_such_campaign_db" in (
        line
    )
    assert 'database "no_such_campaign_db" does not exist' in line
    assert "fix DATABASE_URL, or unset it to use SQLite in DATA_DIR" in line


def test_data_dir_that_cannot_be_created(
    campaign: Campaign, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATA_DIR", "/proc/nope")
    line = _one_line_error(run("pause"))
    assert "DATA_DIR=/proc/nope: cannot create the data folder" in line


def test_config_that_is_a_folder(campaign: Campaign) -> None:
    folder = campaign.config_path.parent
    for command in (["check"], ["queue"], ["library", "list"]):
        line = _one_line_error(run(*command, "--config", str(folder)))
        assert f"{folder}: is a folder, expected the campaign YAML file" in line


@pytest.mark.parametrize(
    "command",
    [
        ["post", "f-attacks", "--channel", "console", "--at", "+99999999999h"],
        ["deliveries", "--since=-99999999999d"],
    ],
)
def test_time_too_far_away(campaign: Campaign, command: list[str]) -> None:
    line = _one_line_error(run(*command))
    assert "is too far" in line and "expected a time between the years 1 and 9999" in line


@pytest.mark.parametrize("at", ["+99999d", "+800d", "2100-01-01T09:00Z"])
def test_a_post_more_than_two_years_ahead_is_refused(
    campaign: Campaign, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, at: str
) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/x.db")
    line = _one_line_error(run("post", "f-attacks", "--channel", "console", "--at", at))
    assert "is more than two years ahead; give a time within two years" in line


@pytest.mark.parametrize("command", [["check"], ["library", "list"], ["queue"], ["pause"]])
def test_missing_library_names_the_library_key(campaign: Campaign, command: list[str]) -> None:
    data = campaign.config()
    data["library"] = "../no-such-messages"
    campaign.write_config(data)
    result = run(*command)
    assert result.exit_code == 2
    assert f"{campaign.config_path}: library: the message library folder" in result.stderr
    assert "(got '../no-such-messages')" in result.stderr


def _cron(campaign: Campaign, cron: str) -> None:
    data = campaign.config()
    data["schedule"]["rules"][0]["cron"] = cron
    campaign.write_config(data)


@pytest.mark.parametrize("command", [["check"], ["queue"], ["pause"]])
def test_bad_cron_stops_every_command(campaign: Campaign, command: list[str]) -> None:
    _cron(campaign, "0 25 * * *")
    result = run(*command)
    assert result.exit_code == 2
    assert f"{campaign.config_path}: invalid configuration" in result.stderr
    assert "schedule.rules.0.cron: not a crontab schedule" in result.stderr
    assert "(got '0 25 * * *')" in result.stderr


# check: what the schedule names that the library does not have


def _check_errors(campaign: Campaign, change: Any) -> list[str]:
    data = campaign.config()
    change(data)
    campaign.write_config(data)
    result = run("check")
    assert result.exit_code == 1, result.output
    return [line.removeprefix("ERROR ") for line in result.stderr.splitlines()]


def test_pick_ids_naming_an_unknown_item(campaign: Campaign) -> None:
    def change(data: dict[str, Any]) -> None:
        data["schedule"]["rules"][0]["pick"] = {"ids": ["f-atacks"]}

    errors = _check_errors(campaign, change)
    assert (
        f"{campaign.config_path}: schedule.rules.0.pick.ids: unknown item 'f-atacks'; "
        "did you mean f-attacks?"
    ) in errors[0]


def test_pick_that_matches_no_publishable_item(campaign: Campaign) -> None:
    def change(data: dict[str, Any]) -> None:
        data["schedule"]["rules"][0]["pick"] = {"kinds": ["update"]}

    errors = _check_errors(campaign, change)
    assert errors == [
        f"{campaign.config_path}: schedule.rules.0.pick: rule 'daily-finding' matches no item "
        "with reviewed text in en, ar, ckb (0 matching items in all), so it would never post; "
        "widen pick (kinds, topics, ids) or add items"
    ]


def test_pick_of_unreviewed_languages_only(campaign: Campaign) -> None:
    def change(data: dict[str, Any]) -> None:
        data["schedule"]["rules"][0]["languages"] = ["ar"]

    errors = _check_errors(campaign, change)
    assert "matches no item with reviewed text in ar (1 matching item in all)" in errors[0]
    data = campaign.config()
    data["publish_unreviewed"] = True
    campaign.write_config(data)
    assert run("check").exit_code == 0


def test_topic_weight_for_a_topic_no_item_has(campaign: Campaign) -> None:
    def change(data: dict[str, Any]) -> None:
        data["schedule"]["topic_weights"] = {"weapons": 2, "aid": 1}

    errors = _check_errors(campaign, change)
    assert errors == [
        f"{campaign.config_path}: schedule.topic_weights.aid: unknown topic 'aid'; "
        "expected one of acknowledge, weapons; no item has it"
    ]


def test_rule_channel_not_under_channels(campaign: Campaign) -> None:
    data = campaign.config()
    del data["channels"]["bluesky"]
    campaign.write_config(data)
    result = run("check")
    assert result.exit_code == 2
    assert "schedule.rules.0.channels: rule 'daily-finding' names channel 'bluesky'" in (
        result.stderr
    )


# the library: demands need a source; targets must exist


def test_demand_without_source_is_rejected(campaign: Campaign) -> None:
    campaign.write_items("items.yaml", [finding(), demand(source=None)])
    result = run("check")
    assert result.exit_code == 1
    assert (
        "items.yaml: item d-acknowledge: a demand needs a source (publisher, title, url, date)"
    ) in result.stderr
    assert "has no attribute" not in result.stderr


def test_demand_with_unknown_target(campaign: Campaign) -> None:
    campaign.write_items("items.yaml", [finding(), demand(targets=["nobody"])])
    result = run("check")
    assert result.exit_code == 1
    assert (
        "items.yaml: item d-acknowledge: targets: unknown target 'nobody'; "
        "expected one of iraq-government"
    ) in result.stderr
    result = run("preview", "d-acknowledge")
    assert result.exit_code == 1
    assert "item d-acknowledge: targets: unknown target 'nobody'" in result.stderr


# wording


def test_preview_says_unreviewed_text_is_published_when_configured(campaign: Campaign) -> None:
    result = run("preview", "f-attacks", "--channel", "x")
    assert "UNREVIEWED (not published)" in result.stdout
    data = campaign.config()
    data["publish_unreviewed"] = True
    campaign.write_config(data)
    result = run("preview", "f-attacks", "--channel", "x")
    assert "UNREVIEWED (published: publish_unreviewed is true)" in result.stdout
    assert "not published" not in result.stdout
    summary = run("check").stdout
    assert "unreviewed, published: publish_unreviewed is true)" in summary


def test_counts_use_singular_for_one(campaign: Campaign) -> None:
    campaign.write_items("items.yaml", [finding()])
    data = campaign.config()
    data["schedule"]["rules"] = data["schedule"]["rules"][:1]
    data["channels"] = {"console": {}}
    data["schedule"]["rules"][0]["channels"] = ["console"]
    data["campaign"]["languages"] = ["en"]
    campaign.write_config(data)
    result = run("check")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("1 item, 1 target, 1 render (0 unreviewed")
    assert result.stdout.rstrip().endswith("0 problems")
    assert run("library", "list").stdout.splitlines()[-1].startswith("1 item (")


def test_unknown_language_lists_known_ones(campaign: Campaign) -> None:
    line = _one_line_error(run("preview", "f-attacks", "--lang", "fr"))
    assert line == "Error: unknown language 'fr'; expected one of en, ar, ckb"


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("PORT", "abc", "PORT='abc': expected a port number from 0 to 65535"),
        ("PORT", "70000", "PORT='70000': expected a port number from 0 to 65535"),
        ("DASHBOARD_URL", "notaurl", "DASHBOARD_URL='notaurl': expected the dashboard's address"),
        ("DASHBOARD_URL", "ftp://x.org", "DASHBOARD_URL='ftp://x.org': expected"),
        ("DASHBOARD_URL", "https://x.org:abc", "DASHBOARD_URL='https://x.org:abc': expected"),
    ],
)
@pytest.mark.parametrize(
    "command", [["run", "--dry-run"], ["dashboard", "link", "--staff", "1"]], ids=" ".join
)
def test_bad_port_or_dashboard_url(
    campaign: Campaign,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    variable: str,
    value: str,
    expected: str,
    command: list[str],
) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/x.db")
    monkeypatch.setenv(variable, value)
    assert expected in _one_line_error(run(*command))
