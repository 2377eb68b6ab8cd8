"""Options and error handling shared by every command."""

from __future__ import annotations

import functools
import json
import re
import sys
import traceback
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

import click
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError

from bot.config import SETTINGS, ConfigError, LoadedConfig, env, load_config, secret_values

F = TypeVar("F", bound=Callable[..., Any])

EXIT_CONTENT = 1
EXIT_USAGE = 2


def config_option(func: F) -> F:
    """Add ``--config PATH`` to a command."""
    return click.option(
        "--config",
        "config_path",
        metavar="PATH",
        default=None,
        help=f"Campaign YAML (default: $CAMPAIGN_CONFIG or {SETTINGS['CAMPAIGN_CONFIG'][0]}).",
    )(func)


def json_option(func: F) -> F:
    """Add ``--json`` to a command."""
    return click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")(
        func
    )


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    """Print an error to stderr and exit with ``code``."""
    click.echo(f"Error: {message}", err=True)
    sys.exit(code)


def load(config_path: str | None) -> LoadedConfig:
    """Load the configuration or exit 2 with the reason."""
    try:
        return load_config(config_path)
    except ConfigError as exc:
        fail(str(exc))


def print_json(data: Any) -> None:
    """Print JSON the same way everywhere."""
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def handles_config_errors(func: F) -> F:
    """Turn a ConfigError raised inside a command into exit code 2."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ConfigError as exc:
            fail(str(exc))

    return wrapper  # type: ignore[return-value]


def _redacted_url(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)


def _which_database() -> str:
    url = env("DATABASE_URL")
    if url:
        return f"DATABASE_URL={_redacted_url(url)}"
    return f"the SQLite database in DATA_DIR={env('DATA_DIR')}"


def _without_secrets(text: str) -> str:
    url = env("DATABASE_URL")
    secrets = secret_values()
    try:
        password = make_url(url).password if url else None
    except (ArgumentError, ValueError):
        password = None
    if password and len(str(password)) >= 4:
        secrets.append(str(password))
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


def _from_sqlalchemy(exc: BaseException) -> bool:
    frames = traceback.extract_tb(exc.__traceback__)
    return any("sqlalchemy" in frame.filename for frame in frames)


def database_problem(exc: BaseException) -> str | None:
    """Return a one-line explanation when ``exc`` means the database settings are wrong."""
    which = _which_database()
    expected = "expected e.g. postgresql://user:password@host:5432/name or sqlite:////path/file.db"
    if isinstance(exc, OperationalError):
        lines = (line.strip() for line in str(exc.orig).splitlines())
        reason = _without_secrets("; ".join(line for line in lines if line))
        fix = (
            "fix DATABASE_URL, or unset it to use SQLite in DATA_DIR"
            if env("DATABASE_URL")
            else "set DATA_DIR to a writable folder, or DATABASE_URL"
        )
        return f"cannot open {which}: {reason}; {fix}"
    if isinstance(exc, NoSuchModuleError):
        return f"{which} names a kind of database SQLAlchemy does not know; {expected}"
    if isinstance(exc, ArgumentError):
        return f"{which} is not a database URL; {expected}"
    if isinstance(exc, ModuleNotFoundError) and _from_sqlalchemy(exc):
        return (
            f"{which} needs the database driver {exc.name!r}, which is not installed; "
            "install it, or use a postgresql:// or sqlite:/// URL"
        )
    return None


class CampaignGroup(click.Group):
    """A command group that turns configuration and database problems into exit code 2."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ConfigError as exc:
            fail(str(exc))
        except (OperationalError, ArgumentError, NoSuchModuleError, ModuleNotFoundError) as exc:
            message = database_problem(exc)
            if message is None:
                raise
            fail(message)
