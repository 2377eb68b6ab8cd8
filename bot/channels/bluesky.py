"""The Bluesky channel: publishes posts with link and hashtag facets through atproto."""

from __future__ import annotations

import asyncio
import logging
import re
import threading
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import grapheme
import httpx
from atproto import Client, Request, Session, SessionEvent, client_utils, models
from atproto_client.exceptions import (
    AtProtocolError,
    BadRequestError,
    InvokeTimeoutError,
    LoginRequiredError,
    NetworkError,
    RateLimitExceededError,
    RequestErrorBase,
    UnauthorizedError,
)

from bot.channels.base import (
    ChannelError,
    ErrorKind,
    Link,
    Outgoing,
    Published,
    ReplyTarget,
    SessionStore,
)

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 30.0
POST_URL = "https://bsky.app/profile/{handle}/post/{rkey}"
# Characters that end a URL or hashtag: whitespace and the bidi controls the RTL renderer
# wraps them in (U+2066-U+2069, LRM/RLM, embeddings), plus zero-width characters.
_STOP = r"\s\u200b-\u200f\u202a-\u202e\u2060\u2066-\u2069\u00ad<>\""
_URL = re.compile(rf"https?://[^{_STOP}]+", re.IGNORECASE)
_TAG = re.compile(rf"(?:^|(?<=[\s(\u2066-\u2069\u200e\u200f]))[#＃](?P<tag>[^{_STOP}#＃]+)")
_MAX_TAG_GRAPHEMES = 64
# The PDS answers an expired access token with 400 ExpiredToken, a bad one with 401.
_SESSION_ERRORS = frozenset({"ExpiredToken", "InvalidToken", "AuthenticationRequired"})


@dataclass(frozen=True)
class Span:
    """A facet over ``text[start:end]`` (code points): a link to ``url`` or a ``tag``."""

    start: int
    end: int
    url: str | None = None
    tag: str | None = None


