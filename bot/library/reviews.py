"""Reviews bound to the text: who read which text of which item, kept in reviews.yaml."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from bot.library.models import Item

if TYPE_CHECKING:
    from bot.library.loader import Library, Problem

REVIEWS_FILE = "reviews.yaml"
MIGRATED_BY = "migrated from reviewed flag"
_HEADER = """\
# Translation and text reviews, written by `campaign-bot library review ITEM --lang L --by NAME`.
# Each record says that a person read exactly this text: `hash` is the first 16 hex digits of
# the SHA-256 of the item's text in that language together with its content warning in that
# language (see bot/library/reviews.py, text_hash). When either changes, the record no longer
# matches and the language is unreviewed again until someone reviews the new text.
# Older records are kept as history. Edit by hand only to remove a review.
"""


class Review(BaseModel):
    """One record: ``by`` reviewed ``item`` in ``lang`` when its text hashed to ``hash``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    item: str = Field(min_length=1)
    lang: str = Field(min_length=1)
    hash: str = Field(pattern=r"^[0-9a-f]{16}$")
    by: str = Field(min_length=1)
    at: AwareDatetime


def text_hash(item: Item, lang: str) -> str:
    """Hash what a reviewer reads: the text in ``lang`` and its content warning in ``lang``.

    Once the item is corrected or retracted the text is the status's (the corrected text or
    the retraction's reason): the new wording needs its own review before it goes out.

    SHA-256 over compact JSON ``{"content_warning": ..., "text": ...}`` (sorted keys, UTF-8,
    the strings exactly as in the YAML), first 16 hex digits. The source, hashtags and targets
    are not part of it: they are the same in every language and checked by ``check``.
    """
    return hash_text(item.review_text(lang), (item.content_warning or {}).get(lang))


def hash_text(text: str, content_warning: str | None) -> str:
    """The hash of one language's text and content warning (see :func:`text_hash`)."""
    payload = json.dumps(
        {"content_warning": content_warning, "text": text},
        ensure_ascii=False,
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:16]


def read_reviews(root: Path) -> tuple[list[Review], list[Problem]]:
    """Read ``reviews.yaml`` (absent means no reviews); return the records and the problems."""
    from bot.library.loader import Problem, describe_error

    path = root / REVIEWS_FILE
    if not path.exists():
        return [], []
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        return [], [Problem(REVIEWS_FILE, f"malformed YAML: {exc}")]
    if data is None:
        return [], []
    if not isinstance(data, dict) or set(data) != {"reviews"}:
        return [], [Problem(REVIEWS_FILE, "expected a mapping with only 'reviews:'")]
    reviews: list[Review] = []
    problems: list[Problem] = []
    for index, raw in enumerate(data["reviews"] or []):
        try:
            reviews.append(Review.model_validate(raw))
        except ValidationError as exc:
            label = str(raw.get("item")) if isinstance(raw, dict) else f"#{index + 1}"
            problems.extend(
                Problem(REVIEWS_FILE, f"review #{index + 1}: {m}", item=label)
                for m in describe_error(exc)
            )
    return reviews, problems


def apply_reviews(library: Library, reviews: Iterable[Review]) -> list[Problem]:
    """Mark each item reviewed in the languages whose current text a record matches.

    Returns warnings for records of items or languages the library no longer has: they can
    never match, so they are harmless, but worth cleaning up.
    """
    from bot.library.loader import Problem

    warnings: list[Problem] = []
    matched: dict[str, set[str]] = {}
    for review in reviews:
        item = library.items.get(review.item)
        if item is None or review.lang not in item.text:
            what = "an item" if item is None else "a language"
            warnings.append(
                Problem(
                    REVIEWS_FILE,
                    f"review by {review.by} is of {what} the library does not have; "
                    "delete the record",
                    item=review.item,
                    lang=review.lang,
                )
            )
            continue
        if review.hash == text_hash(item, review.lang):
            matched.setdefault(item.id, set()).add(review.lang)
    for item in library.items.values():
        item.set_reviewed(frozenset(matched.get(item.id, ())))
    return warnings


@dataclass(frozen=True)
class Pending:
    """A language of an item waiting for review; ``stale`` is the last review, if the text
    changed since."""

    item: Item
    lang: str
    stale: Review | None


def pending_reviews(library: Library, languages: Iterable[str]) -> list[Pending]:
    """Every item and language (among ``languages``) with text but no matching review."""
    last: dict[tuple[str, str], Review] = {}
    for review in library.reviews:
        last[(review.item, review.lang)] = review
    wanted = list(languages)
    return [
        Pending(item, lang, last.get((item.id, lang)))
        for item in library.items.values()
        for lang in wanted
        if lang in item.text and not item.is_reviewed(lang)
    ]


def stale_reviews(library: Library) -> list[Pending]:
    """Languages that were reviewed once but whose text changed since (``check`` warns)."""
    languages = {review.lang for review in library.reviews}
    return [p for p in pending_reviews(library, sorted(languages)) if p.stale is not None]


def record_review(root: Path, existing: list[Review], new: Review) -> None:
    """Write ``reviews.yaml`` with the existing records and ``new`` appended."""
    write_reviews(root, [*existing, new])


def write_reviews(root: Path, reviews: Iterable[Review]) -> None:
    """Write ``reviews.yaml`` (atomically, through a temporary file) with these records."""
    records = [_plain(review) for review in reviews]
    body = yaml.safe_dump({"reviews": records}, allow_unicode=True, sort_keys=False, width=99)
    path = root / REVIEWS_FILE
    temporary = path.with_suffix(".yaml.tmp")
    temporary.write_text(_HEADER + body, encoding="utf-8")
    temporary.replace(path)


def _plain(review: Review) -> dict[str, Any]:
    at: datetime = review.at
    return {
        "item": review.item,
        "lang": review.lang,
        "hash": review.hash,
        "by": review.by,
        "at": at.isoformat(timespec="seconds"),
    }
