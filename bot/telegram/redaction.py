"""Keep the bot token out of log output, however late a record's arguments are formatted."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

REDACTED = "[REDACTED]"
# Loggers that see request URLs (``.../bot<token>/method``) or PTB's token errors.
NOISY_LOGGERS = ("telegram", "httpx", "httpcore", "aiohttp", "apscheduler")
# httpx logs every request URL at INFO; httpcore logs more at DEBUG.
QUIETED_LOGGERS = ("httpx", "httpcore")

Target = logging.Logger | logging.Handler


class TokenRedactingFilter(logging.Filter):
    """Replace the token, and the ``bot<token>`` URL part, with ``[REDACTED]`` in a record."""

    def __init__(self, secret: str) -> None:
        super().__init__()
        if not secret:
            raise ValueError("nothing to redact: the secret is empty")
        self.secret = secret
        forms = {f"bot{secret}", secret, quote(secret, safe=""), quote(secret)}
        longest_first = sorted(forms, key=len, reverse=True)
        self._pattern = re.compile("|".join(re.escape(form) for form in longest_first))
        self.targets: list[Target] = []
        self.previous_factory: Callable[..., logging.LogRecord] | None = None

    def make_record(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        """A LogRecord factory: every record is redacted as it is made, whatever handles it."""
        assert self.previous_factory is not None
        record = self.previous_factory(*args, **kwargs)
        self.filter(record)
        return record

    def redact(self, text: str) -> str:
        """Return ``text`` without the secret."""
        return self._pattern.sub(REDACTED, text)

    def filter(self, record: logging.LogRecord) -> bool:
        """Format the message now, redact it, and freeze it so no later formatting leaks."""
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: still never show the arguments raw
            message = f"{record.msg} {record.args!r}"
        record.msg = self.redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


def install_token_redaction(token: str) -> TokenRedactingFilter:
    """Redact ``token`` from every log record, and quiet the loggers that print request URLs.

    Records are redacted when they are made (a LogRecord factory), so handlers and loggers
    added later are covered too; the filter also sits on the root handlers and the
    Telegram-related loggers. Call it before the ``Bot`` is built: PTB logs its token-bearing
    base URL at DEBUG when it is created.
    """
    for name in QUIETED_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    for existing in logging.getLogger().filters:
        if isinstance(existing, TokenRedactingFilter) and existing.secret == token:
            return existing
    token_filter = TokenRedactingFilter(token)
    root = logging.getLogger()
    targets: list[Target] = [root, *root.handlers]
    for logger in _noisy_loggers():
        targets.extend((logger, *logger.handlers))
    for target in targets:
        if token_filter not in target.filters:
            target.addFilter(token_filter)
            token_filter.targets.append(target)
    token_filter.previous_factory = logging.getLogRecordFactory()
    logging.setLogRecordFactory(token_filter.make_record)
    return token_filter


def remove_token_redaction(token_filter: TokenRedactingFilter) -> None:
    """Undo ``install_token_redaction`` (for tests)."""
    for target in token_filter.targets:
        target.removeFilter(token_filter)
    token_filter.targets.clear()
    if token_filter.previous_factory is not None:
        if logging.getLogRecordFactory() == token_filter.make_record:
            logging.setLogRecordFactory(token_filter.previous_factory)
        token_filter.previous_factory = None


def _noisy_loggers() -> list[logging.Logger]:
    """Return the noisy loggers and their children that exist already."""
    loggers = [logging.getLogger(name) for name in NOISY_LOGGERS]
    prefixes = tuple(f"{name}." for name in NOISY_LOGGERS)
    for name, logger in list(logging.Logger.manager.loggerDict.items()):
        if name.startswith(prefixes) and isinstance(logger, logging.Logger):
            loggers.append(logger)
    return loggers
