"""The Bluesky channel drives the real atproto Client against a fake PDS on loopback."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from bot.channels import ChannelError, ErrorKind, Link, Outgoing
from bot.channels.bluesky import BlueskyChannel, find_spans
from bot.render.limits import bluesky_length
from tests.fakes.bluesky_api import (  # noqa: F401 (fixtures by name)
    CREATE_RECORD,
    CREATE_SESSION,
    REFRESH_SESSION,
    FakeBluesky,
    bluesky_api_fixture,
)

FSI, PDI = "\u2068", "\u2069"


class MemorySessionStore:
    """Keeps session strings in a dict, counting the saves."""

    def __init__(self, **saved: str) -> None:
        self.saved = dict(saved)
        self.saves = 0

    def load(self, channel: str) -> str | None:
        return self.saved.get(channel)

    def save(self, channel: str, session: str) -> None:
        self.saved[channel] = session
        self.saves += 1


@pytest.fixture(name="store")
def store_fixture() -> MemorySessionStore:
    return MemorySessionStore()


@pytest.fixture(name="channel")
async def channel_fixture(
    bluesky_api: FakeBluesky, store: MemorySessionStore
) -> AsyncIterator[BlueskyChannel]:
    channel = make_channel(bluesky_api, store)
    yield channel
    await channel.close()


def make_channel(fake: FakeBluesky, store: MemorySessionStore, **options: Any) -> BlueskyChannel:
    return BlueskyChannel(
        fake.handle, fake.password, base_url=fake.base_url, session_store=store, **options
    )


def post(text: str = "Sign the petition today", lang: str = "en", *links: Link) -> Outgoing:
    return Outgoing(text=text, lang=lang, item_id="item-1", idempotency_key="d-1", links=links)


def faceted(record: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Each facet as (the UTF-8 bytes it covers, decoded; its feature)."""
    data = record["text"].encode("utf-8")
    return [
        (
            data[f["index"]["byteStart"] : f["index"]["byteEnd"]].decode("utf-8"),
            {k: v for k, v in f["features"][0].items() if k != "$type"},
        )
        for f in record["facets"]
    ]


async def test_logs_in_once_and_saves_the_session(
    bluesky_api: FakeBluesky, store: MemorySessionStore, channel: BlueskyChannel
) -> None:
    first = await channel.publish(post("one"))
    second = await channel.publish(post("two"))

    assert len(bluesky_api.calls("POST", CREATE_SESSION)) == 1
    assert len(bluesky_api.calls("POST", CREATE_RECORD)) == 2
    assert store.saves == 1
    assert store.saved["bluesky"].startswith(f"{bluesky_api.handle}:::{bluesky_api.did}:::")
    assert first.external_id == f"at://{bluesky_api.did}/app.bsky.feed.post/3lcampaign0001"
    assert first.url == f"https://bsky.app/profile/{bluesky_api.handle}/post/3lcampaign0001"
    assert second.external_id.endswith("/3lcampaign0002")
    login = bluesky_api.calls("POST", CREATE_SESSION)[0].json()
    assert login == {"identifier": bluesky_api.handle, "password": bluesky_api.password}


async def test_a_new_instance_reuses_the_saved_session(
    bluesky_api: FakeBluesky, store: MemorySessionStore, channel: BlueskyChannel
) -> None:
    await channel.publish(post("before restart"))
    after_restart = make_channel(bluesky_api, store)

    await after_restart.publish(post("after restart"))
    await after_restart.close()

    assert len(bluesky_api.calls("POST", CREATE_SESSION)) == 1
    assert len(bluesky_api.posts) == 2


async def test_a_refreshed_session_is_saved(bluesky_api: FakeBluesky) -> None:
    # Less than 15 minutes left: atproto refreshes before the call and tells the channel.
    stale = bluesky_api.session_string(access_ttl=600)
    store = MemorySessionStore(bluesky=stale)
    channel = make_channel(bluesky_api, store)

    await channel.publish(post())
    await channel.close()

    assert len(bluesky_api.calls("POST", REFRESH_SESSION)) == 1
    assert bluesky_api.calls("POST", CREATE_SESSION) == []
    assert store.saves == 1 and store.saved["bluesky"] != stale
    assert len(bluesky_api.posts) == 1