class BlueskyChannel:
    """Posts to one Bluesky account with an app password, reusing a stored session."""

    def __init__(
        self,
        handle: str,
        app_password: str,
        *,
        base_url: str | None = None,
        session_store: SessionStore,
        name: str = "bluesky",
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.name = name
        self.handle = handle
        self._password = app_password
        self._store = session_store
        self.client = Client(base_url=base_url, request=Request(timeout=timeout))
        self.client.on_session_change(self._on_session_change)
        self._session: Session | None = None
        self._unsaved: str | None = None
        self._lock = threading.Lock()

    async def publish(self, post: Outgoing) -> Published:
        """Post the text with facets and its language; raise ChannelError on failure."""
        text, facets = build_rich_text(post.text, post.links)
        saved = self._store.load(self.name) if self._session is None else None
        try:
            uri, cid = await asyncio.to_thread(
                self._send, text, facets, post.lang, saved, post.reply_to
            )
        except ChannelError:
            raise
        except Exception as exc:
            raise classify_error(exc) from exc
        finally:
            # Saved here, on the event loop, rather than in atproto's worker-thread callback.
            if self._unsaved is not None:
                self._store.save(self.name, self._unsaved)
                self._unsaved = None
        handle = self._session.handle if self._session else self.handle
        url = POST_URL.format(handle=handle, rkey=_rkey(uri))
        return Published(external_id=uri, url=url, ref=cid)

    async def close(self) -> None:
        """Close the HTTP client."""
        self.client.request.close()

    def _on_session_change(self, event: SessionEvent, session: Session) -> None:
        self._session = session
        if event in (SessionEvent.CREATE, SessionEvent.REFRESH):
            self._unsaved = session.export()

    def _send(
        self,
        text: str,
        facets: list[Any],
        lang: str,
        saved: str | None,
        reply_to: ReplyTarget | None = None,
    ) -> tuple[str, str]:
        with self._lock:
            if self._session is None:
                self._log_in(saved)
            try:
                return self._create(text, facets, lang, reply_to)
            except (UnauthorizedError, BadRequestError, LoginRequiredError) as exc:
                if not _session_expired(exc):
                    raise
            log.info("Bluesky session expired; logging in again with the app password")
            self._password_login()
            return self._create(text, facets, lang, reply_to)

    def _log_in(self, saved: str | None) -> None:
        if saved:
            try:
                # Decode the token now: a broken one would otherwise fail in the middle of a post.
                _ = Session.decode(saved).access_jwt_payload
                self.client.login(session_string=saved, fetch_bsky_profile=False)
                return
            except (ValueError, AtProtocolError):
                log.warning("the saved Bluesky session is unreadable; logging in again")
        self._password_login()

    def _password_login(self) -> None:
        try:
            self.client.login(self.handle, self._password, fetch_bsky_profile=False)
        except (UnauthorizedError, BadRequestError) as exc:
            raise ChannelError(
                ErrorKind.AUTH,
                f"Bluesky refused the login ({exc}); check BLUESKY_HANDLE and "
                "BLUESKY_APP_PASSWORD (an app password, not the account password)",
            ) from exc

    def _create(
        self, text: str, facets: list[Any], lang: str, reply_to: ReplyTarget | None
    ) -> tuple[str, str]:
        if self._session is None:
            raise LoginRequiredError
        reply = self._reply_ref(reply_to) if reply_to is not None else None
        response = self.client.send_post(
            text,
            profile_identify=self._session.did,
            langs=[lang],
            facets=facets or None,
            reply_to=reply,
        )
        return str(response.uri), str(response.cid)

    def _reply_ref(self, target: ReplyTarget) -> models.AppBskyFeedPost.ReplyRef:
        """Strong refs (uri and cid) to the parent and its thread's root.

        Posts recorded before the cid was kept are looked up (getRecord) for their cid.
        """
        uri, cid = target.external_id, target.ref
        root = None
        if cid is None:
            repo = uri.removeprefix("at://").split("/", 1)[0]
            record = self.client.get_post(_rkey(uri), profile_identify=repo)
            cid = str(record.cid)
            root = record.value.reply.root if record.value.reply is not None else None
        parent = models.ComAtprotoRepoStrongRef.Main(uri=uri, cid=cid)
        return models.AppBskyFeedPost.ReplyRef(root=root or parent, parent=parent)


def build_rich_text(text: str, links: tuple[Link, ...] = ()) -> tuple[str, list[Any]]:
    """Return the text and its facets: given links, bare URLs and hashtags (UTF-8 offsets)."""
    builder = client_utils.TextBuilder()
    cursor = 0
    for span in find_spans(text, links):
        builder.text(text[cursor : span.start])
        shown = text[span.start : span.end]
        if span.url is not None:
            builder.link(shown, span.url)
        elif span.tag is not None:
            builder.tag(shown, span.tag)
        cursor = span.end
    builder.text(text[cursor:])
    return builder.build_text(), builder.build_facets()


def find_spans(text: str, links: tuple[Link, ...] = ()) -> list[Span]:
    """Find the facet spans in ``text``, in order; earlier kinds win where they overlap."""
    spans: list[Span] = []

    def free(start: int, end: int) -> bool:
        return all(end <= s.start or start >= s.end for s in spans)

    cursor = 0
    for link in links:
        start = _find_free(text, link.display, cursor, free)
        if start < 0:
            start = _find_free(text, link.display, 0, free)
        if start < 0:
            log.warning("link text %r is not in the Bluesky post; left unlinked", link.display)
            continue
        spans.append(Span(start, start + len(link.display), url=link.url))
        cursor = start + len(link.display)
    for match in _URL.finditer(text):
        url = _trim_url(match.group(0))
        if free(match.start(), match.start() + len(url)):
            spans.append(Span(match.start(), match.start() + len(url), url=url))
    for match in _TAG.finditer(text):
        tag = _trim_punctuation(match.group("tag"))
        end = match.start("tag") + len(tag)
        if _valid_tag(tag) and free(match.start(), end):
            spans.append(Span(match.start(), end, tag=tag))
    return sorted(spans, key=lambda s: s.start)


def _find_free(text: str, needle: str, start: int, free: Callable[[int, int], bool]) -> int:
    if not needle:
        return -1
    at = text.find(needle, start)
    while at >= 0 and not free(at, at + len(needle)):
        at = text.find(needle, at + 1)
    return at


def _trim_url(url: str) -> str:
    # Keep a closing parenthesis that belongs to the URL, as in Wikipedia links.
    while url:
        last = url[-1]
        if last == ")" and url.count("(") >= url.count(")"):
            break
        if last not in "/-_" and unicodedata.category(last).startswith("P"):
            url = url[:-1]
            continue
        break
    return url


def _trim_punctuation(value: str) -> str:
    while value and unicodedata.category(value[-1]).startswith("P"):
        value = value[:-1]
    return value


def _valid_tag(tag: str) -> bool:
    # Like the Bluesky app: not only digits, at most 64 graphemes.
    has_word = any(not ch.isdigit() and not unicodedata.category(ch).startswith("P") for ch in tag)
    return has_word and 0 < grapheme.length(tag) <= _MAX_TAG_GRAPHEMES


def _rkey(uri: str) -> str:
    return uri.rsplit("/", 1)[-1]


def _error_name(exc: RequestErrorBase) -> str | None:
    content = exc.response.content if exc.response is not None else None
    name = getattr(content, "error", None)
    return name if isinstance(name, str) else None


def _session_expired(exc: AtProtocolError) -> bool:
    if isinstance(exc, LoginRequiredError):
        return True
    if isinstance(exc, UnauthorizedError):
        return True
    return isinstance(exc, BadRequestError) and _error_name(exc) in _SESSION_ERRORS


def classify_error(exc: BaseException) -> ChannelError:
    """Translate an atproto or httpx exception into a ChannelError."""
    if isinstance(exc, ChannelError):
        return exc
    if isinstance(exc, RateLimitExceededError):
        return ChannelError(ErrorKind.RATE_LIMITED, f"Bluesky rate limit hit: {exc}", _wait(exc))
    if isinstance(exc, InvokeTimeoutError):
        if isinstance(exc.__cause__, httpx.ConnectTimeout | httpx.PoolTimeout):
            return ChannelError(ErrorKind.TRANSIENT, "could not connect to Bluesky in time")
        return ChannelError(
            ErrorKind.UNCERTAIN, "Bluesky did not answer in time; the post may be published"
        )
    if isinstance(exc, NetworkError):
        if exc.response is not None and exc.response.status_code == 413:
            return ChannelError(
                ErrorKind.PERMANENT, f"Bluesky refused the post as too large: {exc}"
            )
        return ChannelError(
            ErrorKind.TRANSIENT, f"could not reach Bluesky: {exc.__cause__ or exc}"
        )
    if isinstance(exc, AtProtocolError) and _session_expired(exc):
        return ChannelError(ErrorKind.AUTH, f"Bluesky refused the session: {exc}")
    if isinstance(exc, RequestErrorBase):
        status = exc.response.status_code if exc.response is not None else None
        if status is not None and status >= 500:
            return ChannelError(ErrorKind.TRANSIENT, f"Bluesky server error: {exc}")
        return ChannelError(ErrorKind.PERMANENT, f"Bluesky rejected the post: {exc}")
    if isinstance(exc, httpx.RemoteProtocolError):
        # The connection dropped after the request went out: the post may exist.
        return ChannelError(ErrorKind.UNCERTAIN, f"Bluesky connection broke mid-request: {exc}")
    if isinstance(exc, httpx.TransportError):
        return ChannelError(ErrorKind.TRANSIENT, f"could not reach Bluesky: {exc}")
    return ChannelError(ErrorKind.UNCERTAIN, f"unexpected error posting to Bluesky: {exc!r}")


def _wait(exc: RateLimitExceededError) -> float | None:
    reset = exc.response.headers.get("ratelimit-reset") if exc.response is not None else None
    if reset is not None:
        try:
            return max(float(reset) - time.time(), 1.0)
        except ValueError:
            pass
    retry_after = exc.retry_after
    return max(float(retry_after), 1.0) if retry_after is not None else None
