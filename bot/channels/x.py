"""The X channel: publishes posts, and long items as reply threads, through tweepy's v2 Client."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import requests
import tweepy

from bot.channels.base import ChannelError, ErrorKind, Outgoing, Published

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 30.0
STATUS_URL = "https://x.com/i/web/status/{}"
_AUTH_HINT = (
    "check X_CONSUMER_KEY, X_CONSUMER_SECRET, X_ACCESS_TOKEN and X_ACCESS_TOKEN_SECRET, "
    "and that the access token was generated with Read and Write permission"
)
# Kinds the outbox retries: keep the ids already posted so the retry resumes the thread.
_RESUMABLE = frozenset({ErrorKind.TRANSIENT, ErrorKind.RATE_LIMITED})


class PartialPublishError(ChannelError):
    """A thread failed after its first part: ``partial`` holds the parts already on X."""

    def __init__(
        self,
        kind: ErrorKind,
        reason: str,
        retry_after: float | None = None,
        *,
        partial: Published | None = None,
    ) -> None:
        super().__init__(kind, reason, retry_after)
        self.partial = partial


class _TimeoutSession(requests.Session):
    """A requests session with a default timeout: tweepy passes none, so a call could hang."""

    def __init__(self, timeout: float) -> None:
        super().__init__()
        self.timeout = timeout

    def request(self, *args: Any, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", self.timeout)
        return super().request(*args, **kwargs)


class XChannel:
    """Posts to one X account with OAuth 1.0a user context (the bot's own access token)."""

    def __init__(
        self,
        consumer_key: str,
        consumer_secret: str,
        access_token: str,
        access_token_secret: str,
        *,
        name: str = "x",
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.name = name
        # wait_on_rate_limit=True would sleep inside the call for up to 15 minutes.
        self.client = tweepy.Client(
            consumer_key=consumer_key,
            consumer_secret=consumer_secret,
            access_token=access_token,
            access_token_secret=access_token_secret,
            wait_on_rate_limit=False,
        )
        self.client.session = _TimeoutSession(timeout)
        # Ids already posted per idempotency key, so a retried thread does not start over.
        self._posted: dict[str, list[str]] = {}

    async def publish(self, post: Outgoing) -> Published:
        """Post the text, then each continuation as a reply to the part before it."""
        parts = (post.text, *post.continuation)
        posted = self._posted.setdefault(post.idempotency_key, [])
        for number in range(len(posted), len(parts)):
            reply_to = posted[-1] if posted else None
            if reply_to is None and post.reply_to is not None:
                reply_to = post.reply_to.external_id  # a correction answers the original
            try:
                posted.append(await asyncio.to_thread(self._create, parts[number], reply_to))
            except ChannelError as error:
                if error.kind not in _RESUMABLE:
                    del self._posted[post.idempotency_key]
                if not posted:
                    raise
                raise _partial(error, posted, number + 1, len(parts)) from error
        del self._posted[post.idempotency_key]
        return _published(posted)

    async def close(self) -> None:
        """Close the HTTP session."""
        self.client.session.close()

    def _create(self, text: str, reply_to: str | None) -> str:
        try:
            response = self.client.create_tweet(text=text, in_reply_to_tweet_id=reply_to)
        except Exception as exc:
            raise classify_error(exc) from exc
        data = response.data or {}
        if "id" not in data:
            raise ChannelError(ErrorKind.UNCERTAIN, f"X answered without a post id: {data!r}")
        return str(data["id"])


def _published(ids: list[str]) -> Published:
    return Published(external_id=ids[0], url=STATUS_URL.format(ids[0]), extra_ids=tuple(ids[1:]))


def _partial(
    error: ChannelError, posted: list[str], number: int, total: int
) -> PartialPublishError:
    reason = (
        f"{error.reason} (thread part {number} of {total} failed; "
        f"already posted: {', '.join(posted)})"
    )
    return PartialPublishError(
        error.kind, reason, error.retry_after, partial=_published(list(posted))
    )


def classify_error(exc: BaseException) -> ChannelError:
    """Translate a tweepy or requests exception into a ChannelError."""
    if isinstance(exc, ChannelError):
        return exc
    if isinstance(exc, tweepy.TooManyRequests):
        return ChannelError(
            ErrorKind.RATE_LIMITED, f"X rate limit hit: {_detail(exc)}", _retry_after(exc)
        )
    if isinstance(exc, tweepy.Unauthorized):
        return ChannelError(
            ErrorKind.AUTH, f"X credentials are invalid (401): {_detail(exc)}; {_AUTH_HINT}"
        )
    if isinstance(exc, tweepy.Forbidden):
        detail = _detail(exc)
        if "duplicate content" in detail.lower():
            return ChannelError(ErrorKind.PERMANENT, f"X refused duplicate content: {detail}")
        return ChannelError(ErrorKind.PERMANENT, f"X refused the post (403): {detail}")
    if isinstance(exc, tweepy.TwitterServerError):
        return ChannelError(ErrorKind.TRANSIENT, f"X server error: {_detail(exc)}")
    if isinstance(exc, tweepy.HTTPException):
        status = exc.response.status_code
        return ChannelError(ErrorKind.PERMANENT, f"X rejected the post ({status}): {_detail(exc)}")
    # ConnectTimeout is also a ConnectionError: nothing was sent, so it is safe to retry.
    if isinstance(exc, requests.ConnectionError):
        return ChannelError(ErrorKind.TRANSIENT, f"could not reach X: {exc}")
    if isinstance(exc, requests.Timeout):
        return ChannelError(
            ErrorKind.UNCERTAIN, f"X did not answer in time; the post may be published: {exc}"
        )
    if isinstance(exc, requests.RequestException):
        return ChannelError(ErrorKind.UNCERTAIN, f"X connection failed mid-request: {exc}")
    return ChannelError(ErrorKind.UNCERTAIN, f"unexpected error posting to X: {exc!r}")


def _detail(exc: tweepy.HTTPException) -> str:
    messages = [str(message) for message in exc.api_messages]
    return "; ".join(messages) or str(exc)


def _retry_after(exc: tweepy.TooManyRequests) -> float | None:
    reset = exc.reset_time
    if reset is None:
        return None
    # Never 0: the outbox would read it as "unknown" and a retry at once would hit the limit.
    return max(float(reset) - time.time(), 1.0)