async def test_an_expired_token_logs_in_again_once(
    bluesky_api: FakeBluesky, store: MemorySessionStore, channel: BlueskyChannel
) -> None:
    await channel.publish(post("before"))
    saved = store.saved["bluesky"]
    bluesky_api.expire_sessions()

    await channel.publish(post("after"))

    assert len(bluesky_api.calls("POST", CREATE_SESSION)) == 2
    records = bluesky_api.calls("POST", CREATE_RECORD)
    assert len(records) == 3  # one refused with 400 ExpiredToken, then the retry
    assert [p["text"] for p in bluesky_api.posts] == ["before", "after"]
    assert store.saved["bluesky"] != saved


async def test_a_revoked_saved_session_falls_back_to_the_password(
    bluesky_api: FakeBluesky,
) -> None:
    store = MemorySessionStore(bluesky=bluesky_api.session_string(access_ttl=600))
    bluesky_api.expire_sessions()  # the refresh token no longer works either
    channel = make_channel(bluesky_api, store)

    published = await channel.publish(post())
    await channel.close()

    assert published.external_id.startswith(f"at://{bluesky_api.did}/")
    assert len(bluesky_api.calls("POST", REFRESH_SESSION)) == 1
    assert len(bluesky_api.calls("POST", CREATE_SESSION)) == 1


async def test_an_unreadable_saved_session_falls_back_to_the_password(
    bluesky_api: FakeBluesky,
) -> None:
    store = MemorySessionStore(bluesky="h:::did:plc:x:::not-a-jwt:::nope:::http://127.0.0.1:9")
    channel = make_channel(bluesky_api, store)

    await channel.publish(post())
    await channel.close()

    assert len(bluesky_api.calls("POST", CREATE_SESSION)) == 1
    assert len(bluesky_api.posts) == 1


async def test_a_failed_login_again_is_an_auth_error(
    bluesky_api: FakeBluesky, channel: BlueskyChannel
) -> None:
    await channel.publish(post("before"))
    bluesky_api.expire_sessions()
    bluesky_api.password = "changed-by-someone"

    with pytest.raises(ChannelError) as info:
        await channel.publish(post("after"))

    assert info.value.kind is ErrorKind.AUTH
    assert "BLUESKY_APP_PASSWORD" in info.value.reason
    assert len(bluesky_api.calls("POST", CREATE_SESSION)) == 2  # exactly one more try


async def test_a_wrong_app_password_is_an_auth_error_without_the_password(
    bluesky_api: FakeBluesky, store: MemorySessionStore
) -> None:
    channel = BlueskyChannel(
        bluesky_api.handle,
        "wrong-pass-word-1234",
        base_url=bluesky_api.base_url,
        session_store=store,
    )

    with pytest.raises(ChannelError) as info:
        await channel.publish(post())
    await channel.close()

    assert info.value.kind is ErrorKind.AUTH
    assert "Invalid identifier or password" in info.value.reason
    assert "wrong-pass-word-1234" not in info.value.reason
    assert store.saves == 0


async def test_arabic_post_links_the_short_display_text_with_utf8_offsets(
    bluesky_api: FakeBluesky, channel: BlueskyChannel
) -> None:
    display = "example.org/…"
    url = "https://example.org/reports/2024/water-access?lang=ar"
    text = f"وقّعوا العريضة 👨‍👩‍👧 من أجل المياه: {FSI}{display}{PDI} الآن"

    await channel.publish(post(text, "ar", Link(display, url)))

    [record] = bluesky_api.posts
    assert record["text"] == text
    assert record["langs"] == ["ar"]
    [facet] = record["facets"]
    start = len(text[: text.index(display)].encode("utf-8"))
    assert facet["index"]["byteStart"] == start
    assert facet["index"]["byteEnd"] == start + len(display.encode("utf-8"))
    assert faceted(record) == [(display, {"uri": url})]


