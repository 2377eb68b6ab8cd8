"""Database outages seen by one component: one line when one begins, one when it ends."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError

log = logging.getLogger("bot.outage")
_UNREACHABLE = (OperationalError, InterfaceError, DisconnectionError)


def is_database_outage(exc: BaseException) -> bool:
    """Whether ``exc`` (or what caused it) says the database cannot be reached right now."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, _UNREACHABLE):
            return True
        if isinstance(current, DBAPIError) and current.connection_invalidated:
            return True
        current = current.__cause__ or current.__context__
    return False


def describe(exc: BaseException) -> str:
    """The driver's first line about the failure, without SQL or parameters."""
    cause: BaseException = exc
    while not isinstance(cause, DBAPIError) and (cause.__cause__ or cause.__context__):
        cause = cause.__cause__ or cause.__context__  # type: ignore[assignment]
    if isinstance(cause, DBAPIError) and cause.orig is not None:
        cause = cause.orig
    lines = str(cause).strip().splitlines()
    text = lines[0].strip() if lines else type(cause).__name__
    return text[:200]


class OutageReporter:
    """Tells the log once that a component lost the database, and once that it is back.

    Each loop of the component reports its failures (``failed``) and its successful rounds
    (``succeeded``); while the outage lasts, nothing more is logged, however often they retry.
    """

    def __init__(
        self,
        component: str,
        *,
        logger: logging.Logger = log,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.component = component
        self.failures = 0  # failed attempts during the current (or last) outage
        self._log = logger
        self._monotonic = monotonic
        self._since: float | None = None

    @property
    def down(self) -> bool:
        """Whether an outage has begun and not ended."""
        return self._since is not None

    def failed(self, exc: BaseException) -> bool:
        """Note a failure; return whether it was the database (else the caller logs it)."""
        if not is_database_outage(exc):
            return False
        if self._since is None:
            self._since = self._monotonic()
            self.failures = 0
            self._log.warning(
                "%s: database unreachable: %s; retrying", self.component, describe(exc)
            )
        self.failures += 1
        return True

    def succeeded(self) -> None:
        """Note a round that reached the database; end an outage with its duration."""
        if self._since is None:
            return
        seconds = self._monotonic() - self._since
        self._since = None
        self._log.warning(
            "%s: database reachable again after %.1f s (%d failed attempts)",
            self.component,
            seconds,
            self.failures,
        )

    @contextmanager
    def guard(self, what: str, logger: logging.Logger = log) -> Iterator[None]:
        """Run one round of a loop: outages are reported once, other errors logged in full.

        The error is swallowed either way: the loop's next round tries again.
        """
        try:
            yield
        except Exception as exc:
            if not self.failed(exc):
                logger.exception("%s", what)
        else:
            self.succeeded()
