"""The scheduling commands as a user runs them: post, queue, cancel, pause, resume, deliveries."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from bot.app import build_channels, build_core, build_runtime
from bot.cli import cli
from bot.config import database_url
from bot.delivery.notify import LogNotifier
from bot.store import Store
from bot.store.posts import get_post
from tests.campaign_factory import Campaign


@pytest.fixture
def env(campaign: Campaign, db_url: str, monkeypatch: pytest.MonkeyPatch) -> Campaign:
    monkeypatch.setenv("CAMPAIGN_CONFIG", str(campaign.config_path))
    monkeypatch.setenv("DATABASE_URL", db_url)
    return campaign


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def tick_once(campaign: Campaign) -> str:
    """Run one worker tick in-process with console channels; return what they printed."""
    import io

    out = io.StringIO()
    core = build_core(str(campaign.config_path))
    channels = build_channels(core.settings, core.store, dry_run=True, out=out)
    runtime = build_runtime(core, channels, LogNotifier())
    asyncio.run(runtime.worker.tick())
    core.store.close()
    return out.getvalue()


def test_post_then_run_publishes_once(env: Campaign) -> None:
    result = run("post", "f-attacks", "--channel", "console", "--json")
    assert result.exit_code == 0, result.output
    post_id = json.loads(result.stdout)["id"]
    printed = tick_once(env)
    assert printed.count("── console · en · f-attacks") == 1
    assert tick_once(env) == ""
    rows = json.loads(run("deliveries", "--json").stdout)
    assert [(r["post_id"], r["channel"], r["status"]) for r in rows] == [
        (post_id, "console", "sent")
    ]
    assert rows[0]["account"] is None  # console has no named accounts
    assert set(rows[0]) == {
        "id",
        "post_id",
        "item",
        "channel",
        "account",
        "lang",
        "status",
        "external_id",
        "url",
        "error",
        "corrects",
        "created_at",
        "updated_at",
    }


def test_post_in_the_future_shows_in_queue_and_can_be_cancelled(env: Campaign) -> None:
    post_id = json.loads(
        run("post", "f-attacks", "--channel", "x", "--at", "+2h", "--json").stdout
    )["id"]
    queue = json.loads(run("queue", "--json").stdout)
    [row] = [r for r in queue["posts"] if r["from"] == f"post {post_id}"]
    assert (row["item"], row["channels"], row["state"]) == ("f-attacks", ["x"], "scheduled")
    assert row["local"].endswith("+03")
    assert run("cancel", str(post_id)).stdout == f"post {post_id} cancelled\n"
    again = run("cancel", str(post_id))
    assert again.exit_code == 2 and "can no longer be cancelled" in again.stderr
    assert not [
        r
        for r in json.loads(run("queue", "--json").stdout)["posts"]
        if r["from"] == f"post {post_id}"
    ]


def test_queue_shows_the_campaigns_coming_week(env: Campaign) -> None:
    result = run("queue", "--days", "7")
    assert result.exit_code == 0
    assert "rule daily-finding" in result.stdout
    assert "rule weekly-action" in result.stdout
    data = json.loads(run("queue", "--days", "7", "--json").stdout)
    finding_rows = [r for r in data["posts"] if r["from"] == "rule daily-finding"]
    assert len(finding_rows) == 7 * 3  # a day each, in en, ar and ckb
    assert {r["local"][-9:] for r in finding_rows} == {"09:00 +03"}
    assert data["x_posts_today"] == 0 and data["x_max_posts_per_day"] == 10


def test_pause_and_resume(env: Campaign) -> None:
    assert run("pause").stdout == "campaign paused\n"
    assert run("pause").stdout == "campaign was already paused\n"
    assert "PAUSED" in run("queue").stdout
    run("post", "f-attacks", "--channel", "console")
    assert tick_once(env) == ""
    assert run("resume").stdout == "campaign resumed\n"
    assert tick_once(env) == ""  # skipped while paused: never sent later by surprise
    rows = json.loads(run("deliveries", "--status", "skipped", "--json").stdout)
    assert len(rows) == 1 and "paused" in rows[0]["error"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["post", "f-atacks", "--channel", "x"], "did you mean f-attacks?"),
        (["post", "f-attacks", "--channel", "myspace"], "unknown channel 'myspace'"),
        (["post", "f-attacks", "--channel", "x", "--lang", "ar"], "is not reviewed"),
        (["post", "f-attacks", "--channel", "x", "--at", "tomorrow"], "cannot read the time"),
        (["post", "f-attacks", "--channel", "x", "--at", "2026-12-01T09:00"], "has no zone"),
        (["cancel", "4242"], "no post with id 4242"),
        (["deliveries", "--since", "yesterday"], "cannot read the time"),
    ],
)
def test_bad_input_is_a_clear_error(env: Campaign, args: list[str], message: str) -> None:
    result = run(*args)
    assert result.exit_code == 2
    assert message in result.stderr


def test_every_command_has_help(tmp_path: Path) -> None:
    for args in (
        ["--help"],
        ["run", "--help"],
        ["post", "--help"],
        ["queue", "--help"],
        ["cancel", "--help"],
        ["pause", "--help"],
        ["resume", "--help"],
        ["deliveries", "--help"],
        ["check", "--help"],
        ["preview", "--help"],
        ["library", "list", "--help"],
        ["db", "upgrade", "--help"],
    ):
        result = run(*args)
        assert result.exit_code == 0, args
        assert "--config" in result.stdout or "Commands:" in result.stdout


def test_approve_from_the_command_line_needs_a_second_person(
    env: Campaign, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = env.config()
    data["approvals_required"] = 1
    env.write_config(data)
    monkeypatch.setattr("getpass.getuser", lambda: "amal")
    made = run("post", "f-attacks", "--channel", "console", "--json")
    post_id = json.loads(made.stdout)["id"]
    assert tick_once(env) == ""  # held: nobody approved it
    own = run("approve", str(post_id))
    assert own.exit_code == 2 and "different staff member" in own.stderr
    monkeypatch.setattr("getpass.getuser", lambda: "bilal")
    approved = run("approve", str(post_id))
    assert approved.exit_code == 0, approved.output
    assert approved.stdout == f"post {post_id} approved by cli:bilal; it goes out now\n"
    assert tick_once(env).count("── console · en · f-attacks") == 1
    assert run("approve", str(post_id)).exit_code == 2  # already approved


def test_post_reports_the_utc_time_dedupes_channels_and_refuses_the_past(env: Campaign) -> None:
    year = datetime.now(UTC).year + 1  # to come, and within the two years a post may look ahead
    made = run(
        "post", "f-attacks", "--channel", "console", "--channel", "console",
        "--at", f"{year}-12-01T09:00:00-05:00",
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    assert f"on console at {year}-12-01 17:00 +03 (14:00 UTC)" in made.stdout
    past = run("post", "f-attacks", "--channel", "console", "--at", "2020-01-01T09:00:00+03:00")
    assert past.exit_code == 2 and "is in the past" in past.stderr
    post_id = int(made.stdout.split()[1])
    store = Store(database_url())
    try:
        assert get_post(store, post_id).channel_list == ["console"]
    finally:
        store.close()


def test_post_while_paused_warns_that_it_would_be_skipped(env: Campaign) -> None:
    run("pause")
    made = run("post", "f-attacks", "--channel", "console", "--at", "+1h")
    assert "note: the campaign is paused" in made.stdout


def test_dry_run_deliveries_say_so_and_do_not_count_against_the_x_cap(env: Campaign) -> None:
    assert run("post", "f-attacks", "--channel", "x").exit_code == 0
    assert "── x (dry run) · en · f-attacks" in tick_once(env)
    listed = run("deliveries").stdout
    assert "x         en  sent      f-attacks (dry run: printed, not published)" in listed
    assert listed.endswith("1 delivery\n")
    [row] = json.loads(run("deliveries", "--json").stdout)
    assert row["external_id"].startswith("dry-run:")
    assert "X posts today: 0/10" in run("queue").stdout


def test_post_to_a_disabled_channel_says_it_is_disabled(env: Campaign) -> None:
    data = env.config()
    data["channels"]["x"]["enabled"] = False
    env.write_config(data)
    refused = run("post", "f-attacks", "--channel", "x")
    assert refused.exit_code == 2
    assert "channel x is disabled in the config (channels.x.enabled: false)" in refused.stderr


def test_queue_total_counts_only_what_will_go_out(env: Campaign) -> None:
    rows = json.loads(run("queue", "--json").stdout)["posts"]
    skipped = [r for r in rows if r["state"].startswith("skip")]
    assert skipped and len(skipped) < len(rows)  # unreviewed languages in the shipped rules
    summary = run("queue").stdout
    going = len(rows) - len(skipped)
    assert f"{going} posts in the next 7 days; {len(skipped)} more will be skipped" in summary


def test_db_upgrade_says_what_it_applied(env: Campaign) -> None:
    first = run("db", "upgrade").stdout
    assert first.startswith("database upgraded from revision none (empty) to ")
    assert run("db", "upgrade").stdout.startswith("database already up to date (revision ")


def test_queue_shows_blackouts_and_the_pause_as_the_calendar_does(env: Campaign) -> None:
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    end = now + timedelta(days=2)
    data = env.config()
    data["schedule"]["blackouts"] = [{"start": now.isoformat(), "end": end.isoformat()}]
    env.write_config(data)

    def planned() -> list[dict[str, Any]]:
        rows = json.loads(run("queue", "--days", "7", "--json").stdout)["posts"]
        return [r for r in rows if r["from"].startswith("rule ") and "reviewed" not in r["state"]]

    def states(rows: list[dict[str, Any]], blackout: bool) -> set[str]:
        cut = end.strftime("%Y-%m-%dT%H:%MZ")
        return {r["state"] for r in rows if (r["utc"] < cut) == blackout}

    reason = f"skip: blackout until {end:%Y-%m-%d %H:%M} UTC"
    assert states(planned(), blackout=True) == {reason}
    assert states(planned(), blackout=False) == {"planned"}
    run("pause")
    assert states(planned(), blackout=True) == {reason}
    assert states(planned(), blackout=False) == {"skip: the campaign is paused"}
    assert "more will be skipped" in run("queue").stdout
