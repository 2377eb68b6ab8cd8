"""Commands that read the content: check, preview, library list."""

from __future__ import annotations

import click

from bot.cli.common import (
    EXIT_CONTENT,
    config_option,
    fail,
    json_option,
    load,
    print_json,
)
from bot.config import CHANNEL_NAMES, LANGUAGES, Settings
from bot.library import KINDS, Library, load_library, unknown_message
from bot.plurals import counted
from bot.render import Renderer, RenderError, strip_isolates
from bot.render.check import check_campaign


@click.command()
@config_option
@json_option
def check(config_path: str | None, as_json: bool) -> None:
    """Validate config and library and render every item for every channel and language.

    Exit 0 when clean, 1 on content errors, 2 on configuration or usage errors.
    """
    loaded = load(config_path)
    report = check_campaign(loaded)
    if as_json:
        print_json(report.as_json())
    else:
        renders = sum(len(r) for r in report.renders.values())
        unreviewed = sum(1 for rs in report.renders.values() for r in rs if not r.reviewed)
        for problem in report.problems:
            click.echo(f"ERROR {problem}", err=True)
        for warning in report.warnings:
            click.echo(f"WARNING {warning}", err=True)
        for item in report.library.items.values():
            if item.status is not None:  # withdrawn: listed so nobody forgets to correct
                click.echo(f"{item.status.state.upper()} {item.id}: {item.status.summary()}")
        published = (
            "published: publish_unreviewed is true"
            if loaded.settings.publish_unreviewed
            else "not published unless publish_unreviewed is true"
        )
        click.echo(
            f"{counted(len(report.library.items), 'item')}, "
            f"{counted(len(report.library.targets), 'target')}, "
            f"{counted(renders, 'render')} ({unreviewed} unreviewed, {published}), "
            f"{counted(len(report.warnings), 'warning')} "
            f"({counted(report.second_hand, 'second-hand source')}), "
            f"{counted(len(report.problems), 'problem')}"
        )
    if not report.ok:
        raise SystemExit(EXIT_CONTENT)


def _library(config_path: str | None) -> tuple[Library, Renderer, Settings]:
    loaded = load(config_path)
    library, problems = load_library(loaded.library_dir)
    for problem in problems:
        click.echo(f"warning: {problem}", err=True)
    settings = loaded.settings
    return library, Renderer(library, settings), settings


@click.command()
@click.argument("item_id")
@click.option(
    "--channel",
    help="Only this channel (telegram, x, mastodon, bluesky, console) or account (x:kurdish).",
)
@click.option("--lang", help="Only this language (en, ar, ckb).")
@click.option("--raw", is_flag=True, help="Print exactly the post text and nothing else.")
@config_option
def preview(
    item_id: str, channel: str | None, lang: str | None, raw: bool, config_path: str | None
) -> None:
    """Show the rendered post(s) of ITEM_ID with length and limit."""
    library, renderer, settings = _library(config_path)
    channels, languages = settings.enabled_channels, settings.campaign.languages
    try:
        item = library.get(item_id)
    except KeyError as exc:
        fail(str(exc.args[0]))
    unknown = [target for target in item.targets if target not in library.targets]
    if unknown:
        message = unknown_message("target", unknown[0], library.targets)
        fail(f"item {item.id}: targets: {message}", EXIT_CONTENT)
    network, _, account = (channel or "").partition(":")
    if channel is not None and network not in CHANNEL_NAMES:
        fail(unknown_message("channel", channel, CHANNEL_NAMES))
    if account and (problem := settings.unknown_account(channel or "")) is not None:
        fail(problem)
    if lang is not None and lang not in LANGUAGES:
        fail(unknown_message("language", lang, LANGUAGES))
    chosen_channels = [channel] if channel else channels
    chosen_langs = [lang] if lang else [code for code in languages if code in item.text]
    if raw and len(chosen_channels) * len(chosen_langs) != 1:
        fail("--raw prints one post: add --channel and --lang")
    unreviewed = (
        "UNREVIEWED (published: publish_unreviewed is true)"
        if settings.publish_unreviewed
        else "UNREVIEWED (not published)"
    )
    failed = False
    for ch in chosen_channels:
        for code in chosen_langs:
            try:
                post = renderer.render(item, ch.partition(":")[0], code)  # x:kurdish renders as x
            except RenderError as exc:
                click.echo(f"── {ch} · {code}: ERROR {exc}", err=True)
                failed = True
                continue
            if raw:
                click.echo(post.text)
                continue
            state = "reviewed" if post.reviewed else unreviewed
            fits = "ok" if post.fits else f"OVER BY {post.length - post.limit}"
            click.echo(f"── {ch} · {code} · {post.length}/{post.limit} {fits} · {state}")
            if post.content_warning:
                click.echo(f"[CW: {post.content_warning}]")
            click.echo(post.text)
            click.echo()
    if failed:
        raise SystemExit(EXIT_CONTENT)


@click.group(name="library")
def library_group() -> None:
    """Browse the message library."""


@library_group.command(name="list")
@click.option("--kind", type=click.Choice(KINDS), help="Only items of this kind.")
@click.option("--topic", help="Only items with this topic.")
@config_option
@json_option
def library_list(
    kind: str | None, topic: str | None, config_path: str | None, as_json: bool
) -> None:
    """List library items with kind, topics and languages."""
    library, _, _ = _library(config_path)
    items = library.select(kinds=[kind] if kind else [], topics=[topic] if topic else [])
    if topic and not items:
        topics = library.topics
        if topic not in topics:
            fail(unknown_message("topic", topic, topics))
    if as_json:
        print_json(
            [
                {
                    "id": i.id,
                    "kind": i.kind,
                    "topics": list(i.topics),
                    "languages": list(i.text),
                    "reviewed": list(i.reviewed),
                    "source": i.source.link if i.source else None,
                }
                for i in items
            ]
        )
        return
    for i in items:
        langs = " ".join(c if i.is_reviewed(c) else f"{c}*" for c in i.text)
        summary = strip_isolates(i.text.get("en") or next(iter(i.text.values())))
        click.echo(f"{i.id:<34} {i.kind:<8} {','.join(i.topics):<22} {langs:<12} {summary[:60]}")
    click.echo(f"{counted(len(items), 'item')} (* = unreviewed translation)")
