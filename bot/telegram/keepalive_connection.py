"""One keep-alive HTTP/1.1 client connection: write a request, parse its answer with httptools."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from httptools import HttpParserError, HttpResponseParser
from telegram.error import NetworkError, TimedOut

# Headers that frame a body; an answer with neither ends when the server closes.
_FRAMING = frozenset((b"content-length", b"transfer-encoding"))


class AnswerLost(NetworkError):
    """The request was written but no whole answer came back: the Bot API may have acted on it."""


class KeepAliveConnection(asyncio.Protocol):
    """A connection that carries one exchange at a time and says whether it can carry another.

    ``closed`` turns true as soon as the server closes, resets or sends something unasked, so
    a pool can drop the connection before it writes a request on it.
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        on_close: Callable[[KeepAliveConnection], None],
    ) -> None:
        self.closed = False
        self.reusable = False
        self.idle_since = 0.0  # when its last exchange ended (set by its pool)
        self.lost: asyncio.Future[None] = loop.create_future()
        self._loop = loop
        self._on_close = on_close
        self._transport: asyncio.Transport | None = None
        self._parser = HttpResponseParser(self)
        self._answer: asyncio.Future[tuple[int, bytes]] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._body: list[bytes] = []
        self._framed = False
        self._headers_done = False

    # -- asyncio.Protocol ----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Keep the transport."""
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        """Feed the parser; bytes nobody asked for make the connection useless."""
        if self._answer is None:
            self.abort()
            return
        try:
            self._parser.feed_data(data)
        except HttpParserError as exc:
            self._fail(AnswerLost(f"Malformed answer from the Bot API ({type(exc).__name__})"))

    def eof_received(self) -> None:
        """The server closed its side: end an answer that runs to the end, or lose it."""
        self._closed_by_server(None)

    def connection_lost(self, exc: Exception | None) -> None:
        """The connection is gone: an answer still awaited is lost."""
        self._closed_by_server(exc)
        if not self.lost.done():
            self.lost.set_result(None)

    # -- httptools callbacks -------------------------------------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        """Note whether the body is framed (a length or chunks)."""
        if name.lower() in _FRAMING:
            self._framed = True

    def on_headers_complete(self) -> None:
        """The head is in; the body follows."""
        self._headers_done = True

    def on_body(self, body: bytes) -> None:
        """Collect a piece of the body."""
        self._body.append(body)

    def on_message_complete(self) -> None:
        """Hand over the answer; keep the connection only if the server keeps it too."""
        if self._answer is None:  # more than was asked for
            self.abort()
            return
        status = self._parser.get_status_code()
        if 100 <= status < 200:  # an interim answer: the real one follows
            self._body.clear()
            self._framed = self._headers_done = False
            return
        self.reusable = self._parser.should_keep_alive()
        self._finish(status)

    # -- the exchange --------------------------------------------------------------------------

    def send(
        self, request: bytes, read_timeout: float | None
    ) -> asyncio.Future[tuple[int, bytes]]:
        """Write ``request`` in one go; the future gets the status and body of its answer.

        The one timer of the exchange starts here: no answer within ``read_timeout`` fails the
        future with ``TimedOut`` and closes the connection.
        """
        assert self._transport is not None and self._answer is None
        answer = self._loop.create_future()
        self._answer = answer
        self.reusable = False
        self._body = []
        self._framed = self._headers_done = False
        self._transport.write(request)
        if read_timeout is not None:
            self._timer = self._loop.call_at(self._loop.time() + read_timeout, self._time_out)
        return answer

    def abort(self) -> None:
        """Close at once, dropping anything unsent or unread; an awaited answer is lost."""
        answer = self._settle()
        if answer is not None:
            answer.set_exception(AnswerLost("The exchange was abandoned before its answer"))
        self._mark_closed()
        if self._transport is not None:
            self._transport.abort()

    def close(self) -> None:
        """Close after writing anything still buffered (the exchange is over)."""
        self._mark_closed()
        if self._transport is not None:
            self._transport.close()

    def _settle(self) -> asyncio.Future[tuple[int, bytes]] | None:
        """Stop the timer; return the answer still to be given, if any."""
        answer, self._answer = self._answer, None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        return answer if answer is not None and not answer.done() else None

    def _finish(self, status: int) -> None:
        answer = self._settle()
        if answer is not None:
            answer.set_result((status, b"".join(self._body)))
        if not self.reusable:
            self.close()

    def _fail(self, error: NetworkError) -> None:
        answer = self._settle()
        if answer is not None:
            answer.set_exception(error)
        self.abort()

    def _time_out(self) -> None:
        self._timer = None
        self._fail(TimedOut("Timed out waiting for the Bot API"))

    def _mark_closed(self) -> None:
        self.reusable = False
        if not self.closed:
            self.closed = True
            self._on_close(self)

    def _closed_by_server(self, exc: Exception | None) -> None:
        self.reusable = False
        if self._answer is not None:
            if self._headers_done and not self._framed:  # the body ran to the end
                self._finish(self._parser.get_status_code())
            else:
                cause = f" ({type(exc).__name__})" if exc is not None else ""
                self._fail(
                    AnswerLost(f"The Bot API closed the connection before answering{cause}")
                )
        self._mark_closed()
