"""Typed models of message library items: findings, demands, actions, updates and targets."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    HttpUrl,
    PrivateAttr,
    model_validator,
)

from bot.config import LANGUAGES

Kind = Literal["finding", "demand", "action", "update"]
KINDS: tuple[Kind, ...] = ("finding", "demand", "action", "update")
Confidence = Literal["verified-primary", "verified-secondary", "corrected"]
_DATE = re.compile(r"^\d{4}-\d{2}(-\d{2})?$")
_MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def _lang_keys(value: dict[str, str]) -> dict[str, str]:
    for lang, text in value.items():
        if lang not in LANGUAGES:
            raise ValueError(f"unknown language {lang!r}; expected one of {', '.join(LANGUAGES)}")
        if not text or not text.strip():
            raise ValueError(f"text for {lang!r} is empty")
    return value


def _source_date(value: str) -> str:
    if not _DATE.match(value):
        raise ValueError(f"expected a date YYYY-MM-DD or YYYY-MM, got {value!r}")
    year, month, *day = (int(part) for part in value.split("-"))
    date(year, month, day[0] if day else 1)
    return value


PerLanguage = Annotated[dict[str, str], AfterValidator(_lang_keys)]
Slug = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]*$")]
Hashtag = Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_]*$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Source(_Strict):
    """Where a claim comes from: publisher, title, URL and date.

    ``via`` names the site carrying a copy when the publisher's own page could not be
    confirmed; ``section`` locates the claim in a long document (a report's chapter or page).
    """

    publisher: str = Field(min_length=1)
    title: str = Field(min_length=1)
    url: HttpUrl
    date: Annotated[str, AfterValidator(_source_date)]
    via: str | None = Field(default=None, min_length=1)
    section: str | None = Field(default=None, min_length=1)

    def display_date(self, lang: str) -> str:
        """Return the date as shown in a post: ``11 Jul 2017`` in English, ISO otherwise."""
        parts = self.date.split("-")
        if lang != "en":
            return self.date
        month = _MONTHS[int(parts[1]) - 1]
        return f"{int(parts[2])} {month} {parts[0]}" if len(parts) == 3 else f"{month} {parts[0]}"

    @property
    def link(self) -> str:
        return str(self.url)

    @property
    def credit(self) -> str:
        """The publisher as a post names it: ``Reuters``, or ``Reuters via The Daily Star``."""
        return f"{self.publisher} via {self.via}" if self.via else self.publisher


class Target(_Strict):
    """Who must act: a name per language, platform handles where known, a fallback hashtag."""

    id: Slug
    name: PerLanguage
    handles: dict[Literal["x", "mastodon", "bluesky", "telegram"], str] = Field(
        default_factory=dict
    )
    hashtag: Hashtag

    def name_in(self, lang: str, fallback: str) -> str:
        return self.name.get(lang) or self.name[fallback]


class Item(_Strict):
    """One library entry, with its text per language.

    Which languages a person reviewed is not part of the item: it comes from the review
    records (``reviews.yaml``, see :mod:`bot.library.reviews`), bound to the text's hash, and
    the loader sets it with :meth:`set_reviewed`.
    """

    id: Slug
    kind: Kind
    topics: list[Slug] = Field(min_length=1)
    text: PerLanguage
    source: Source | None = None
    confidence: Confidence | None = None
    note: str = ""
    hashtags: list[Hashtag] = Field(default_factory=list)
    content_warning: PerLanguage | None = None
    targets: list[Slug] = Field(default_factory=list)
    link: HttpUrl | None = None
    ends: date | None = None
    _reviewed: frozenset[str] = PrivateAttr(default_factory=frozenset)

    @model_validator(mode="after")
    def _kind_rules(self) -> Item:
        if self.kind == "finding":
            if self.source is None:
                raise ValueError("a finding needs a source (publisher, title, url, date)")
            if self.confidence is None:
                raise ValueError(
                    "a finding needs a confidence: verified-primary, verified-secondary "
                    "or corrected"
                )
        if self.kind == "demand" and self.source is None:
            raise ValueError("a demand needs a source (publisher, title, url, date)")
        if self.kind == "demand" and not self.targets:
            raise ValueError("a demand needs targets: who must act")
        if self.source is None and any(re.search(r"\d", t) for t in self.text.values()):
            raise ValueError("text contains a number but the item has no source")
        return self

    @property
    def reviewed(self) -> list[str]:
        """The languages whose current text a person reviewed, in the item's language order."""
        return [lang for lang in self.text if lang in self._reviewed]

    def set_reviewed(self, languages: frozenset[str]) -> None:
        """Record which languages have a review matching their current text (loader only)."""
        self._reviewed = frozenset(lang for lang in languages if lang in self.text)

    def is_reviewed(self, lang: str) -> bool:
        return lang in self._reviewed

    def publishable(self, lang: str, unreviewed_allowed: bool) -> bool:
        """Whether the item may go out in ``lang``: it has the text, and a review record matches
        that text (or the campaign sets ``publish_unreviewed``)."""
        return lang in self.text and (self.is_reviewed(lang) or unreviewed_allowed)
