"""Subscribers as CSV: check every row of an import (by line number), read it, write an export."""

from __future__ import annotations

import csv
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, time
from pathlib import Path
from typing import Any, TextIO
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.config import Settings
from bot.schedule.reminder_times import FREQUENCIES, ReminderPrefs, next_reminder_at
from bot.store.audience import EXPORT_COLUMNS

REQUIRED = (
    "chat_id",
    "language",
    "topics",
    "reminder",
    "reminder_time",
    "time_zone",
    "consented_at",
)
OPTIONAL = ("reminder_weekday",)
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class RowError(ValueError):
    """One problem in one field of one row."""


@dataclass(frozen=True)
class Problem:
    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


def _weekday(value: str) -> int:
    text = value.strip().lower()
    if not text:
        return 0
    if text.isdigit() and int(text) < 7:
        return int(text)
    if text[:3] in DAYS:
        return DAYS.index(text[:3])
    raise RowError(f"reminder_weekday {value!r} is not 0-6 (Monday = 0) or a day name")


def _consent(value: str, now: datetime) -> datetime:
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise RowError(f"consented_at {value!r} is not an ISO 8601 time") from None
    if moment.tzinfo is None:
        raise RowError(f"consented_at {value!r} has no time zone (add Z or +03:00)")
    if moment > now:
        raise RowError(f"consented_at {value!r} is in the future")
    return moment


def _field(name: str, raw: str, settings: Settings, topics: Collection[str]) -> Any:
    value = raw.strip()
    if name == "chat_id":
        if not value.lstrip("-").isdigit() or int(value) <= 0:
            raise RowError(f"chat_id {value!r} is not a private chat id (a positive number)")
        return int(value)
    if name == "language":
        if value not in settings.campaign.languages:
            allowed = ", ".join(settings.campaign.languages)
            raise RowError(f"language {value!r} is not one of {allowed}")
        return value
    if name == "topics":
        unknown = [t for t in value.split() if t not in topics]
        if unknown:
            listed = ", ".join(repr(t) for t in unknown)
            plural = "s" if len(unknown) > 1 else ""
            raise RowError(f"unknown topic{plural} {listed}; known: {', '.join(sorted(topics))}")
        return " ".join(value.split())
    if name == "reminder":
        if value not in FREQUENCIES:
            raise RowError(f"reminder {value!r} is not one of {', '.join(FREQUENCIES)}")
        return value
    if name == "reminder_time":
        if not value:
            return settings.reminders.default_time
        try:
            return time.fromisoformat(value).strftime("%H:%M")
        except ValueError:
            raise RowError(f"reminder_time {value!r} is not a time HH:MM") from None
    if name == "time_zone":
        if not value:
            return settings.campaign.time_zone
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise RowError(f"time_zone {value!r} is not an IANA zone like Asia/Baghdad") from None
        return value
    return _weekday(value)


def _rows(handle: TextIO) -> Iterator[tuple[int, dict[Any, Any]]]:
    reader = csv.DictReader(handle)
    header = reader.fieldnames or []
    missing = [c for c in REQUIRED if c not in header]
    unknown = [c for c in header if c not in REQUIRED + OPTIONAL]
    if missing or unknown:
        parts = [f"missing column(s) {', '.join(missing)}"] if missing else []
        parts += [f"unknown column(s) {', '.join(unknown)}"] if unknown else []
        raise RowError(f"header: {'; '.join(parts)}; expected {', '.join(REQUIRED)}")
    for row in reader:
        yield reader.line_num, row


def _convert(
    row: dict[Any, Any], settings: Settings, topics: Collection[str], now: datetime
) -> tuple[dict[str, Any], list[str]]:
    """The row's values for the store, and every problem found in it (all of them, not the
    first: whoever fixes the file should not have to run the import once per mistake)."""
    if None in row:
        return {}, ["more fields than the header has columns"]
    if any(value is None for value in row.values()):
        return {}, ["fewer fields than the header has columns"]
    values: dict[str, Any] = {}
    problems: list[str] = []
    for name in (*REQUIRED[:-1], *OPTIONAL):
        try:
            values[name] = _field(name, row.get(name, ""), settings, topics)
        except RowError as exc:
            problems.append(str(exc))
    try:
        values["consented_at"] = _consent(row["consented_at"], now)
    except RowError as exc:
        problems.append(str(exc))
    if problems:
        return values, problems
    prefs = ReminderPrefs(
        values["reminder"],
        values["reminder_time"],
        values["reminder_weekday"],
        values["time_zone"],
    )
    values["next_reminder_at"] = next_reminder_at(prefs, now, settings)
    values["last_reminded_on"] = None
    values["inactive_reason"] = None
    return values, []


def check_file(
    path: Path, settings: Settings, topics: Collection[str], now: datetime
) -> list[Problem]:
    """Check every row; return the problems (an empty list means the file imports cleanly)."""
    problems: list[Problem] = []
    seen: dict[int, int] = {}
    with path.open(newline="", encoding="utf-8-sig") as handle:
        try:
            for line, row in _rows(handle):
                values, found = _convert(row, settings, topics, now)
                problems.extend(Problem(line, message) for message in found)
                chat = values.get("chat_id")
                if chat is None:
                    continue
                first = seen.setdefault(chat, line)
                if first != line:
                    problems.append(Problem(line, f"chat_id {chat} is also on line {first}"))
        except RowError as exc:
            problems.append(Problem(1, str(exc)))
        except (csv.Error, UnicodeDecodeError) as exc:
            problems.append(Problem(0, f"not a readable CSV file: {exc}"))
    return problems


def read_file(
    path: Path, settings: Settings, topics: Collection[str], now: datetime
) -> Iterator[dict[str, Any]]:
    """Yield the rows of a file that ``check_file`` passed, ready for the store."""
    with path.open(newline="", encoding="utf-8-sig") as handle:
        for line, row in _rows(handle):
            values, problems = _convert(row, settings, topics, now)
            if problems:  # check_file passed it: the file changed in between
                raise RowError(f"line {line}: {'; '.join(problems)}")
            yield values


def write_csv(rows: Iterable[tuple[Any, ...]], out: TextIO) -> int:
    """Write exported subscribers (the import's columns); return how many."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(EXPORT_COLUMNS)
    count = 0
    for row in rows:
        record = dict(zip(EXPORT_COLUMNS, row, strict=True))
        consented = record["consented_at"]
        record["consented_at"] = consented.isoformat() if consented else ""
        writer.writerow(record[c] for c in EXPORT_COLUMNS)
        count += 1
    return count