async def test_sorani_hashtags_and_bare_urls_become_facets(
    bluesky_api: FakeBluesky, channel: BlueskyChannel
) -> None:
    text = (
        f"🇮🇶 ئاو مافە {FSI}#کوردستان{PDI} #Kobani_2024، #2024 "
        f"بخوێنەوە: https://example.org/ku/report، سوپاس #مافی_مرۆڤ."
    )

    await channel.publish(post(text, "ckb"))

    [record] = bluesky_api.posts
    assert record["langs"] == ["ckb"]
    assert faceted(record) == [
        ("#کوردستان", {"tag": "کوردستان"}),
        ("#Kobani_2024", {"tag": "Kobani_2024"}),
        ("https://example.org/ku/report", {"uri": "https://example.org/ku/report"}),
        ("#مافی_مرۆڤ", {"tag": "مافی_مرۆڤ"}),
    ]


async def test_rate_limit_reports_seconds_until_reset(
    bluesky_api: FakeBluesky, channel: BlueskyChannel
) -> None:
    reset = int(time.time()) + 300
    bluesky_api.fail(
        "POST",
        CREATE_RECORD,
        429,
        {"error": "RateLimitExceeded", "message": "Rate Limit Exceeded"},
        headers={
            "ratelimit-limit": "5000",
            "ratelimit-remaining": "0",
            "ratelimit-reset": str(reset),
        },
    )

    with pytest.raises(ChannelError) as info:
        await channel.publish(post())

    assert info.value.kind is ErrorKind.RATE_LIMITED
    assert info.value.retry_after is not None and 290 < info.value.retry_after <= 300


async def test_a_post_over_300_graphemes_is_permanent(channel: BlueskyChannel) -> None:
    with pytest.raises(ChannelError) as info:
        await channel.publish(post("ا" * 301, "ar"))

    assert info.value.kind is ErrorKind.PERMANENT
    assert "InvalidRequest" in info.value.reason and "300 graphemes" in info.value.reason


async def test_a_post_over_3000_bytes_is_permanent_however_few_graphemes(
    channel: BlueskyChannel,
) -> None:
    family = "👨‍👩‍👧‍👦"  # one grapheme, 25 bytes
    text = family * 121

    assert bluesky_length(text) > 300  # so `check` refuses it before it gets here
    with pytest.raises(ChannelError) as info:
        await channel.publish(post(text))

    assert info.value.kind is ErrorKind.PERMANENT
    assert "must not be longer than 3000 characters" in info.value.reason


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_server_errors_are_transient(
    bluesky_api: FakeBluesky, channel: BlueskyChannel, status: int
) -> None:
    bluesky_api.fail("POST", CREATE_RECORD, status, {"error": "InternalServerError"})

    with pytest.raises(ChannelError) as info:
        await channel.publish(post())

    assert info.value.kind is ErrorKind.TRANSIENT


async def test_a_timeout_after_sending_is_uncertain(
    bluesky_api: FakeBluesky, store: MemorySessionStore
) -> None:
    channel = make_channel(bluesky_api, store, timeout=0.3)
    bluesky_api.hang("POST", CREATE_RECORD)

    with pytest.raises(ChannelError) as info:
        await channel.publish(post())
    await channel.close()

    assert info.value.kind is ErrorKind.UNCERTAIN


async def test_an_unreachable_server_is_transient(store: MemorySessionStore) -> None:
    with FakeBluesky() as fake:
        base_url = fake.base_url  # nothing listens there once the block ends
    channel = BlueskyChannel(fake.handle, fake.password, base_url=base_url, session_store=store)

    with pytest.raises(ChannelError) as info:
        await channel.publish(post())
    await channel.close()

    assert info.value.kind is ErrorKind.TRANSIENT


def test_overlapping_matches_keep_the_given_link() -> None:
    text = "Read https://example.org/#top and #vote"
    link = Link("https://example.org/#top", "https://example.org/full#top")

    spans = find_spans(text, (link,))

    assert [(text[s.start : s.end], s.url or s.tag) for s in spans] == [
        ("https://example.org/#top", "https://example.org/full#top"),
        ("#vote", "vote"),
    ]


def test_a_repeated_display_text_links_each_occurrence_in_order() -> None:
    text = "a.org/… then a.org/…"
    links = (Link("a.org/…", "https://a.org/1"), Link("a.org/…", "https://a.org/2"))

    spans = find_spans(text, links)

    assert [(s.start, s.url) for s in spans] == [(0, "https://a.org/1"), (13, "https://a.org/2")]
