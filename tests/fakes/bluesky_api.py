"""A fake Bluesky PDS on loopback: sessions (create, refresh, expire) and post records.

with FakeBluesky(handle="bot.test", password="app-pass") as fake:
    client = atproto.Client(base_url=fake.base_url)
"""

from __future__ import annotations

import base64
import itertools
import json
import time
from collections.abc import Iterator
from typing import Any

import grapheme
import pytest

from tests.fakes.mastodon_api import Answer, LoopbackServer, RecordedRequest

CREATE_SESSION = "/xrpc/com.atproto.server.createSession"
REFRESH_SESSION = "/xrpc/com.atproto.server.refreshSession"
CREATE_RECORD = "/xrpc/com.atproto.repo.createRecord"
GET_PROFILE = "/xrpc/app.bsky.actor.getProfile"
GET_RECORD = "/xrpc/com.atproto.repo.getRecord"
MAX_GRAPHEMES = 300
MAX_BYTES = 3000
_serial = itertools.count(1)


def fake_jwt(subject: str, expires_at: int, scope: str = "com.atproto.access") -> str:
    """A JWT that atproto can decode (the signature is not checked)."""

    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    claims = {"scope": scope, "sub": subject, "exp": expires_at, "jti": str(next(_serial))}
    signature = base64.urlsafe_b64encode(b"not-checked").rstrip(b"=").decode()
    return f"{part({'alg': 'ES256K', 'typ': 'at+jwt'})}.{part(claims)}.{signature}"


def _error(status: int, name: str, message: str) -> Answer:
    return status, {"error": name, "message": message}, {}


