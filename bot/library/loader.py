"""Load the message library from YAML files and report every problem with its file and item."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from bot.library.models import Item, Target
from bot.library.reviews import REVIEWS_FILE, Review, apply_reviews, read_reviews

# Files in the library folder that hold no items or targets; each has its own reader.
PUBLISHERS_FILE = "publishers.yaml"
SPECIAL_FILES = frozenset({PUBLISHERS_FILE, REVIEWS_FILE})


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the content, located as precisely as we can."""

    file: str
    message: str
    item: str | None = None
    channel: str | None = None
    lang: str | None = None

    def __str__(self) -> str:
        where = ", ".join(
            f"{k} {v}"
            for k, v in (("item", self.item), ("channel", self.channel), ("lang", self.lang))
            if v
        )
        return f"{self.file}: {where + ': ' if where else ''}{self.message}"


@dataclass
class Library:
    """The validated items and targets, where each item came from, and the review records.

    ``warnings`` are things worth saying that do not stop publishing; ``legacy_reviewed`` holds
    the deprecated ``reviewed:`` flags found in item files (no longer read as reviews).
    """

    root: Path
    items: dict[str, Item] = field(default_factory=dict)
    targets: dict[str, Target] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)
    reviews: list[Review] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    legacy_reviewed: dict[str, list[str]] = field(default_factory=dict)
    # Counts reloads (bot.library.reload), so caches of rendered text know when to drop.
    revision: int = 0

    @property
    def topics(self) -> frozenset[str]:
        """Every topic some item has."""
        return frozenset(topic for item in self.items.values() for topic in item.topics)

    def get(self, item_id: str) -> Item:
        """Return an item, or raise KeyError naming the closest ids."""
        try:
            return self.items[item_id]
        except KeyError:
            raise KeyError(unknown_message("item", item_id, self.items)) from None

    def retraction(self, item_id: str) -> str | None:
        """Why an item must never go out again (it was retracted), or None."""
        item = self.items.get(item_id)
        if item is None or item.status is None or not item.retracted:
            return None
        return f"{item_id} was {item.status.summary()}"

    def select(
        self, kinds: Iterable[str] = (), topics: Iterable[str] = (), ids: Iterable[str] = ()
    ) -> list[Item]:
        """Return items matching all given filters, in library order."""
        kinds, topics, ids = set(kinds), set(topics), set(ids)
        return [
            item
            for item in self.items.values()
            if (not kinds or item.kind in kinds)
            and (not topics or topics & set(item.topics))
            and (not ids or item.id in ids)
        ]


# Up to this many known names are listed in full; longer lists only get suggestions.
_LISTED = 12


def unknown_message(what: str, value: str, known: Iterable[str]) -> str:
    """Return ``unknown X 'v'`` with the closest known names, for errors people can act on.

    A short list is given in full (in its own order, or sorted when unordered); a suggestion
    is added only when it is close, as ``fr`` is not a likely typo of ``ar``.
    """
    choices = sorted(known) if isinstance(known, set | frozenset) else list(known)
    if not choices:
        return f"unknown {what} {value!r}; there are none"
    short = len(choices) <= _LISTED
    close = difflib.get_close_matches(value, choices, n=3, cutoff=0.75 if short else 0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    if not short:
        return f"unknown {what} {value!r}{hint}"
    listing = (
        f" (known: {', '.join(choices)})" if close else f"; expected one of {', '.join(choices)}"
    )
    return f"unknown {what} {value!r}{hint}{listing}"


def describe_error(error: ValidationError) -> list[str]:
    """Turn a pydantic error into one readable line per problem."""
    out = []
    for problem in error.errors():
        where = ".".join(str(p) for p in problem["loc"])
        message = problem["msg"].removeprefix("Value error, ")
        if problem["type"] == "extra_forbidden":
            message = "unknown key"
        elif problem["type"] == "missing":
            message = "required key is missing"
        out.append(f"{where}: {message}" if where else message)
    return out


def _read_yaml(path: Path, rel: str, problems: list[Problem]) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        reason = getattr(exc, "problem", None) or str(exc)
        problems.append(Problem(rel, f"malformed YAML{line}: {reason}"))
        return None


def load_library(root: Path) -> tuple[Library, list[Problem]]:
    """Load every ``*.yaml`` in ``root``; return the library and the problems found."""
    library = Library(root=root)
    problems: list[Problem] = []
    if not root.is_dir():
        return library, [Problem(str(root), "library folder not found")]
    for path in sorted(root.glob("*.yaml")):
        rel = path.name
        if rel in SPECIAL_FILES:
            continue
        data = _read_yaml(path, rel, problems)
        if data is None:
            continue
        if not isinstance(data, dict) or not ({"items", "targets"} & data.keys()):
            problems.append(Problem(rel, "expected a mapping with 'items:' or 'targets:'"))
            continue
        for key in data:
            if key not in ("items", "targets"):
                problems.append(Problem(rel, f"unknown top-level key {key!r}"))
        for index, raw in enumerate(data.get("targets") or []):
            _add_target(library, raw, rel, index, problems)
        for index, raw in enumerate(data.get("items") or []):
            _add_item(library, raw, rel, index, problems)
    for item in library.items.values():
        for target in item.targets:
            if target not in library.targets:
                problems.append(
                    Problem(
                        library.files[item.id],
                        "targets: " + unknown_message("target", target, library.targets),
                        item=item.id,
                    )
                )
    library.reviews, review_problems = read_reviews(root)
    problems.extend(review_problems)
    library.warnings.extend(apply_reviews(library, library.reviews))
    return library, problems


def _label(raw: Any, index: int) -> str:
    return str(raw.get("id")) if isinstance(raw, dict) and raw.get("id") else f"#{index + 1}"


def _add_item(library: Library, raw: Any, rel: str, index: int, problems: list[Problem]) -> None:
    label = _label(raw, index)
    if isinstance(raw, dict) and "reviewed" in raw:
        raw = dict(raw)
        flags = raw.pop("reviewed")
        if isinstance(flags, list):
            library.legacy_reviewed[label] = [str(lang) for lang in flags]
        library.warnings.append(
            Problem(
                rel,
                "'reviewed:' is deprecated and no longer read; reviews are records in "
                f"{REVIEWS_FILE} (campaign-bot library review --migrate, then delete the line)",
                item=label,
            )
        )
    try:
        item = Item.model_validate(raw)
    except ValidationError as exc:
        problems.extend(Problem(rel, message, item=label) for message in describe_error(exc))
        return
    if item.id in library.items:
        first = library.files[item.id]
        problems.append(Problem(rel, f"duplicate id (first defined in {first})", item=item.id))
        return
    library.items[item.id] = item
    library.files[item.id] = rel


def _add_target(library: Library, raw: Any, rel: str, index: int, problems: list[Problem]) -> None:
    label = _label(raw, index)
    try:
        target = Target.model_validate(raw)
    except ValidationError as exc:
        problems.extend(Problem(rel, f"target: {m}", item=label) for m in describe_error(exc))
        return
    if target.id in library.targets:
        problems.append(Problem(rel, "duplicate target id", item=target.id))
        return
    library.targets[target.id] = target
