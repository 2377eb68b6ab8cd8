"""This process among replicas: its heartbeat, the bot-wide duties it holds, and the takeover of
work left in flight by processes that stopped beating.

Every process registers a row in ``processes`` and renews its heartbeat every ``beat``
seconds. A row it marks ``sending`` names it as owner; once a process has been silent for
longer than the lease, any other process turns its ``sending`` rows into ``uncertain`` (staff
are told once) and removes it. A process that notices it was silent that long (SIGSTOP, a long
pause, a lost network) claims nothing until its next heartbeat has been written, and registers
again if it was removed. Duties that Telegram allows once per bot (long polling, the bot-wide
send rate) are leases in ``duties`` with a token that grows at every change of holder.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from bot.clock import Clock
from bot.delivery.notify import Notifier
from bot.store import Store
from bot.store.replicas import forget_others, reap, register, renew, take_duty, unregister

log = logging.getLogger(__name__)

POLLER = "poller"  # long polling of getUpdates
PACER = "pacer"  # the fan-out's bot-wide send rate
# Clocks of the hosts may differ this much: a process stops claiming this long before the
# others could see its lease run out.
SKEW = 1.0
# A duty released by a clean stop passes on this much later: a long poll the stopping process
# abandoned is still open on Telegram's side until its timeout (5 s) runs out.
LINGER = 6.0
# Rows of a process another replica removed but did not recover (it died in between) are
# looked for this often; rows of a process this one removes, at once.
RECOVER_EVERY = 30.0
TakeOver = Callable[[datetime | None], Awaitable[int]]


class Ownership(Protocol):
    """Who this process is to the rows it sends, and whether it may send now."""

    @property
    def identity(self) -> str | None: ...

    def may_send(self) -> bool: ...

    def holds(self, duty: str, for_seconds: float = 0.0) -> bool: ...

    def alive_since(self) -> datetime | None: ...

    def silent_since(self) -> datetime | None: ...

    def token(self, duty: str) -> int | None: ...


class Solo:
    """The only process there is (tests, one-off commands): owns nothing, holds every duty."""

    identity: str | None = None

    def may_send(self) -> bool:
        return True

    def holds(self, duty: str, for_seconds: float = 0.0) -> bool:
        return True

    def alive_since(self) -> datetime | None:
        return None  # no fence on claims

    def silent_since(self) -> datetime | None:
        return None  # every row in flight is a dead process's

    def token(self, duty: str) -> int | None:
        return None  # no fencing token to check


SOLO = Solo()


@dataclass(frozen=True)
class ReplicaOptions:
    """Timing; tests shorten it."""

    lease: float = 15.0  # seconds without a heartbeat before a process counts as dead
    # Seconds a duty stays with a silent holder: with a renewal every ``beat``, another
    # process takes over at most duty_lease + beat after the holder died (14 s).
    duty_lease: float = 12.0
    beat: float = 2.0  # seconds between heartbeats (and duty renewals, and takeover passes)


def new_identity() -> str:
    """A process id unique across hosts and restarts: host, pid and a random suffix."""
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{secrets.token_hex(3)}"


class Replica:
    """This process's heartbeat, its duties, and the periodic takeover of dead processes' work."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        notifier: Notifier,
        *,
        duties: Iterable[str] = (),
        options: ReplicaOptions | None = None,
        identity: str | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.clock = clock
        self.notifier = notifier
        self.duties = tuple(duties)
        self.options = options or ReplicaOptions()
        self._identity = identity or new_identity()
        self._monotonic = monotonic
        self.takeovers: list[TakeOver] = []  # run each pass with the dead processes' horizon
        self.held: dict[str, tuple[float, int]] = {}  # duty -> (renewed at, token)
        self._beat_at: float | None = None  # monotonic start of the last heartbeat written
        self._healthy_since = float("-inf")  # the first heartbeat after the last failure
        self._failing_since: float | None = None
        self._task: asyncio.Task[None] | None = None
        self._takeover: asyncio.Task[None] | None = None
        self._notices: set[asyncio.Task[None]] = set()
        self.alone = False  # the only process there can be (SQLite)
        self._recovered_at = float("-inf")  # monotonic time of the last recovery pass

    @property
    def identity(self) -> str:
        return self._identity

    @property
    def lease(self) -> timedelta:
        return timedelta(seconds=self.options.lease)

    # The Ownership protocol.

    # Alone (SQLite: the lock file makes this the only process there can be), nobody can take
    # its rows or its duties: it registers and takes its duties once, and neither beats nor
    # fences its claims; the next process to start forgets it and recovers its rows.

    def may_send(self) -> bool:
        """Whether this process's last heartbeat still holds its lease (with a margin)."""
        if self._beat_at is None:
            return False
        return self.alone or self._monotonic() - self._beat_at < self.options.lease - SKEW

    def holds(self, duty: str, for_seconds: float = 0.0) -> bool:
        """Whether this process holds ``duty`` for at least ``for_seconds`` more."""
        held = self.held.get(duty)
        if held is None or not self.may_send():
            return False
        if self.alone:
            return True
        return self._monotonic() - held[0] + for_seconds < self.options.duty_lease - SKEW

    def alive_since(self) -> datetime | None:
        """Claims need a heartbeat this recent (the others' horizon, less the margin)."""
        if self.alone:
            return None
        return self.clock.now() - self.lease + timedelta(seconds=SKEW)

    def silent_since(self) -> datetime | None:
        """A process that has not beaten since then is dead (alone: every other one is)."""
        if self.alone:
            return None
        return self.clock.now() - self.lease

    def token(self, duty: str) -> int | None:
        """The fencing token of ``duty`` as this process holds it (0, which no lease has, when
        it does not): claims made under the duty check it in the database."""
        if self.alone:
            return None
        held = self.held.get(duty)
        return held[1] if held is not None else 0

    # Life cycle.

    async def start(self, *, alone: bool = False) -> None:
        """Register (``alone``: SQLite, so every other process is gone) and take duties."""
        started = self._monotonic()
        self.alone = alone
        if alone:
            gone = await asyncio.to_thread(
                forget_others, self.store, self.identity, self.clock.now()
            )
            if gone:
                log.info("forgot %d processes of earlier runs", len(gone))
        await asyncio.to_thread(
            register,
            self.store,
            self.identity,
            socket.gethostname(),
            os.getpid(),
            self.clock.now(),
        )
        self._beat_at = started
        log.info("this process is %s (lease %g s)", self.identity, self.options.lease)
        await self._take_duties(started)

    async def run(self) -> None:
        """Beat, renew duties and take over dead processes' work, every ``beat`` seconds."""
        while True:
            await asyncio.sleep(self.options.beat)
            await self.tick()

    def launch(self) -> None:
        """Start the heartbeat (alone, there is none: nobody could take over)."""
        if not self.alone:
            self._task = asyncio.create_task(self.run(), name="replica")

    async def stop(self) -> None:
        """Stop beating and leave: duties are released, so another process takes them now."""
        tasks = [t for t in (self._task, self._takeover, *self._notices) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._task = self._takeover = None
        self._beat_at = None
        self.held.clear()
        release = self.clock.now() + timedelta(seconds=LINGER)
        try:
            await asyncio.to_thread(unregister, self.store, self.identity, release)
        except Exception as exc:  # the others take over after the lease
            log.warning("could not unregister this process: %s", exc)

    async def tick(self) -> None:
        """One heartbeat, duty renewal and takeover pass."""
        started = self._monotonic()
        now = self.clock.now()
        # Right after an outage every heartbeat is old: wait a lease before judging others.
        idle = self._takeover is None or self._takeover.done()
        judge = (
            idle
            and self._failing_since is None
            and started - self._healthy_since >= self.options.lease
        )
        try:
            held = {duty: token for duty, (_, token) in self.held.items()}
            lease = timedelta(seconds=self.options.duty_lease)
            horizon = now - self.lease
            renewal = await asyncio.to_thread(
                renew, self.store, self.identity, now, held, lease, horizon if judge else None
            )
            if not renewal.kept:
                await self._rejoin(started, now)
            self._beat_at = started
            for duty in renewal.renewed:
                self.held[duty] = (started, self.held[duty][1])
            await self._take_duties(started, [d for d in self.duties if d not in renewal.renewed])
            if self._failing_since is not None:
                log.warning(
                    "heartbeat: database reachable again after %.0f s",
                    started - self._failing_since,
                )
                self._failing_since = None
                self._healthy_since = started
            always = started - self._recovered_at >= RECOVER_EVERY
            if judge and (renewal.reaped or always):
                # In its own task: telling staff must never hold up the next heartbeat.
                self._takeover = asyncio.create_task(
                    self.take_over(now, reaped=renewal.reaped), name="takeover"
                )
        except Exception as exc:
            if self._failing_since is None:
                self._failing_since = started
                log.warning("heartbeat: database unreachable: %s; retrying", _first_line(exc))

    async def take_over(
        self, now: datetime, *, reaped: Sequence[tuple[str, datetime]] | None = None
    ) -> None:
        """Remove processes silent for longer than the lease (unless the heartbeat just did:
        ``reaped``) and recover the rows of every process that is gone."""
        horizon = now - self.lease
        try:
            if reaped is None:
                reaped = await asyncio.to_thread(reap, self.store, horizon)
            for identity, last in reaped:
                log.warning(
                    "process %s has been silent for %.0f s: taking over its work",
                    identity,
                    (now - last).total_seconds(),
                )
            started = self._monotonic()
            for recover in self.takeovers:
                await recover(horizon)
            self._recovered_at = started
        except Exception as exc:  # the next pass retries; the heartbeat reports outages
            log.warning("taking over silent processes' work failed: %s", _first_line(exc))

    async def _rejoin(self, started: float, now: datetime) -> None:
        silent = started - self._beat_at if self._beat_at is not None else 0.0
        log.warning(
            "this process was silent for %.0f s and lost its lease: rows it was sending are "
            "uncertain now; registering again",
            silent,
        )
        self.held.clear()
        await asyncio.to_thread(
            register, self.store, self.identity, socket.gethostname(), os.getpid(), now
        )

    async def _take_duties(self, started: float, duties: Iterable[str] | None = None) -> None:
        """Take or renew ``duties`` (default: all of this process's) one by one."""
        for duty in self.duties if duties is None else duties:
            lease = timedelta(seconds=self.options.duty_lease)
            grant = await asyncio.to_thread(
                take_duty, self.store, duty, self.identity, self.clock.now(), lease
            )
            had = duty in self.held
            if grant is None:
                if had:
                    log.warning("this process no longer holds the %s duty", duty)
                    self.held.pop(duty)
                continue
            self.held[duty] = (started, grant.token)
            if grant.new:
                self._announce(duty, grant.token, grant.taken_from, grant.silent_for)

    def _announce(
        self, duty: str, token: int, before: str | None, silent: timedelta | None
    ) -> None:
        if before is None or before == self.identity or self.alone:  # alone: a restart
            log.info("this process holds the %s duty (token %d)", duty, token)
            return
        seconds = silent.total_seconds() if silent is not None else 0.0
        line = (
            f"process {self.identity} took over the {duty} duty from {before} "
            f"({seconds:.1f} s after its last renewal; token {token})"
        )
        log.warning("%s", line)
        task = asyncio.create_task(self.notifier.notify_staff(f"Replica change: {line}."))
        self._notices.add(task)
        task.add_done_callback(self._notices.discard)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:200]
