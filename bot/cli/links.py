"""The links command: print every sign-up link and write a QR code (PNG and SVG) for each."""

from __future__ import annotations

from pathlib import Path

import click

from bot.cli.common import config_option, fail, json_option, load, print_json
from bot.config import env
from bot.library import load_library
from bot.links import signup_url, write_qr_codes
from bot.telegram.identity import bot_username

DEFAULT_OUT = "signup-qr"


@click.command("links")
@config_option
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_OUT,
    show_default=True,
    help="Folder for the QR codes, <code>.png and <code>.svg per link; created if missing.",
)
@click.option("--no-qr", is_flag=True, help="Only print the links; write no QR codes.")
@json_option
def links(config_path: str | None, out: Path, no_qr: bool, as_json: bool) -> None:
    """Print every sign-up link (signup_links in the config) and write its QR code.

    The links name the bot: its username comes from Telegram's getMe when TELEGRAM_BOT_TOKEN
    is set, otherwise from TELEGRAM_BOT_USERNAME.
    """
    loaded = load(config_path)
    settings = loaded.settings
    if not settings.signup_links:
        click.echo(
            f"No sign-up links in {loaded.path}: add them under signup_links "
            "(code, language, topics, where); see README, Sign-up links."
        )
        return
    name = bot_username(
        env("TELEGRAM_BOT_TOKEN"), env("TELEGRAM_API_BASE_URL"), env("TELEGRAM_BOT_USERNAME")
    )
    if name.warning:
        click.echo(f"Warning: {name.warning}", err=True)
    library, _ = load_library(loaded.library_dir)
    known = library.topics
    for link in settings.signup_links:
        for topic in link.topics:
            if topic not in known:
                click.echo(
                    f"Warning: link {link.code}: topic {topic!r} is in no library item; "
                    "it preselects nothing",
                    err=True,
                )
    urls = {link.code: signup_url(name.username, link.code) for link in settings.signup_links}
    files = {}
    if not no_qr:
        try:
            files = write_qr_codes(out, urls)
        except OSError as exc:
            fail(f"cannot write the QR codes to {out}: {exc.strerror or exc}")
    if as_json:
        print_json(
            [
                {
                    "code": link.code,
                    "url": urls[link.code],
                    "language": link.language,
                    "topics": link.topics,
                    "where": link.where,
                    "png": str(files[link.code].png) if files else None,
                    "svg": str(files[link.code].svg) if files else None,
                }
                for link in settings.signup_links
            ]
        )
        return
    for link in settings.signup_links:
        preset = ", ".join(filter(None, [link.language or "", *link.topics])) or "no preset"
        where = f" · {link.where}" if link.where else ""
        click.echo(f"{link.code} ({preset}){where}\n  {urls[link.code]}")
    if files:
        codes = "1 QR code" if len(files) == 1 else f"{len(files)} QR codes"
        click.echo(f"Wrote {codes} (PNG and SVG) to {out}/")
