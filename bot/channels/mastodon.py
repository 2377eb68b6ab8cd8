"""The Mastodon channel: publishes statuses to one account through Mastodon.py."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from typing import Any

from mastodon import (
    Mastodon,
    MastodonAPIError,
    MastodonError,
    MastodonNetworkError,
    MastodonNotFoundError,
    MastodonRatelimitError,
    MastodonServerError,
    MastodonUnauthorizedError,
)

from bot.channels.base import ChannelError, ErrorKind, Outgoing, Published

log = logging.getLogger(__name__)

DEFAULT_MAX_CHARACTERS = 500
DEFAULT_TIMEOUT = 30.0
VISIBILITIES = ("public", "unlisted", "private", "direct")


class MastodonChannel:
    """Posts statuses with a language, visibility, content warning and an Idempotency-Key."""

    def __init__(
        self,
        api_base_url: str,
        access_token: str,
        *,
        visibility: str = "public",
        name: str = "mastodon",
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        if visibility not in VISIBILITIES:
            raise ValueError(f"Mastodon visibility must be one of {', '.join(VISIBILITIES)}")
        self.name = name
        self.visibility = visibility
        # The default ratelimit_method="wait" sleeps inside the call, up to 5 minutes a time.
        self.client = Mastodon(
            api_base_url=api_base_url,
            access_token=access_token,
            ratelimit_method="throw",
            request_timeout=timeout,
        )
        self._max_characters: int | None = None

    async def publish(self, post: Outgoing) -> Published:
        """Post one status; raise ChannelError on failure."""
        try:
            status = await asyncio.to_thread(self._post, post)
        except MastodonError as exc:
            raise self._classify(exc) from exc
        status_id = status.get("id")
        if not status_id:  # Mastodon.py reads a missing field as None
            raise ChannelError(
                ErrorKind.UNCERTAIN, "Mastodon answered without a status id; it may be published"
            )
        url = status.get("url") or status.get("uri")
        return Published(external_id=str(status_id), url=str(url) if url else None)

    async def max_characters(self) -> int:
        """Return the instance's status length limit, or 500 when it does not say."""
        if self._max_characters is None:
            found = await asyncio.to_thread(self._read_max_characters)
            if found is None:
                return DEFAULT_MAX_CHARACTERS
            self._max_characters = found
        return self._max_characters

    async def close(self) -> None:
        """Close the HTTP session."""
        self.client.session.close()

    def _post(self, post: Outgoing) -> Mapping[str, Any]:
        status: Mapping[str, Any] = self.client.status_post(
            post.text,
            language=post.lang,
            visibility=self.visibility,
            spoiler_text=post.content_warning,
            idempotency_key=post.idempotency_key,
            in_reply_to_id=post.reply_to.external_id if post.reply_to else None,
        )
        return status

    def _read_max_characters(self) -> int | None:
        # /api/v2/instance exists since Mastodon 4.0; older servers and forks only have v1.
        for fetch in (self.client.instance_v2, self.client.instance_v1):
            try:
                info: Any = fetch()
            except (MastodonNotFoundError, MastodonUnauthorizedError):
                continue
            except MastodonError as exc:
                log.warning("could not read the Mastodon instance limits: %s", exc)
                return None
            value = _dig(info, "configuration", "statuses", "max_characters")
            if value is None:
                value = _dig(info, "max_toot_chars")  # Pleroma and Akkoma
            if isinstance(value, int) and not isinstance(value, bool) and value > 0:
                return value
        return None

    def _classify(self, exc: MastodonError) -> ChannelError:
        if isinstance(exc, MastodonRatelimitError):
            reset = self.client.ratelimit_reset
            retry_after = max(float(reset) - time.time(), 1.0) if reset else None
            return ChannelError(ErrorKind.RATE_LIMITED, "Mastodon rate limit hit", retry_after)
        if isinstance(exc, MastodonNetworkError):
            # Mastodon.py wraps timeouts as network errors too. A timed-out post may have been
            # published, but the Idempotency-Key makes the server answer a retry with the same
            # status for an hour instead of posting again, and the outbox's retries (at most 5,
            # backoff capped at 10 minutes) fit in that hour. So a retry is safe: TRANSIENT.
            return ChannelError(ErrorKind.TRANSIENT, f"could not reach Mastodon: {exc}")
        if isinstance(exc, MastodonServerError):
            return ChannelError(ErrorKind.TRANSIENT, f"Mastodon server error: {_api_text(exc)}")
        if isinstance(exc, MastodonAPIError):
            status = _api_status(exc)
            if status in (401, 403):
                return ChannelError(
                    ErrorKind.AUTH,
                    f"Mastodon refused the access token ({status}): {_api_text(exc)}; "
                    "check MASTODON_ACCESS_TOKEN and its write:statuses scope",
                )
            return ChannelError(
                ErrorKind.PERMANENT, f"Mastodon rejected the status ({status}): {_api_text(exc)}"
            )
        return ChannelError(ErrorKind.PERMANENT, f"Mastodon.py refused the status: {exc}")


def _dig(data: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(data, Mapping):
            return None
        data = data.get(key)
    return data


def _api_status(exc: MastodonAPIError) -> int | None:
    # Mastodon.py raises API errors as (message, status code, reason, error text).
    return exc.args[1] if len(exc.args) > 1 and isinstance(exc.args[1], int) else None


def _api_text(exc: MastodonAPIError) -> str:
    if len(exc.args) >= 4:
        return str(exc.args[3] or exc.args[2])
    return str(exc)
