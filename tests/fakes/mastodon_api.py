"""A fake Mastodon API on loopback, served from a background thread for Mastodon.py to call.

The synchronous clients (Mastodon.py on requests, atproto on httpx) block the calling thread,
so the server runs in its own thread. ``LoopbackServer`` is the shared part: recording every
request (headers included) and injecting faults; the Bluesky fake builds on it too.

    with FakeMastodon(token="tok") as fake:
        client = Mastodon(api_base_url=fake.base_url, access_token="tok")
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from mastodon import Mastodon

Answer = tuple[int, Any, Mapping[str, str]]


@dataclass(frozen=True)
class RecordedRequest:
    """One request the fake received; header names are lower-cased."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def form(self) -> dict[str, str]:
        return dict(parse_qsl(self.body.decode(), keep_blank_values=True))


@dataclass
class Fault:
    """An answer given instead of the normal one, ``times`` times; ``hang`` never answers."""

    status: int = 500
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    times: int = 1
    hang: bool = False


class LoopbackServer:
    """An HTTP server on 127.0.0.1 (random port) that records requests and injects faults."""

    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self._faults: dict[tuple[str, str], deque[Fault]] = {}
        self._lock = threading.Lock()
        self._release = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self) -> None:
        # Handler threads are not daemons, so server_close() waits for every one to finish.
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        # A short poll interval: shutdown() waits for the loop to notice, up to one interval.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._release.set()  # let hanging handlers finish
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> LoopbackServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the fake server is not running")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    # -- test controls --------------------------------------------------------------------------
    def fail(
        self,
        method: str,
        path: str,
        status: int,
        body: Any = None,
        *,
        headers: Mapping[str, str] | None = None,
        times: int = 1,
    ) -> None:
        """Answer the next ``times`` calls to ``method path`` with this status, body, headers."""
        fault = Fault(status, body, dict(headers or {}), times)
        with self._lock:
            self._faults.setdefault((method.upper(), path), deque()).append(fault)

    def hang(self, method: str, path: str, *, times: int = 1) -> None:
        """Never answer the next ``times`` calls (until stop): the client times out."""
        with self._lock:
            self._faults.setdefault((method.upper(), path), deque()).append(
                Fault(times=times, hang=True)
            )

    def calls(self, method: str | None = None, path: str | None = None) -> list[RecordedRequest]:
        """The recorded requests, optionally only one method and path."""
        with self._lock:
            return [
                r
                for r in self.requests
                if (method is None or r.method == method.upper())
                and (path is None or r.path == path)
            ]

    # -- serving --------------------------------------------------------------------------------
    def route(self, request: RecordedRequest) -> Answer:
        """Answer a request that no fault intercepted (subclasses override)."""
        return 404, {"error": "Not found"}, {}

    def _answer(self, request: RecordedRequest) -> Answer | None:
        with self._lock:
            self.requests.append(request)
            queue = self._faults.get((request.method, request.path))
            fault = queue[0] if queue else None
            if queue and fault is not None:
                fault.times -= 1
                if fault.times <= 0:
                    queue.popleft()
        if fault is None:
            return self.route(request)
        if fault.hang:
            self._release.wait()
            return None
        return fault.status, fault.body, fault.headers


