"""`campaign-bot subscribers import/export/stats` as staff run them, on both stores."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner, Result

from bot.cli import cli
from bot.store import AuditEntry, Store, Subscriber
from bot.store.subscribers import stop
from tests.campaign_factory import Campaign

HEADER = "chat_id,language,topics,reminder,reminder_time,time_zone,consented_at"
GOOD = [
    "101,en,weapons acknowledge,daily,18:30,Asia/Baghdad,2026-01-05T10:00:00+03:00",
    "102,ar,acknowledge,weekly,09:00,Europe/Berlin,2026-01-06T09:00:00Z",
    "103,ckb,,off,,,2026-01-07T12:00:00+00:00",
]


@pytest.fixture
def env(campaign: Campaign, db_url: str, monkeypatch: pytest.MonkeyPatch) -> Campaign:
    monkeypatch.setenv("CAMPAIGN_CONFIG", str(campaign.config_path))
    monkeypatch.setenv("DATABASE_URL", db_url)
    return campaign


@pytest.fixture
def db(env: Campaign, db_url: str) -> Iterator[Store]:
    run("subscribers", "stats")  # migrates the database
    instance = Store(db_url)
    yield instance
    instance.close()


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def write(tmp_path: Path, *lines: str, name: str = "people.csv") -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def rows(store: Store) -> dict[int, Subscriber]:
    with store.sessions() as session:
        return {s.chat_id: s for s in session.query(Subscriber)}


def test_import_adds_every_row_with_its_reminder_schedule(db: Store, tmp_path: Path) -> None:
    result = run("subscribers", "import", str(write(tmp_path, HEADER, *GOOD)))
    assert result.exit_code == 0, result.output
    assert "imported 3 subscribers (3 new, 0 updated)" in result.stdout

    people = rows(db)
    assert sorted(people) == [101, 102, 103]
    first, second, third = people[101], people[102], people[103]
    assert (first.language, first.topic_list, first.reminder) == (
        "en",
        ["weapons", "acknowledge"],
        "daily",
    )
    assert first.active and first.consented_at is not None
    assert first.next_reminder_at is not None
    local = first.next_reminder_at.astimezone(ZoneInfo("Asia/Baghdad"))
    assert f"{local:%H:%M}" == "18:30"
    assert second.time_zone == "Europe/Berlin" and second.reminder == "weekly"
    # Empty time and zone take the campaign's defaults; reminders off have no next time.
    assert (third.reminder_time, third.time_zone) == ("18:00", "Asia/Baghdad")
    assert third.next_reminder_at is None
    with db.sessions() as session:
        [audit] = session.query(AuditEntry).filter(AuditEntry.action == "import-subscribers")
    assert json.loads(audit.detail) == {"added": 3, "updated": 0, "opted_out": 0}


def test_bad_rows_are_reported_by_line_with_every_problem_and_nothing_is_imported(
    db: Store, tmp_path: Path
) -> None:
    path = write(
        tmp_path,
        HEADER,
        GOOD[0],
        "abc,fr,weapons nonsense,hourly,25:00,Mars/Base,yesterday",
        GOOD[1],
        "105,en,weapons,daily,18:00,Asia/Baghdad",
        "101,en,weapons,daily,18:00,Asia/Baghdad,2026-01-05T10:00:00+03:00",
        "106,en,weapons,daily,18:00,Asia/Baghdad,2099-01-01T00:00:00Z",
        "107,en,weapons,daily,18:00,Asia/Baghdad,2026-01-05T10:00:00",
    )
    result = run("subscribers", "import", str(path))

    assert result.exit_code == 1
    assert result.stdout == ""
    errors = result.stderr.splitlines()
    line3 = [e for e in errors if ": line 3: " in e]
    assert len(line3) == 7  # every field of that row is wrong, and each is reported
    for fragment in (
        "chat_id 'abc'",
        "language 'fr'",
        "unknown topic 'nonsense'",
        "reminder 'hourly'",
        "reminder_time '25:00'",
        "time_zone 'Mars/Base'",
        "consented_at 'yesterday'",
    ):
        assert any(fragment in e for e in line3), fragment
    assert any(": line 5: fewer fields than the header has columns" in e for e in errors)
    assert any(": line 6: chat_id 101 is also on line 2" in e for e in errors)
    assert any(": line 7: " in e and "in the future" in e for e in errors)
    assert any(": line 8: " in e and "no time zone" in e for e in errors)
    assert "11 problem(s) in 5 row(s); nothing was imported" in errors[-1]
    assert rows(db) == {}


def test_a_bad_header_is_reported(db: Store, tmp_path: Path) -> None:
    result = run("subscribers", "import", str(write(tmp_path, "chat,lang", "1,en")))
    assert result.exit_code == 1
    assert "line 1: header: missing column(s) chat_id, language" in result.stderr
    assert "unknown column(s) chat, lang" in result.stderr
    assert rows(db) == {}


def test_reimport_updates_but_never_brings_back_someone_who_stopped(
    db: Store, tmp_path: Path
) -> None:
    run("subscribers", "import", str(write(tmp_path, HEADER, *GOOD)))
    stop(db, 102)
    changed = GOOD[0].replace(",en,", ",ar,")
    result = run("subscribers", "import", str(write(tmp_path, HEADER, changed, GOOD[1])))
    assert result.exit_code == 0, result.output
    assert "(0 new, 1 updated); 1 left out because they used /stop" in result.stdout
    people = rows(db)
    assert people[101].language == "ar"
    assert not people[102].active and people[102].opted_out


def test_export_round_trips_through_import(
    db: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run("subscribers", "import", str(write(tmp_path, HEADER, *GOOD)))
    exported = run("subscribers", "export")
    assert exported.exit_code == 0, exported.output
    table = list(csv.DictReader(io.StringIO(exported.stdout)))
    assert [r["chat_id"] for r in table] == ["101", "102", "103"]
    assert table[0]["topics"] == "weapons acknowledge"
    assert table[1]["consented_at"] == "2026-01-06T09:00:00+00:00"

    path = tmp_path / "exported.csv"
    assert run("subscribers", "export", "--output", str(path)).exit_code == 0
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'another.sqlite3'}")
    imported = run("subscribers", "import", str(path))
    assert imported.exit_code == 0, imported.output
    assert run("subscribers", "export").stdout == exported.stdout


def test_stats_counts_active_inactive_languages_and_topics(db: Store, tmp_path: Path) -> None:
    run("subscribers", "import", str(write(tmp_path, HEADER, *GOOD)))
    stop(db, 103)
    result = run("subscribers", "stats", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "active": 2,
        "inactive": 1,
        "by_language": {"en": 1, "ar": 1},
        "by_topic": {"acknowledge": 2, "weapons": 1},
    }
    text = run("subscribers", "stats").stdout
    assert "active: 2\ninactive: 1" in text and "#acknowledge: 2" in text
