"""POST encoded forms to one Bot API method over a pool of keep-alive connections."""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from time import monotonic

from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest
from yarl import URL

from bot.telegram.keepalive_connection import KeepAliveConnection

NOT_SENT_WAITING = "Timed out getting a connection: the request was not sent"
# Idle connections are not used after this many seconds (aiohttp's connector does the same):
# a firewall may have forgotten them without telling either side, and a request written on
# one would only end in a read timeout, the message uncertain.
KEEP_IDLE = 15.0
Answer = tuple[int, bytes]


class FormPoster:
    """Send ``application/x-www-form-urlencoded`` POSTs to one URL, at most ``size`` at a time.

    The fan-out's hot path without a general HTTP client: the request head is built once, a
    request is one write on a pooled connection, and the answer is parsed in C. Connections are
    opened when needed and kept while the server keeps them, idle for ``keep_idle`` seconds
    at most.

    Errors say whether the request left. Before any byte is written (no free connection in
    time, connecting failed or timed out) they say "not sent": ``TimedOut`` or
    ``NetworkError``. After it was written: ``TimedOut`` without "not sent" when no answer came
    within ``read_timeout``, ``AnswerLost`` when the connection ended or the answer was not
    HTTP. Messages name the host, never the path (which holds the bot token).
    """

    def __init__(
        self,
        url: URL,
        *,
        size: int,
        acquire_timeout: float | None,
        read_timeout: float | None,
        ssl_context: ssl.SSLContext | None = None,
        user_agent: str = BaseRequest.USER_AGENT,
        keep_idle: float = KEEP_IDLE,
    ) -> None:
        if url.scheme not in ("http", "https") or not url.raw_host or url.port is None:
            raise ValueError(f"not an http(s) URL with a host: {url.scheme}://{url.raw_host}")
        self._host = url.raw_host
        self._port = url.port
        self._where = url.host_port_subcomponent
        if url.scheme == "https":
            self._ssl: ssl.SSLContext | None = ssl_context or ssl.create_default_context()
        else:
            self._ssl = None
        self._head = (
            f"POST {url.raw_path_qs} HTTP/1.1\r\n"
            f"Host: {self._where}\r\n"
            f"User-Agent: {user_agent}\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n"
            "Connection: keep-alive\r\n"
            "Content-Length: "
        ).encode("ascii")
        self._size = size
        self._acquire_timeout = acquire_timeout
        self._read_timeout = read_timeout
        self._keep_idle = keep_idle
        # A stack: the most recently used on top, so the longest idle are at the bottom.
        self._idle: list[KeepAliveConnection] = []
        self._live: set[KeepAliveConnection] = set()  # until their sockets are closed
        self._open = 0  # connections open or opening
        self._waiters: deque[asyncio.Future[KeepAliveConnection | None]] = deque()

    async def post(self, body: bytes) -> Answer:
        """Send ``body``; return the answer's HTTP status and body."""
        idle = self._idle
        if idle and monotonic() - idle[-1].idle_since < self._keep_idle:
            connection = idle.pop()
        else:
            connection = await self._acquire()
        answer = connection.send(
            b"%b%d\r\n\r\n%b" % (self._head, len(body), body), self._read_timeout
        )
        try:
            return await answer
        finally:
            self._release(connection)

    async def close(self) -> None:
        """Close every connection and fail the requests waiting for one (as not sent)."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_exception(
                    NetworkError("The connection pool closed: the request was not sent")
                )
        connections = list(self._live)
        for connection in connections:
            connection.abort()
        pending = [c.lost for c in connections if not c.lost.done()]
        if pending:
            await asyncio.wait(pending, timeout=5.0)

    @property
    def connections(self) -> int:
        """How many connections are open or opening."""
        return self._open

    @property
    def idle(self) -> int:
        """How many open connections wait for a request."""
        return len(self._idle)

    # -- getting a connection --------------------------------------------------------------------

    async def _acquire(self) -> KeepAliveConnection:
        loop = asyncio.get_running_loop()
        limit = self._acquire_timeout
        deadline = None if limit is None else loop.time() + limit
        while True:
            self._close_stale()
            if self._idle:
                return self._idle.pop()
            if self._open < self._size:
                return await self._connect(loop, deadline)
            handed = await self._wait_for_turn(loop, deadline)
            if handed is not None:
                if not handed.closed:
                    return handed
                self._release(handed)  # it closed on its way over: count it out, try again

    async def _wait_for_turn(
        self, loop: asyncio.AbstractEventLoop, deadline: float | None
    ) -> KeepAliveConnection | None:
        """Wait for a connection handed over (or None: a slot to open one) until ``deadline``."""
        waiter: asyncio.Future[KeepAliveConnection | None] = loop.create_future()
        self._waiters.append(waiter)
        timer = None if deadline is None else loop.call_at(deadline, _expire, waiter)
        try:
            return await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                handed = waiter.result()  # handed over just as we were cancelled: pass it on
                if handed is None:
                    self._wake()
                else:
                    self._release(handed)
            raise
        finally:
            if timer is not None:
                timer.cancel()

    async def _connect(
        self, loop: asyncio.AbstractEventLoop, deadline: float | None
    ) -> KeepAliveConnection:
        self._open += 1
        try:
            connection = await self._open_connection(loop, deadline)
        except BaseException:
            self._open -= 1
            self._wake()
            raise
        self._live.add(connection)
        connection.lost.add_done_callback(lambda _: self._live.discard(connection))
        if connection.closed:
            self._release(connection)
            raise NetworkError(
                f"The Bot API at {self._where} closed a new connection: the request was not sent"
            )
        return connection

    async def _open_connection(
        self, loop: asyncio.AbstractEventLoop, deadline: float | None
    ) -> KeepAliveConnection:
        opening = loop.create_task(
            loop.create_connection(
                lambda: KeepAliveConnection(loop, self._closed),
                self._host,
                self._port,
                ssl=self._ssl,
                server_hostname=self._host if self._ssl is not None else None,
            )
        )
        timeout = None if deadline is None else max(0.0, deadline - loop.time())
        try:
            done, _ = await asyncio.wait({opening}, timeout=timeout)
        except asyncio.CancelledError:
            _abandon(opening)
            raise
        if not done:
            _abandon(opening)
            raise TimedOut(NOT_SENT_WAITING)
        try:
            _, connection = opening.result()
        except OSError as exc:  # refused, unreachable, DNS, TLS
            raise NetworkError(
                f"Cannot connect to the Bot API at {self._where} "
                f"({type(exc).__name__}: {exc}): the request was not sent"
            ) from None
        return connection

    # -- giving it back ------------------------------------------------------------------------

    def _release(self, connection: KeepAliveConnection) -> None:
        """Keep a connection whose exchange ended cleanly; count any other out."""
        if connection.reusable and not connection.closed:
            while self._waiters:
                waiter = self._waiters.popleft()
                if not waiter.done():
                    waiter.set_result(connection)
                    return
            connection.idle_since = monotonic()
            self._idle.append(connection)
            return
        connection.abort()
        self._open -= 1
        self._wake()

    def _close_stale(self) -> None:
        """Close the connections idle for too long: the bottom of the stack."""
        horizon = monotonic() - self._keep_idle
        for connection in [c for c in self._idle if c.idle_since <= horizon]:
            connection.abort()  # leaves the stack at once (``_closed``)

    def _closed(self, connection: KeepAliveConnection) -> None:
        """A connection closed: if it was idle, free its slot."""
        try:
            self._idle.remove(connection)
        except ValueError:
            return  # in use: the end of its exchange counts it out
        self._open -= 1
        self._wake()

    def _wake(self) -> None:
        """Tell the first request still waiting that it may open a connection."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return


def _expire(waiter: asyncio.Future[KeepAliveConnection | None]) -> None:
    if not waiter.done():
        waiter.set_exception(TimedOut(NOT_SENT_WAITING))


def _abandon(opening: asyncio.Task[tuple[asyncio.BaseTransport, KeepAliveConnection]]) -> None:
    """Stop opening a connection; close it if it opened all the same."""

    def close_if_open(
        task: asyncio.Task[tuple[asyncio.BaseTransport, KeepAliveConnection]],
    ) -> None:
        if not task.cancelled() and task.exception() is None:
            task.result()[1].abort()

    opening.cancel()
    opening.add_done_callback(close_if_open)
