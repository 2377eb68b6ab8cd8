"""Options and error handling shared by every command."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

import click

from bot.config import SETTINGS, ConfigError, LoadedConfig, load_config

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
