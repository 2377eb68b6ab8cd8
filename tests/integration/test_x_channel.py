"""The X channel drives tweepy's real Client; api.twitter.com is intercepted by ``responses``."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Iterator

import pytest
import requests
import responses

from bot.channels import ChannelError, ErrorKind, Outgoing, Published
from bot.channels.x import PartialPublishError, XChannel

TWEETS = "https://api.twitter.com/2/tweets"
SECRETS = ("consumer-secret-value", "access-secret-value")
DUPLICATE = {
    "detail": "You are not allowed to create a Tweet with duplicate content.",
    "type": "about:blank",
    "title": "Forbidden",
    "status": 403,
}


@pytest.fixture(name="x_api")
def x_api_fixture() -> Iterator[responses.RequestsMock]:
    """Every request tweepy makes is answered here; an unexpected one fails, none escapes."""
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        assert not mock.passthru_prefixes
        yield mock


@pytest.fixture(name="channel")
async def channel_fixture() -> AsyncIterator[XChannel]:
    channel = XChannel("consumer-key", SECRETS[0], "access-token", SECRETS[1])
    yield channel
    await channel.close()


def created(tweet_id: str, text: str = "ok") -> dict[str, object]:
    return {"data": {"id": tweet_id, "text": text, "edit_history_tweet_ids": [tweet_id]}}


def post(text: str = "Sign the petition", *continuation: str, key: str = "d-1") -> Outgoing:
    return Outgoing(
        text=text, lang="en", item_id="item-1", idempotency_key=key, continuation=continuation
    )


def bodies(mock: responses.RequestsMock) -> list[object]:
    return [json.loads(call.request.body or b"{}") for call in mock.calls]


async def test_post_records_id_and_url(x_api: responses.RequestsMock, channel: XChannel) -> None:
    x_api.add(responses.POST, TWEETS, json=created("1445880548472328192"), status=201)

    published = await channel.publish(post("Sign the petition"))

    assert published == Published(
        external_id="1445880548472328192",
        url="https://x.com/i/web/status/1445880548472328192",
    )
    request = x_api.calls[0].request
    assert bodies(x_api) == [{"text": "Sign the petition"}]
    assert str(request.headers["Authorization"]).startswith("OAuth ")
    assert 'oauth_consumer_key="consumer-key"' in str(request.headers["Authorization"])
    assert request.req_kwargs["timeout"] == 30.0  # tweepy sets none; a hung call never returns


async def test_continuation_is_posted_as_a_reply_thread(
    x_api: responses.RequestsMock, channel: XChannel
) -> None:
    for tweet_id in ("101", "102", "103"):
        x_api.add(responses.POST, TWEETS, json=created(tweet_id), status=201)

    published = await channel.publish(post("1/3 first", "2/3 second", "3/3 third"))

    assert published.external_id == "101"
    assert published.url == "https://x.com/i/web/status/101"
    assert published.extra_ids == ("102", "103")
    assert bodies(x_api) == [
        {"text": "1/3 first"},
        {"text": "2/3 second", "reply": {"in_reply_to_tweet_id": "101"}},
        {"text": "3/3 third", "reply": {"in_reply_to_tweet_id": "102"}},
    ]


async def test_a_failed_thread_keeps_the_posted_ids_and_resumes(
    x_api: responses.RequestsMock, channel: XChannel
) -> None:
    x_api.add(responses.POST, TWEETS, json=created("201"), status=201)
    x_api.add(responses.POST, TWEETS, body="Service Unavailable", status=503)

    with pytest.raises(PartialPublishError) as info:
        await channel.publish(post("first", "second", key="d-7"))

    error = info.value
    assert error.kind is ErrorKind.TRANSIENT
    assert error.partial == Published("201", "https://x.com/i/web/status/201")
    assert "201" in error.reason and "part 2 of 2" in error.reason

    # The outbox retries a transient failure: only the missing part goes out, as a reply.
    x_api.add(responses.POST, TWEETS, json=created("202"), status=201)
    published = await channel.publish(post("first", "second", key="d-7"))
    assert (published.external_id, published.extra_ids) == ("201", ("202",))
    assert bodies(x_api)[2] == {"text": "second", "reply": {"in_reply_to_tweet_id": "201"}}


async def test_a_refused_reply_fails_permanently_with_the_first_id(
    x_api: responses.RequestsMock, channel: XChannel
) -> None:
    refused = {
        "detail": "Reply to this conversation is not allowed because you have not been "
        "mentioned or otherwise engaged by the author of the post you are replying to.",
        "title": "Forbidden",
        "status": 403,
    }
    x_api.add(responses.POST, TWEETS, json=created("301"), status=201)
    x_api.add(responses.POST, TWEETS, json=refused, status=403)

    with pytest.raises(PartialPublishError) as info:
        await channel.publish(post("first", "second"))

    assert info.value.kind is ErrorKind.PERMANENT
    assert info.value.partial is not None and info.value.partial.external_id == "301"
    assert "Reply to this conversation is not allowed" in info.value.reason


async def test_rate_limit_reports_seconds_until_reset_without_waiting(
    x_api: responses.RequestsMock, channel: XChannel
) -> None:
    assert channel.client.wait_on_rate_limit is False
    reset = int(time.time()) + 900
    x_api.add(
        responses.POST,
        TWEETS,
        json={"title": "Too Many Requests", "status": 429, "detail": "Too Many Requests"},
        status=429,
        headers={"x-rate-limit-reset": str(reset), "x-rate-limit-remaining": "0"},
    )

    with pytest.raises(ChannelError) as info:
        await channel.publish(post())

    error = info.value
    assert error.kind is ErrorKind.RATE_LIMITED
    assert not isinstance(error, PartialPublishError)
    retry_after = error.retry_after
    assert retry_after is not None and 890 < retry_after <= 900


async def test_duplicate_content_is_permanent(
    x_api: responses.RequestsMock, channel: XChannel
) -> None:
    x_api.add(responses.POST, TWEETS, json=DUPLICATE, status=403)

    with pytest.raises(ChannelError) as info:
        await channel.publish(post())

    assert info.value.kind is ErrorKind.PERMANENT
    assert "duplicate content" in str(info.value)


async def test_other_forbidden_is_permanent_with_the_detail(
    x_api: responses.RequestsMock, channel: XChannel
) -> None:
    detail = "You are not permitted to perform this action."
    x_api.add(responses.POST, TWEETS, json={"detail": detail, "status": 403}, status=403)

    with pytest.raises(ChannelError) as info:
        await channel.publish(post())

    assert info.value.kind is ErrorKind.PERMANENT
    assert detail in str(info.value) and "duplicate" not in str(info.value)


async def test_bad_credentials_are_an_auth_error_without_secrets(
    x_api: responses.RequestsMock, channel: XChannel
) -> None:
    x_api.add(
        responses.POST,
        TWEETS,
        json={
            "title": "Unauthorized",
            "type": "about:blank",
            "status": 401,
            "detail": "Unauthorized",
        },
        status=401,
    )

    with pytest.raises(ChannelError) as info:
        await channel.publish(post())

    assert info.value.kind is ErrorKind.AUTH
    assert str(info.value).startswith("X credentials are invalid (401)")
    assert not any(secret in str(info.value) for secret in SECRETS)


@pytest.mark.parametrize(
    ("answer", "kind"),
    [
        ({"body": "Service Unavailable", "status": 503}, ErrorKind.TRANSIENT),
        ({"json": {"title": "Internal Server Error"}, "status": 500}, ErrorKind.TRANSIENT),
        ({"body": requests.ConnectionError("connection refused")}, ErrorKind.TRANSIENT),
        ({"body": requests.ConnectTimeout("connect timed out")}, ErrorKind.TRANSIENT),
        ({"body": requests.ReadTimeout("read timed out")}, ErrorKind.UNCERTAIN),
        ({"json": {"detail": "Invalid Request"}, "status": 400}, ErrorKind.PERMANENT),
    ],
    ids=["503", "500", "connection-error", "connect-timeout", "read-timeout", "400"],
)
async def test_failures_are_classified(
    x_api: responses.RequestsMock,
    channel: XChannel,
    answer: dict[str, object],
    kind: ErrorKind,
) -> None:
    x_api.add(responses.POST, TWEETS, **answer)  # type: ignore[arg-type]

    with pytest.raises(ChannelError) as info:
        await channel.publish(post())

    assert info.value.kind is kind
