"""``campaign-bot library review``: record a review of an item's text, list what waits, migrate."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import click

from bot.cli.common import EXIT_CONTENT, config_option, fail, json_option, load, print_json
from bot.config import LANGUAGES
from bot.library import Item, Library, Problem, load_library, unknown_message
from bot.library.reviews import (
    MIGRATED_BY,
    REVIEWS_FILE,
    Pending,
    Review,
    pending_reviews,
    record_review,
    text_hash,
    write_reviews,
)
from bot.render import strip_isolates

_FLAG_LINE = re.compile(r"(?m)^[ \t]+reviewed:[ \t]*\[[^\]\n]*\][ \t]*\n")


@click.command(name="review")
@click.argument("item_id", required=False)
@click.option("--lang", help="The language reviewed (en, ar, ckb); with --pending, only this one.")
@click.option("--by", "by", metavar="NAME", help="Who reviewed the text (recorded as given).")
@click.option("--pending", is_flag=True, help="List the texts waiting for review, beside English.")
@click.option(
    "--migrate", is_flag=True, help="Turn the old 'reviewed:' flags into review records."
)
@config_option
@json_option
def review(
    item_id: str | None,
    lang: str | None,
    by: str | None,
    pending: bool,
    migrate: bool,
    config_path: str | None,
    as_json: bool,
) -> None:
    """Record that NAME reviewed exactly the current text of ITEM_ID in --lang.

    The record (in messages/reviews.yaml) holds a hash of the text and its content warning in
    that language; when either changes, the language is unreviewed again. --pending lists
    what waits for review; --migrate converts the deprecated 'reviewed:' flags.
    """
    loaded = load(config_path)
    library, problems = load_library(loaded.library_dir)
    for problem in problems:
        click.echo(f"warning: {problem}", err=True)
    if lang is not None and lang not in LANGUAGES:
        fail(unknown_message("language", lang, LANGUAGES))
    if sum((pending, migrate, item_id is not None)) != 1:
        fail("give ITEM_ID (with --lang and --by), or --pending, or --migrate")
    if pending:
        languages = [lang] if lang else list(loaded.settings.campaign.languages)
        _show_pending(pending_reviews(library, languages), as_json)
    elif migrate:
        _refuse_to_overwrite(problems)
        _migrate(library, by or MIGRATED_BY)
    else:
        assert item_id is not None
        _refuse_to_overwrite(problems)
        _record(library, item_id, lang, by)


def _refuse_to_overwrite(problems: list[Problem]) -> None:
    """Exit 1 while reviews.yaml does not read cleanly: writing it would drop records."""
    if any(problem.file == REVIEWS_FILE for problem in problems):
        fail(
            f"{REVIEWS_FILE} has errors (listed above); fix them first, "
            "so that recording a review loses no record",
            EXIT_CONTENT,
        )


def _record(library: Library, item_id: str, lang: str | None, by: str | None) -> None:
    try:
        item = library.get(item_id)
    except KeyError as exc:
        fail(str(exc.args[0]))
    if lang is None or not by or not by.strip():
        fail("recording a review needs --lang and --by NAME")
    if lang not in item.text:
        fail(f"item {item.id} has no {lang} text (it has {', '.join(item.text)})")
    digest = text_hash(item, lang)
    for old in library.reviews:
        if (old.item, old.lang, old.hash, old.by) == (item.id, lang, digest, by.strip()):
            click.echo(f"{item.id} · {lang}: already recorded as reviewed by {old.by}")
            return
    new = Review(item=item.id, lang=lang, hash=digest, by=by.strip(), at=_now())
    record_review(library.root, library.reviews, new)
    click.echo(f"{item.id} · {lang}: reviewed by {new.by}, text {digest} ({REVIEWS_FILE})")
    click.echo(f"  {lang}: {_text(item, lang)}")


def _text(item: Item, lang: str) -> str:
    warning = (item.content_warning or {}).get(lang)
    text = strip_isolates(item.review_text(lang))
    return f"[CW: {warning}] {text}" if warning else text


def _show_pending(waiting: list[Pending], as_json: bool) -> None:
    if as_json:
        print_json([_pending_json(p) for p in waiting])
        return
    for entry in waiting:
        state = "never reviewed"
        if entry.stale is not None:
            when = entry.stale.at.date().isoformat()
            state = f"text changed since {entry.stale.by} reviewed it on {when}"
        click.echo(f"{entry.item.id} · {entry.lang} · {state}")
        click.echo(f"  {entry.lang}: {_text(entry.item, entry.lang)}")
        if entry.lang != "en" and "en" in entry.item.text:
            click.echo(f"  en: {_text(entry.item, 'en')}")
    click.echo(f"{len(waiting)} {'text waits' if len(waiting) == 1 else 'texts wait'} for review")


def _pending_json(entry: Pending) -> dict[str, Any]:
    item, stale = entry.item, entry.stale
    return {
        "item": item.id,
        "lang": entry.lang,
        "text": item.review_text(entry.lang),
        "content_warning": (item.content_warning or {}).get(entry.lang),
        "en": item.text.get("en"),
        "hash": text_hash(item, entry.lang),
        "last_review": None if stale is None else {"by": stale.by, "at": stale.at.isoformat()},
    }


def _migrate(library: Library, by: str) -> None:
    if not library.legacy_reviewed:
        click.echo("no 'reviewed:' flags to migrate")
        return
    reviews = list(library.reviews)
    added = 0
    for item_id, languages in library.legacy_reviewed.items():
        item = library.items.get(item_id)
        if item is None:
            click.echo(f"skipped {item_id}: the item does not load (see check)", err=True)
            continue
        for lang in languages:
            if lang not in item.text or item.is_reviewed(lang):
                continue
            new = Review(item=item_id, lang=lang, hash=text_hash(item, lang), by=by, at=_now())
            reviews.append(new)
            added += 1
    if added:
        write_reviews(library.root, reviews)
    files = sorted({library.files[i] for i in library.legacy_reviewed if i in library.files})
    removed = 0
    for name in files:
        path = library.root / name
        text, count = _FLAG_LINE.subn("", path.read_text(encoding="utf-8"))
        path.write_text(text, encoding="utf-8")
        removed += count
    click.echo(
        f"recorded {added} {'review' if added == 1 else 'reviews'} by {by!r} in {REVIEWS_FILE}; "
        f"removed {removed} 'reviewed:' {'line' if removed == 1 else 'lines'} from "
        f"{', '.join(files)}"
    )


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)
