"""The staff list as the config file says now, re-read when the file changes."""

from __future__ import annotations

import logging
from pathlib import Path

from bot.config import ConfigError, load_config

log = logging.getLogger("bot.staff")


class StaffList:
    """The ``staff:`` ids of a config file, re-read whenever its modification time changes.

    Until the file changes, the list given at start is used as it is. A config that no longer
    loads keeps the last good list and is logged once per change of the file.
    """

    def __init__(self, path: Path, staff: list[int]) -> None:
        self._path = path
        self._staff = staff
        self._seen = self._stamp()

    def _stamp(self) -> tuple[int, int] | None:
        try:
            stat = self._path.stat()
        except OSError:
            return None
        return (stat.st_mtime_ns, stat.st_size)

    def current(self) -> list[int]:
        """The staff ids now (a cheap stat() per call; the file is parsed only after a change)."""
        stamp = self._stamp()
        if stamp is None or stamp == self._seen:
            return self._staff
        self._seen = stamp
        try:
            self._staff = list(load_config(self._path).settings.staff)
        except ConfigError as exc:
            first = str(exc).splitlines()[0]
            log.warning("staff list kept as it was: the config does not load: %s", first)
        else:
            log.info("staff list re-read from %s: %d id(s)", self._path.name, len(self._staff))
        return self._staff

    def __contains__(self, staff_id: object) -> bool:
        return staff_id in self.current()
