"""The Mastodon channel drives the real Mastodon.py against a fake instance on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from bot.app import learn_limits
from bot.channels import ChannelError, ErrorKind, Outgoing
from bot.channels.mastodon import MastodonChannel
from bot.config import load_config
from bot.library import load_library
from bot.render import Renderer
from tests.campaign_factory import Campaign
from tests.fakes.mastodon_api import (  # noqa: F401 (fixtures by name)
    FakeMastodon,
    mastodon_api_fixture,
)

STATUSES = "/api/v1/statuses"


@pytest.fixture(name="channel")
async def channel_fixture(mastodon_api: FakeMastodon) -> AsyncIterator[MastodonChannel]:
    channel = MastodonChannel(mastodon_api.base_url, mastodon_api.token, visibility="unlisted")
    yield channel
    await channel.close()


def post(text: str = "وقّعوا العريضة اليوم", content_warning: str | None = None) -> Outgoing:
    return Outgoing(
        text=text,
        lang="ar",
        item_id="item-1",
        idempotency_key="delivery-42",
        content_warning=content_warning,
    )


async def test_status_carries_language_visibility_warning_and_idempotency_key(
    mastodon_api: FakeMastodon, channel: MastodonChannel
) -> None:
    published = await channel.publish(post(content_warning="صور مؤلمة"))

    [request] = mastodon_api.calls("POST", STATUSES)
    assert request.headers["idempotency-key"] == "delivery-42"
    assert request.headers["authorization"] == f"Bearer {mastodon_api.token}"
    form = request.form()
    assert form["status"] == "وقّعوا العريضة اليوم"
    assert form["language"] == "ar"
    assert form["visibility"] == "unlisted"
    assert form["spoiler_text"] == "صور مؤلمة"
    status = mastodon_api.statuses[0]
    assert published.external_id == status["id"]
    assert published.url == status["url"]


async def test_a_retry_with_the_same_key_does_not_post_twice(
    mastodon_api: FakeMastodon, channel: MastodonChannel
) -> None:
    first = await channel.publish(post())
    again = await channel.publish(post())

    assert again == first
    assert len(mastodon_api.statuses) == 1
    assert len(mastodon_api.calls("POST", STATUSES)) == 2


async def test_max_characters_is_read_from_the_instance_once() -> None:
    with FakeMastodon(max_characters=11_000) as fake:
        channel = MastodonChannel(fake.base_url, fake.token)
        assert await channel.max_characters() == 11_000
        assert await channel.max_characters() == 11_000
        await channel.close()
        assert [r.path for r in fake.calls()] == ["/api/v2/instance/"]


async def test_max_characters_falls_back_to_the_v1_instance() -> None:
    with FakeMastodon(max_characters=1_000, instance_v2=False) as fake:
        channel = MastodonChannel(fake.base_url, fake.token)
        assert await channel.max_characters() == 1_000
        await channel.close()
        assert [r.path for r in fake.calls()] == ["/api/v2/instance/", "/api/v1/instance/"]


async def test_max_characters_is_500_when_the_instance_does_not_say() -> None:
    with FakeMastodon(max_characters=None) as fake:
        channel = MastodonChannel(fake.base_url, fake.token)
        assert await channel.max_characters() == 500
        await channel.close()


async def test_max_characters_is_500_on_error_and_asks_again_later(
    mastodon_api: FakeMastodon, channel: MastodonChannel
) -> None:
    mastodon_api.fail("GET", "/api/v2/instance/", 503, {"error": "Service Unavailable"})

    assert await channel.max_characters() == 500
    assert await channel.max_characters() == mastodon_api.max_characters == 500
    assert len(mastodon_api.calls("GET", "/api/v2/instance/")) == 2


async def test_rate_limit_throws_instead_of_sleeping(
    mastodon_api: FakeMastodon, channel: MastodonChannel
) -> None:
    # "wait" (the default) would sleep inside the call until the reset time.
    assert channel.client.ratelimit_method == "throw"
    reset = datetime.now(UTC) + timedelta(seconds=120)
    mastodon_api.fail(
        "POST",
        STATUSES,
        429,
        {"error": "Too many requests"},
        headers={
            "X-RateLimit-Limit": "300",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": reset.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        },
    )

    with pytest.raises(ChannelError) as info:
        await channel.publish(post())

    assert info.value.kind is ErrorKind.RATE_LIMITED
    # Mastodon.py shifts the reset by the server's Date header, which has whole seconds.
    assert info.value.retry_after is not None and 115 < info.value.retry_after <= 122
    assert mastodon_api.statuses == []


async def test_a_status_over_the_limit_is_permanent_with_the_instance_text(
    channel: MastodonChannel,
) -> None:
    with pytest.raises(ChannelError) as info:
        await channel.publish(post("x" * 501))

    assert info.value.kind is ErrorKind.PERMANENT
    assert "Validation failed: Text character limit of 500 exceeded" in info.value.reason
    assert "422" in info.value.reason


async def test_a_bad_token_is_an_auth_error(mastodon_api: FakeMastodon) -> None:
    channel = MastodonChannel(mastodon_api.base_url, "revoked-token-value")

    with pytest.raises(ChannelError) as info:
        await channel.publish(post())
    await channel.close()

    assert info.value.kind is ErrorKind.AUTH
    assert "The access token is invalid" in info.value.reason
    assert "revoked-token-value" not in info.value.reason


async def test_a_forbidden_action_is_an_auth_error(
    mastodon_api: FakeMastodon, channel: MastodonChannel
) -> None:
    mastodon_api.fail(
        "POST", STATUSES, 403, {"error": "This action is outside the authorized scopes"}
    )

    with pytest.raises(ChannelError) as info:
        await channel.publish(post())

    assert info.value.kind is ErrorKind.AUTH
    assert "outside the authorized scopes" in info.value.reason


@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_server_errors_are_transient(
    mastodon_api: FakeMastodon, channel: MastodonChannel, status: int
) -> None:
    mastodon_api.fail("POST", STATUSES, status, "<html>upstream error</html>")

    with pytest.raises(ChannelError) as info:
        await channel.publish(post())

    assert info.value.kind is ErrorKind.TRANSIENT


async def test_a_timeout_is_transient_because_the_key_makes_a_retry_safe(
    mastodon_api: FakeMastodon,
) -> None:
    channel = MastodonChannel(mastodon_api.base_url, mastodon_api.token, timeout=0.3)
    mastodon_api.hang("POST", STATUSES)

    with pytest.raises(ChannelError) as info:
        await channel.publish(post())
    assert info.value.kind is ErrorKind.TRANSIENT

    published = await channel.publish(post())
    await channel.close()
    assert published.external_id == mastodon_api.statuses[0]["id"]
    keys = {r.headers["idempotency-key"] for r in mastodon_api.calls("POST", STATUSES)}
    assert keys == {"delivery-42"}


async def test_an_unreachable_instance_is_transient() -> None:
    with FakeMastodon() as fake:
        base_url = fake.base_url
    channel = MastodonChannel(base_url, "token")

    with pytest.raises(ChannelError) as info:
        await channel.publish(post())
    await channel.close()

    assert info.value.kind is ErrorKind.TRANSIENT


def test_an_unknown_visibility_is_refused_at_start() -> None:
    with pytest.raises(ValueError, match="visibility"):
        MastodonChannel("http://127.0.0.1:9", "token", visibility="followers")


async def test_the_worker_learns_the_instance_limit_at_start(campaign: Campaign) -> None:
    loaded = load_config(campaign.config_path)
    library, _ = load_library(loaded.library_dir)
    renderer = Renderer(library, loaded.settings)
    with FakeMastodon(max_characters=11_000) as fake:
        channel = MastodonChannel(fake.base_url, fake.token)
        await learn_limits(renderer, {"mastodon": channel})
        await channel.close()
    assert renderer.server_limits == {"mastodon": 11_000}
    assert renderer.render(library.get("f-attacks"), "mastodon", "en").limit == 11_000
