"""A database outage costs each component two log lines, however many times its loops retry."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy.exc import IntegrityError, OperationalError

from bot.store.outage import OutageReporter, describe, is_database_outage


def refused() -> OperationalError:
    driver = Exception(
        'connection failed: connection to server at "127.0.0.1", port 5999 failed: '
        "Connection refused\n\tIs the server running on that host?"
    )
    return OperationalError("SELECT posts.id FROM posts WHERE secret = %(p)s", {"p": "x"}, driver)


class Ticks:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_an_outage_is_one_line_when_it_begins_and_one_with_its_duration_when_it_ends(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ticks = Ticks()
    reporter = OutageReporter("publishing", monotonic=ticks)
    caplog.set_level(logging.INFO)
    for _ in range(200):  # every tick of every loop during a 25 s outage
        with reporter.guard("publishing tick failed"):
            raise refused()
        ticks.now += 0.125
    assert reporter.down
    with reporter.guard("publishing tick failed"):
        pass
    with reporter.guard("publishing tick failed"):
        pass
    lines = [record.getMessage() for record in caplog.records]
    assert lines == [
        "publishing: database unreachable: connection failed: connection to server at "
        '"127.0.0.1", port 5999 failed: Connection refused; retrying',
        "publishing: database reachable again after 25.0 s (200 failed attempts)",
    ]
    assert not any(record.exc_info for record in caplog.records)  # no tracebacks
    assert "SELECT" not in "\n".join(lines)  # neither SQL nor its parameters


def test_other_errors_keep_their_traceback_every_time(caplog: pytest.LogCaptureFixture) -> None:
    reporter = OutageReporter("reminders")
    for _ in range(2):
        with reporter.guard("reminders job failed"):
            raise ValueError("a bug")
    assert [r.getMessage() for r in caplog.records] == ["reminders job failed"] * 2
    assert all(record.exc_info for record in caplog.records)
    assert not reporter.down


def test_a_second_outage_is_reported_again(caplog: pytest.LogCaptureFixture) -> None:
    reporter = OutageReporter("fan-out")
    for _ in range(2):
        assert reporter.failed(refused())
        assert reporter.failed(refused())
        reporter.succeeded()
    assert len(caplog.records) == 4


def test_what_counts_as_the_database_being_away() -> None:
    assert is_database_outage(refused())
    wrapped = RuntimeError("tick failed")
    wrapped.__cause__ = refused()
    assert is_database_outage(wrapped)
    assert not is_database_outage(IntegrityError("INSERT", {}, Exception("duplicate key")))
    assert not is_database_outage(KeyError("f-attacks"))
    assert describe(wrapped).endswith("Connection refused")
