"""X's POST /2/tweets for several accounts, through ``responses``: each request is signed (OAuth
1.0a) by one account's consumer key and access token, which this fake checks and records."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import responses
from oauthlib.common import Request
from oauthlib.oauth1.rfc5849 import signature

TWEETS = "https://api.twitter.com/2/tweets"


@dataclass(frozen=True)
class XAccount:
    """One X account's four OAuth 1.0a credentials, as X issues them."""

    consumer_key: str
    consumer_secret: str
    access_token: str
    access_token_secret: str

    def environment(self, suffix: str = "") -> dict[str, str]:
        """The settings naming these credentials, e.g. ``X_CONSUMER_KEY__KURDISH``."""
        return {
            f"X_CONSUMER_KEY{suffix}": self.consumer_key,
            f"X_CONSUMER_SECRET{suffix}": self.consumer_secret,
            f"X_ACCESS_TOKEN{suffix}": self.access_token,
            f"X_ACCESS_TOKEN_SECRET{suffix}": self.access_token_secret,
        }


def make_account(name: str) -> XAccount:
    return XAccount(
        f"{name}-consumer-key",
        f"{name}-consumer-secret-value",
        f"{name}-access-token",
        f"{name}-access-token-secret",
    )


@dataclass
class FakeXAccounts:
    """Answers POST /2/tweets for the accounts it knows; 401 for anyone else or a bad signature."""

    accounts: dict[str, XAccount]
    tweets: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    rejected: int = 0

    def install(self, mock: responses.RequestsMock) -> FakeXAccounts:
        mock.add_callback(responses.POST, TWEETS, callback=self._create)
        return self

    def texts(self, name: str) -> list[str]:
        return [t["text"] for t in self.tweets.get(name, [])]

    def _who(self, request: Any) -> str | None:
        header = str(request.headers.get("Authorization", ""))
        if not header.startswith("OAuth "):
            return None
        params = dict(signature.collect_parameters(headers={"Authorization": header}))
        for name, account in self.accounts.items():
            if (params.get("oauth_consumer_key"), params.get("oauth_token")) != (
                account.consumer_key,
                account.access_token,
            ):
                continue
            signed = Request(request.url, "POST", None, {"Authorization": header})
            signed.params = signature.collect_parameters(headers={"Authorization": header})
            signed.signature = dict(
                signature.collect_parameters(
                    headers={"Authorization": header}, exclude_oauth_signature=False
                )
            )["oauth_signature"]
            if signature.verify_hmac_sha1(
                signed, account.consumer_secret, account.access_token_secret
            ):
                return name
        return None

    def _create(self, request: Any) -> tuple[int, dict[str, str], str]:
        name = self._who(request)
        if name is None:
            self.rejected += 1
            body = {"title": "Unauthorized", "status": 401, "detail": "Unauthorized"}
            return 401, {}, json.dumps(body)
        sent = json.loads(request.body)
        tweet_id = str(1_870_000_000_000_000_000 + sum(map(len, self.tweets.values())) + 1)
        self.tweets.setdefault(name, []).append({"id": tweet_id, **sent})
        data = {"id": tweet_id, "text": sent["text"], "edit_history_tweet_ids": [tweet_id]}
        return 201, {}, json.dumps({"data": data})
