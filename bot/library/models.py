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


class ItemStatus(_Strict):
    """``status:`` on an item: corrected (with new text and a note) or retracted (a reason)."""

    state: Literal["corrected", "retracted"]
    date: date
    # What changed and why, for staff (``corrected``); not published.
    note: str = ""
    # The corrected text per language (``corrected``): the item publishes it from now on.
    text: PerLanguage | None = None
    # Where the corrected text comes from, when not the item's own source (``corrected``).
    source: Source | None = None
    # Why the claim is withdrawn, per language (``retracted``): published in the retraction.
    reason: PerLanguage | None = None

    @model_validator(mode="after")
    def _state_rules(self) -> ItemStatus:
        if self.state == "corrected":
            if not self.text:
                raise ValueError("a corrected item needs text: the corrected text per language")
            if not self.note.strip():
                raise ValueError("a corrected item needs a note: what changed and why")
            if self.reason is not None:
                raise ValueError("reason is for retracted items; a correction has a note")
        else:
            if not self.reason:
                raise ValueError("a retracted item needs a reason per language")
            if self.text is not None or self.source is not None:
                raise ValueError(
                    "a retracted item has no corrected text or source; mark it corrected instead"
                )
        return self

    @property
    def wording(self) -> dict[str, str]:
        """What the correction publishes: the corrected text, or the retraction reason."""
        return dict(self.text or self.reason or {})

    def summary(self) -> str:
        """One line for staff: the state, its date, and the note or the English reason."""
        detail = self.note
        if self.reason:
            detail = self.reason.get("en") or next(iter(self.reason.values()))
        return f"{self.state} on {self.date.isoformat()}: {detail}"


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
    status: ItemStatus | None = None
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
        if self.status is not None:
            _status_languages(self.status, self.text)
            if self.current_source is None and any(
                re.search(r"\d", t) for t in (self.status.text or {}).values()
            ):
                raise ValueError("status.text contains a number but the item has no source")
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

    @property
    def withdrawn(self) -> bool:
        """Whether the item was corrected or retracted: nothing offers it any more."""
        return self.status is not None

    @property
    def retracted(self) -> bool:
        return self.status is not None and self.status.state == "retracted"

    @property
    def current_source(self) -> Source | None:
        """The source a post cites: the correction's own source, else the item's."""
        if self.status is not None and self.status.source is not None:
            return self.status.source
        return self.source

    def review_text(self, lang: str) -> str:
        """What a reviewer of ``lang`` must read: the status's text once corrected or
        retracted (the corrected text or the retraction's reason), else the text."""
        if self.status is not None:
            return self.status.wording[lang]
        return self.text[lang]

    def current_text(self, lang: str) -> str:
        """The text the item publishes in ``lang``: the corrected text once corrected."""
        if self.status is not None and self.status.text:
            return self.status.text[lang]
        return self.text[lang]

    def publishable(self, lang: str, unreviewed_allowed: bool) -> bool:
        """Whether the item may go out in ``lang``: it has the text, a review record matches
        that text (or the campaign sets ``publish_unreviewed``), and it was not corrected or
        retracted (staff may still post a corrected item by hand)."""
        return (
            lang in self.text
            and (self.is_reviewed(lang) or unreviewed_allowed)
            and not self.withdrawn
        )


def _status_languages(status: ItemStatus, text: dict[str, str]) -> None:
    """Require the status's text or reason in exactly the languages the item has."""
    what = "status.text (the corrected text)" if status.text else "status.reason"
    missing = [lang for lang in text if lang not in status.wording]
    extra = [lang for lang in status.wording if lang not in text]
    if missing:
        raise ValueError(
            f"{what} is missing {', '.join(missing)}: the item has text in {', '.join(text)}"
        )
    if extra:
        raise ValueError(f"{what} has {', '.join(extra)}, which the item has no text in")
