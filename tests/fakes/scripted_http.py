"""A tiny loopback HTTP/1.1 server whose every answer a test scripts, down to closing mid-way."""

from __future__ import annotations

import asyncio
import itertools
import json
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Received:
    """One request as the server read it."""

    connection: int  # 1 for the first connection accepted, 2 for the next...
    head: str  # request line and headers
    body: bytes

    @property
    def request_line(self) -> str:
        return self.head.split("\r\n", 1)[0]

    def header(self, name: str) -> str | None:
        for line in self.head.split("\r\n")[1:]:
            key, _, value = line.partition(":")
            if key.strip().lower() == name.lower():
                return value.strip()
        return None


@dataclass
class Reply:
    """What to do with a request: write ``data`` (None: write nothing), then maybe close."""

    data: bytes | None
    close: bool = False
    abort: bool = False  # close at once (an RST when unread bytes remain)
    hold: bool = False  # write nothing and keep the connection until the server stops
    split_at: tuple[int, ...] = ()  # write ``data`` in pieces cut at these offsets

    def pieces(self) -> list[bytes]:
        if not self.data:
            return []
        cuts = [0, *self.split_at, len(self.data)]
        return [self.data[a:b] for a, b in itertools.pairwise(cuts)]


def answer(
    status: int = 200,
    body: bytes | dict[str, Any] = b'{"ok": true, "result": {"message_id": 1}}',
    *,
    headers: tuple[str, ...] = (),
    length: bool = True,
) -> bytes:
    """A whole HTTP answer; a dict body is sent as JSON."""
    data = json.dumps(body).encode() if isinstance(body, dict) else body
    lines = [f"HTTP/1.1 {status} Whatever", "Content-Type: application/json", *headers]
    if length:
        lines.append(f"Content-Length: {len(data)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + data


def ok(message_id: int = 1) -> Reply:
    return Reply(answer(body={"ok": True, "result": {"message_id": message_id}}))


Script = Callable[[Received], Reply | Awaitable[Reply]]


@dataclass
class ScriptedServer:
    """Answers each request with what ``script`` returns for it."""

    script: Script
    ssl_context: ssl.SSLContext | None = None
    port: int = 0
    accepted: int = 0
    received: list[Received] = field(default_factory=list)
    closed: int = 0  # connections this server saw end
    _server: asyncio.Server | None = None
    _writers: set[asyncio.StreamWriter] = field(default_factory=set)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def __aenter__(self) -> ScriptedServer:
        self._server = await asyncio.start_server(
            self._serve, "127.0.0.1", 0, ssl=self.ssl_context
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._stop.set()
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        await self._server.wait_closed()

    def url(self, path: str) -> str:
        scheme = "https" if self.ssl_context is not None else "http"
        return f"{scheme}://127.0.0.1:{self.port}{path}"

    async def wait_for(self, condition: Callable[[], bool], what: str) -> None:
        """Wait until ``condition`` holds, woken by every request and connection end."""
        try:
            async with asyncio.timeout(20):
                while not condition():
                    self._changed.clear()
                    await self._changed.wait()
        except TimeoutError:
            raise AssertionError(f"timed out waiting for {what}") from None

    def _notify(self) -> None:
        self._changed.set()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        number = self.accepted
        self._writers.add(writer)
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                received = Received(number, head.decode("latin-1").rstrip("\r\n"), b"")
                length = int(received.header("Content-Length") or 0)
                received.body = await reader.readexactly(length)
                self.received.append(received)
                self._notify()
                reply = self.script(received)
                if not isinstance(reply, Reply):
                    reply = await reply
                if reply.hold:
                    await self._stop.wait()
                    return
                for piece in reply.pieces():
                    writer.write(piece)
                    await writer.drain()
                if reply.abort:
                    writer.transport.abort()
                    return
                if reply.close:
                    return
        finally:
            self._writers.discard(writer)
            if not writer.transport.is_closing():
                writer.close()
            self.closed += 1
            self._notify()
