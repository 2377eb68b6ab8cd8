"""Config mistakes a new user makes: each is an error naming the key, the value and the fix."""

from __future__ import annotations

from typing import Any

import pytest

from bot.config import ConfigError, load_config
from tests.campaign_factory import Campaign


def _error(campaign: Campaign, change: Any) -> str:
    data = campaign.config()
    change(data)
    campaign.write_config(data)
    with pytest.raises(ConfigError) as info:
        load_config(campaign.config_path)
    message = str(info.value)
    assert message.startswith(f"{campaign.config_path}: invalid configuration")
    return message


def _rule(data: dict[str, Any], index: int = 0) -> dict[str, Any]:
    rule: dict[str, Any] = data["schedule"]["rules"][index]
    return rule


@pytest.mark.parametrize(
    ("cron", "reason"),
    [
        ("0 25 * * *", "higher than the maximum value (23)"),
        ("every day", "(2 fields)"),
        ("0 9 * * 8", "day of week 8 is out of range 0-7"),
        ("0 9 * * someday", "the weekday must be 0-7 or a name like mon"),
    ],
)
def test_bad_cron_is_a_config_error(campaign: Campaign, cron: str, reason: str) -> None:
    message = _error(campaign, lambda data: _rule(data).update(cron=cron))
    line = message.splitlines()[1]
    assert line.startswith("  schedule.rules.0.cron: not a crontab schedule")
    assert reason in line
    assert "expected 5 fields: minute (0-59) hour (0-23)" in line
    assert line.endswith(f"(got {cron!r})")


@pytest.mark.parametrize("cron", ["0 9 * * 1-5", "*/15 8-18 * * mon-fri", "0 0 1 1 7"])
def test_good_cron_loads(campaign: Campaign, cron: str) -> None:
    data = campaign.config()
    _rule(data)["cron"] = cron
    campaign.write_config(data)
    assert load_config(campaign.config_path).settings.schedule.rules[0].cron == cron


def _every(value: str) -> Any:
    def change(data: dict[str, Any]) -> None:
        rule = _rule(data)
        del rule["cron"]
        rule["every"] = value

    return change


@pytest.mark.parametrize("every", ["0s", "59s", "0m"])
def test_rule_firing_more_than_once_a_minute_is_refused(campaign: Campaign, every: str) -> None:
    message = _error(campaign, _every(every))
    assert (
        f"schedule.rules.0.every: a rule may fire at most once a minute; expected at least 1m "
        f"(got {every!r})"
    ) in message


def test_one_minute_interval_is_allowed(campaign: Campaign) -> None:
    data = campaign.config()
    _every("1m")(data)
    campaign.write_config(data)
    assert load_config(campaign.config_path).settings.schedule.rules[0].every == "1m"


def test_bad_duration_shows_the_value_once(campaign: Campaign) -> None:
    message = _error(campaign, _every("15 minutes"))
    assert message.count("'15 minutes'") == 1
    assert "schedule.rules.0.every: expected a duration like 30s, 15m, 2h or 14d" in message


def test_duplicate_rule_id(campaign: Campaign) -> None:
    message = _error(campaign, lambda data: _rule(data, 1).update(id="daily-finding"))
    assert (
        "schedule.rules.1.id: duplicate rule id (also schedule.rules.0.id); expected each rule "
        "to have its own id (got 'daily-finding')"
    ) in message


def test_blackout_ending_before_it_starts(campaign: Campaign) -> None:
    blackout = {"start": "2026-12-02T00:00:00+03:00", "end": "2026-12-01T00:00:00+03:00"}
    message = _error(campaign, lambda data: data["schedule"].update(blackouts=[blackout]))
    assert "schedule.blackouts.0.end: the blackout ends before it starts" in message
    assert "expected an end after the start" in message


def test_naive_blackout_time_is_shown_as_written_not_as_python(campaign: Campaign) -> None:
    # YAML reads a time without a zone as a naive datetime.
    text = campaign.config_path.read_text(encoding="utf-8")
    blackout = "blackouts:\n    - {start: 2026-12-01T00:00:00, end: 2026-12-02T00:00:00}"
    campaign.config_path.write_text(text.replace("blackouts: []", blackout), encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(campaign.config_path)
    message = str(info.value)
    assert "schedule.blackouts.0.end: expected a time with a zone" in message
    assert "(got 2026-12-02T00:00:00)" in message
    assert "datetime.datetime" not in message


def test_free_broadcast_above_telegram_limit(campaign: Campaign) -> None:
    message = _error(campaign, lambda data: data["broadcast"].update(rate=50, paid=False))
    assert "broadcast.rate: Telegram allows at most 30 messages/s for free" in message
    assert "set broadcast.paid: true" in message and "or lower the rate" in message
    assert message.endswith("(got 50)")


def test_paid_broadcast_may_go_faster(campaign: Campaign) -> None:
    data = campaign.config()
    data["broadcast"] = {"rate": 500, "paid": True}
    campaign.write_config(data)
    assert load_config(campaign.config_path).settings.broadcast.rate == 500


def test_rule_with_unknown_channel_is_located_at_its_channels(campaign: Campaign) -> None:
    message = _error(campaign, lambda data: _rule(data).update(channels=["myspace"]))
    assert "schedule.rules.0.channels: rule 'daily-finding' names channel 'myspace'" in message
    assert "(top level)" not in message
    assert "expected one of" in message


def test_pydantic_wording_reads_naturally(campaign: Campaign) -> None:
    message = _error(campaign, lambda data: data.update(approvals_required=2))
    assert "approvals_required: expected at most 1 (got 2)" in message
    assert "Input should be" not in message


def test_empty_channel_list_uses_singular(campaign: Campaign) -> None:
    message = _error(campaign, lambda data: _rule(data).update(channels=[]))
    assert "schedule.rules.0.channels: expected at least 1 entry (got [])" in message


def test_unknown_language_lists_the_languages(campaign: Campaign) -> None:
    message = _error(campaign, lambda data: data["campaign"].update(languages=["en", "fr"]))
    assert "campaign.languages.1: unknown language 'fr'; expected one of en, ar, ckb" in message
    assert "did you mean" not in message


def test_default_language_outside_languages(campaign: Campaign) -> None:
    change = {"default_language": "ar", "languages": ["en"]}
    message = _error(campaign, lambda data: data["campaign"].update(change))
    assert "campaign.default_language: not one of the campaign's languages" in message
    assert "expected one of en (got 'ar')" in message
    assert "['en']" not in message