def _handler_for(fake: LoopbackServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        # HTTP/1.0: one request per connection, so no idle keep-alive thread outlives stop().
        protocol_version = "HTTP/1.0"
        timeout = 10  # a connection that never sends a request cannot block stop() for long

        def _serve(self) -> None:
            url = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            request = RecordedRequest(
                method=self.command,
                path=url.path,
                query=dict(parse_qsl(url.query)),
                headers={k.lower(): v for k, v in self.headers.items()},
                body=self.rfile.read(length) if length else b"",
            )
            answer = fake._answer(request)
            if answer is None:
                return
            status, body, headers = answer
            if body is None or isinstance(body, bytes | str):
                payload = body.encode() if isinstance(body, str) else body or b""
                content_type = "text/plain; charset=utf-8"
            else:
                payload = json.dumps(body).encode()
                content_type = "application/json; charset=utf-8"
            self.send_response(status)
            names = {name.lower() for name in headers}
            if "content-type" not in names:
                self.send_header("Content-Type", content_type)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:
            return None

    return Handler


class FakeMastodon(LoopbackServer):
    """The few Mastodon endpoints the channel uses: post a status, read the instance."""

    def __init__(
        self,
        *,
        token: str = "mastodon-token",
        max_characters: int | None = 500,
        instance_v2: bool = True,
        account: str = "campaign",
    ) -> None:
        super().__init__()
        self.token = token
        self.max_characters = max_characters
        self.instance_v2 = instance_v2
        self.account = account
        self.statuses: list[dict[str, Any]] = []
        self._by_key: dict[str, dict[str, Any]] = {}

    def __enter__(self) -> FakeMastodon:
        self.start()
        return self

    def route(self, request: RecordedRequest) -> Answer:
        path = request.path.rstrip("/")
        limits = _ratelimit_headers()
        if request.method == "GET" and path == "/api/v2/instance" and self.instance_v2:
            return 200, self._instance(), limits
        if request.method == "GET" and path == "/api/v1/instance":
            return 200, self._instance(), limits
        if request.method == "POST" and path == "/api/v1/statuses":
            if request.headers.get("authorization") != f"Bearer {self.token}":
                return 401, {"error": "The access token is invalid"}, limits
            return self._post_status(request.form(), request.headers, limits)
        return 404, {"error": "Record not found"}, limits

    def _instance(self) -> dict[str, Any]:
        statuses: dict[str, Any] = {"characters_reserved_per_url": 23}
        if self.max_characters is not None:
            statuses["max_characters"] = self.max_characters
        return {"domain": "mastodon.test", "configuration": {"statuses": statuses}}

    def _post_status(
        self, form: dict[str, str], headers: dict[str, str], limits: dict[str, str]
    ) -> Answer:
        key = headers.get("idempotency-key")
        if key is not None and key in self._by_key:
            return 200, self._by_key[key], limits  # the real server replays, it does not repost
        text = form.get("status", "")
        limit = self.max_characters or 500
        if Mastodon.get_status_length(text, form.get("spoiler_text", "")) > limit:
            error = f"Validation failed: Text character limit of {limit} exceeded"
            return 422, {"error": error}, limits
        reply_to = form.get("in_reply_to_id") or None
        if reply_to is not None and all(s["id"] != reply_to for s in self.statuses):
            return 404, {"error": "Record not found"}, limits
        number = len(self.statuses) + 1
        status_id = str(110_000_000_000_000_000 + number)
        status = {
            "id": status_id,
            "created_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "uri": f"{self.base_url}/users/{self.account}/statuses/{status_id}",
            "url": f"{self.base_url}/@{self.account}/{status_id}",
            "content": f"<p>{text}</p>",
            "language": form.get("language"),
            "visibility": form.get("visibility", "public"),
            "spoiler_text": form.get("spoiler_text", ""),
            "sensitive": form.get("sensitive") == "1",
            "in_reply_to_id": reply_to,
        }
        self.statuses.append(status)
        if key is not None:
            self._by_key[key] = status
        return 200, status, limits


def _ratelimit_headers() -> dict[str, str]:
    reset = datetime.now(UTC) + timedelta(minutes=5)
    return {
        "X-RateLimit-Limit": "300",
        "X-RateLimit-Remaining": "299",
        "X-RateLimit-Reset": reset.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
    }


@pytest.fixture(name="mastodon_api")
def mastodon_api_fixture() -> Iterator[FakeMastodon]:
    """A running fake Mastodon instance."""
    with FakeMastodon() as fake:
        yield fake