class FakeBluesky(LoopbackServer):
    """The PDS endpoints the channel uses, with tokens the tests can expire."""

    def __init__(
        self,
        *,
        handle: str = "campaign.bsky.test",
        password: str = "abcd-efgh-ijkl-mnop",
        did: str = "did:plc:campaignbot",
        access_ttl: int = 2 * 3600,
    ) -> None:
        super().__init__()
        self.handle = handle
        self.password = password
        self.did = did
        self.access_ttl = access_ttl
        self.posts: list[dict[str, Any]] = []
        self.refs: list[tuple[str, str]] = []  # (uri, cid) of each post, in order
        self._access: dict[str, bool] = {}  # token -> still valid
        self._refresh: dict[str, bool] = {}

    def __enter__(self) -> FakeBluesky:
        self.start()
        return self

    # -- test controls --------------------------------------------------------------------------
    def issue_tokens(self, access_ttl: int | None = None) -> tuple[str, str]:
        """Issue an access and a refresh token the server accepts."""
        now = int(time.time())
        ttl = self.access_ttl if access_ttl is None else access_ttl
        access = fake_jwt(self.did, now + ttl)
        refresh = fake_jwt(self.did, now + 60 * 86400, scope="com.atproto.refresh")
        with self._lock:
            self._access[access] = True
            self._refresh[refresh] = True
        return access, refresh

    def session_string(self, access_ttl: int | None = None) -> str:
        """A session string like one atproto exported in an earlier run."""
        access, refresh = self.issue_tokens(access_ttl)
        return ":::".join([self.handle, self.did, access, refresh, f"{self.base_url}/xrpc"])

    def expire_sessions(self) -> None:
        """Expire every access token and revoke every refresh token issued so far."""
        with self._lock:
            self._access = dict.fromkeys(self._access, False)
            self._refresh = dict.fromkeys(self._refresh, False)

    # -- serving --------------------------------------------------------------------------------
    def route(self, request: RecordedRequest) -> Answer:
        if request.method == "POST" and request.path == CREATE_SESSION:
            return self._create_session(request.json())
        if request.method == "POST" and request.path == REFRESH_SESSION:
            return self._refresh_session(request)
        if request.method == "POST" and request.path == CREATE_RECORD:
            denied = self._check_access(request)
            return denied or self._create_record(request.json())
        if request.method == "GET" and request.path == GET_RECORD:
            denied = self._check_access(request)
            return denied or self._get_record(request.query)
        if request.method == "GET" and request.path == GET_PROFILE:
            denied = self._check_access(request)
            return denied or (200, {"did": self.did, "handle": self.handle}, {})
        return _error(501, "MethodNotImplemented", "Method Not Implemented")

    def _session_body(self) -> dict[str, Any]:
        access, refresh = self.issue_tokens()
        # No didDoc: atproto would switch base_url to the PDS it names.
        return {
            "accessJwt": access,
            "refreshJwt": refresh,
            "handle": self.handle,
            "did": self.did,
            "active": True,
        }

    def _create_session(self, body: dict[str, Any]) -> Answer:
        if body.get("identifier") not in (self.handle, self.did):
            return _error(401, "AuthenticationRequired", "Invalid identifier or password")
        if body.get("password") != self.password:
            return _error(401, "AuthenticationRequired", "Invalid identifier or password")
        return 200, self._session_body(), {}

    def _refresh_session(self, request: RecordedRequest) -> Answer:
        token = _bearer(request)
        with self._lock:
            valid = self._refresh.get(token)
            if valid:
                self._refresh[token] = False  # refresh tokens are single use
        if valid is None:
            return _error(401, "InvalidToken", "Token could not be verified")
        if not valid:
            return _error(400, "ExpiredToken", "Token has been revoked")
        return 200, self._session_body(), {}

    def _check_access(self, request: RecordedRequest) -> Answer | None:
        with self._lock:
            valid = self._access.get(_bearer(request))
        if valid is None:
            return _error(401, "AuthenticationRequired", "Authentication Required")
        if not valid:
            # The real PDS answers an expired access token with 400, not 401.
            return _error(400, "ExpiredToken", "Token has expired")
        return None

    def _create_record(self, body: dict[str, Any]) -> Answer:
        record = body.get("record") or {}
        if body.get("repo") != self.did:
            return _error(400, "InvalidRequest", "Could not find repo")
        text = str(record.get("text", ""))
        size = len(text.encode())
        # The lexicon's maxLength, checked first, counts UTF-8 bytes (@atproto/lexicon utf8Len).
        if size > MAX_BYTES:
            return _error(
                400,
                "InvalidRequest",
                "Invalid app.bsky.feed.post record: "
                f"Record/text must not be longer than {MAX_BYTES} characters",
            )
        if grapheme.length(text) > MAX_GRAPHEMES:
            return _error(
                400,
                "InvalidRequest",
                "Invalid app.bsky.feed.post record: "
                f"Record/text must not be longer than {MAX_GRAPHEMES} graphemes",
            )
        for facet in record.get("facets") or []:
            index = facet["index"]
            if not 0 <= index["byteStart"] < index["byteEnd"] <= size:
                return _error(400, "InvalidRequest", "Invalid facet byte range")
        reply = record.get("reply")
        if reply is not None:
            for role in ("root", "parent"):
                ref = reply.get(role) or {}
                if (ref.get("uri"), ref.get("cid")) not in self.refs:
                    return _error(400, "InvalidRequest", f"reply {role} is not a known post")
        rkey = f"3lcampaign{len(self.posts) + 1:04d}"
        self.posts.append(record)
        uri = f"at://{self.did}/{body.get('collection')}/{rkey}"
        cid = f"bafyreifake{len(self.posts)}"
        self.refs.append((uri, cid))
        return 200, {"uri": uri, "cid": cid}, {}

    def _get_record(self, query: dict[str, str]) -> Answer:
        uri = f"at://{query.get('repo')}/{query.get('collection')}/{query.get('rkey')}"
        for (known, cid), record in zip(self.refs, self.posts, strict=True):
            if known == uri:
                return 200, {"uri": uri, "cid": cid, "value": record}, {}
        return _error(400, "RecordNotFound", f"Could not locate record: {uri}")


def _bearer(request: RecordedRequest) -> str:
    return request.headers.get("authorization", "").removeprefix("Bearer ")


@pytest.fixture(name="bluesky_api")
def bluesky_api_fixture() -> Iterator[FakeBluesky]:
    """A running fake Bluesky PDS."""
    with FakeBluesky() as fake:
        yield fake
