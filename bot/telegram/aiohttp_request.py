"""A PTB request class on aiohttp, several times cheaper per call than the default httpx one."""

from __future__ import annotations

import re
from urllib.parse import urlencode

import aiohttp
from telegram._utils.defaultvalue import DefaultValue
from telegram._utils.types import ODVInput
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData
from yarl import URL

from bot.telegram.form_poster import FormPoster

_FORM_HEADERS = {"Content-Type": "application/x-www-form-urlencoded"}
# The token sits in the path (``/bot<token>/method``); aiohttp puts URLs in some messages.
_TOKEN_PATH = re.compile(r"/bot[^/\s'\"]+")


class AiohttpRequest(BaseRequest):
    """Send Bot API requests over one pooled ``aiohttp.ClientSession``.

    Timeouts mean what they mean for PTB's ``HTTPXRequest``: ``connect_timeout`` to open a
    connection, ``pool_timeout`` to wait for a free one, ``read_timeout`` for the answer.
    aiohttp has no separate write timeout, so ``write_timeout`` bounds the whole exchange
    together with the others (their sum).
    """

    def __init__(
        self,
        connection_pool_size: int = 256,
        read_timeout: float | None = 5.0,
        write_timeout: float | None = 5.0,
        connect_timeout: float | None = 5.0,
        pool_timeout: float | None = 1.0,
        media_write_timeout: float | None = 20.0,
        proxy: str | None = None,
    ) -> None:
        self._pool_size = connection_pool_size
        self._read_timeout = read_timeout
        self._write_timeout = write_timeout
        self._connect_timeout = connect_timeout
        self._pool_timeout = pool_timeout
        self._media_write_timeout = media_write_timeout
        self._proxy = proxy
        self._session: aiohttp.ClientSession | None = None

    @property
    def read_timeout(self) -> float | None:
        """The default read timeout in seconds."""
        return self._read_timeout

    async def initialize(self) -> None:
        """Open the session and its connection pool (again, after a shutdown)."""
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self._pool_size)
            self._session = aiohttp.ClientSession(
                connector=connector, headers={"User-Agent": self.USER_AGENT}
            )

    async def shutdown(self) -> None:
        """Close the session and its connections."""
        if self._session is not None and not self._session.closed:
            await self._session.close()

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        write_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        connect_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        pool_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        """Send one request; return the HTTP status and the body."""
        session = self._session
        if session is None or session.closed:
            raise RuntimeError("This AiohttpRequest is not initialized!")
        files = request_data.multipart_data if request_data is not None else None
        fields = request_data.json_parameters if request_data is not None else {}
        body: aiohttp.FormData | bytes | None = None
        headers = None
        if files:
            body = aiohttp.FormData(quote_fields=False)
            for name, value in fields.items():
                body.add_field(name, value)
            for name, (filename, content, mime_type) in files.items():
                body.add_field(name, content, filename=filename, content_type=mime_type)
        elif fields:
            body = urlencode(fields).encode()
            headers = _FORM_HEADERS
        timeout = self._timeout(
            read_timeout, write_timeout, connect_timeout, pool_timeout, uploads=bool(files)
        )
        try:
            async with session.request(
                method,
                url,
                data=body,
                headers=headers,
                timeout=timeout,
                proxy=self._proxy,
                allow_redirects=False,
            ) as response:
                return response.status, await response.read()
        except (TimeoutError, aiohttp.ClientError, ValueError, TypeError) as exc:
            error, safe = _translate(exc, url)
            # Chaining prints the cause, and aiohttp puts the URL (so the token) in some causes.
            raise error from (exc if safe else None)

    def form_timeout(self) -> aiohttp.ClientTimeout:
        """The timeout of a form POST with the default timeouts (built once by callers)."""
        default = BaseRequest.DEFAULT_NONE
        return self._timeout(default, default, default, default, uploads=False)

    async def post_form(
        self, url: URL, body: bytes, limits: aiohttp.ClientTimeout
    ) -> tuple[int, bytes]:
        """POST an already encoded form body; return the HTTP status and the answer.

        The fan-out's path: one aiohttp request per message, nothing rebuilt per call (the
        URL is parsed once, the body encoded by the caller). Errors as in ``do_request``.
        """
        session = self._session
        if session is None or session.closed:
            raise RuntimeError("This AiohttpRequest is not initialized!")
        try:
            async with session.post(
                url,
                data=body,
                headers=_FORM_HEADERS,
                timeout=limits,
                proxy=self._proxy,
                allow_redirects=False,
            ) as response:
                return response.status, await response.read()
        except (TimeoutError, aiohttp.ClientError, ValueError, TypeError) as exc:
            error, safe = _translate(exc, str(url))
            raise error from (exc if safe else None)

    def form_poster(self, url: URL) -> FormPoster | None:
        """A lean poster of forms to ``url`` with this pool size and these timeouts.

        None through a proxy, which only aiohttp speaks here.
        """
        if self._proxy is not None:
            return None
        limits = self.form_timeout()
        return FormPoster(
            url,
            size=self._pool_size,
            acquire_timeout=limits.connect,
            read_timeout=limits.sock_read,
        )

    def _timeout(
        self,
        read: ODVInput[float],
        write: ODVInput[float],
        connect: ODVInput[float],
        pool: ODVInput[float],
        *,
        uploads: bool,
    ) -> aiohttp.ClientTimeout:
        read_s = self._read_timeout if isinstance(read, DefaultValue) else read
        connect_s = self._connect_timeout if isinstance(connect, DefaultValue) else connect
        pool_s = self._pool_timeout if isinstance(pool, DefaultValue) else pool
        if isinstance(write, DefaultValue):
            write_s = self._media_write_timeout if uploads else self._write_timeout
        else:
            write_s = write
        # aiohttp's ``connect`` covers waiting for a pooled connection and opening a new one.
        acquire = None if pool_s is None or connect_s is None else pool_s + connect_s
        phases = (acquire, write_s, read_s)
        total = None if any(p is None for p in phases) else sum(p or 0.0 for p in phases)
        return aiohttp.ClientTimeout(
            total=total, connect=acquire, sock_connect=connect_s, sock_read=read_s
        )


def _translate(cause: Exception, url: str) -> tuple[NetworkError, bool]:
    """Return the PTB error for an aiohttp failure, and whether the cause is safe to chain."""
    kind: type[NetworkError] = NetworkError
    if isinstance(cause, aiohttp.ConnectionTimeoutError):
        kind, message = TimedOut, "Timed out getting a connection: the request was not sent"
    elif isinstance(cause, TimeoutError):
        kind, message = TimedOut, "Timed out waiting for the Bot API"
    elif isinstance(cause, aiohttp.ClientError):
        message = f"aiohttp.{type(cause).__name__}"
    else:
        message = f"Invalid request ({type(cause).__name__})"
    text = str(cause)
    clean = _TOKEN_PATH.sub("/bot[REDACTED]", text.replace(url, "[URL]"))
    safe = clean == text and _TOKEN_PATH.search(repr(cause.args)) is None
    return kind(f"{message}: {clean}" if clean else message), safe
