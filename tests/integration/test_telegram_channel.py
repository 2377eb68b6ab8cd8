"""The Telegram channel publishes through real PTB to the fake Bot API, on both transports."""

from __future__ import annotations

import asyncio
import json

import pytest
from telegram import Bot

from bot.channels import ChannelError, ErrorKind, Outgoing, Published
from bot.channels.telegram import TelegramChannel, message_link, split_html
from bot.render.limits import telegram_length
from tests.fakes.telegram_api import FakeBotAPI
from tests.fakes.telegram_fixtures import (  # noqa: F401 (fixtures by name)
    TOKEN,
    bot_fixture,
    fake_api_fixture,
    make_bot,
    ptb_timedelta_fixture,
    transport_fixture,
)

CITATION = (
    '<i>Source: <a href="https://example.org/report?a=1&amp;b=2">OCHA situation report</a>, '
    "12 March 2026</i>"
)


def outgoing(text: str, key: str = "post-1", continuation: tuple[str, ...] = ()) -> Outgoing:
    return Outgoing(
        text=text, lang="en", item_id="f-1", idempotency_key=key, continuation=continuation
    )


def long_post(paragraphs: int = 11) -> str:
    """About 5000 visible characters of HTML paragraphs, then the citation."""
    body = [
        f"<b>Finding {n}</b>: " + "Aid convoys &amp; clinics were blocked again. " * 9
        for n in range(1, paragraphs + 1)
    ]
    return "\n\n".join([*body, CITATION])


async def failure(channel: TelegramChannel, post: Outgoing) -> ChannelError:
    with pytest.raises(ChannelError) as caught:
        await channel.publish(post)
    assert TOKEN not in caught.value.reason and TOKEN not in str(caught.value)
    return caught.value


# -- publishing -----------------------------------------------------------------------------


async def test_publish_sends_html_without_preview_and_links_the_post(
    fake_api: FakeBotAPI, bot: Bot
) -> None:
    channel = TelegramChannel(bot, "@campaign")
    text = '<b>Famine</b> &amp; siege: <a href="https://example.org">read</a>'

    published = await channel.publish(outgoing(text))

    assert published == Published(external_id="1", url="https://t.me/campaign/1")
    [sent] = fake_api.sent_messages("@campaign")
    assert sent.text == text
    assert sent.params["parse_mode"] == "HTML"
    assert json.loads(sent.params["link_preview_options"]) == {"is_disabled": True}


@pytest.mark.parametrize(
    ("chat", "url"),
    [(-1001234567890, "https://t.me/c/1234567890/1"), (777, None), (-4567, None)],
)
async def test_links_for_private_channels_and_none_elsewhere(
    fake_api: FakeBotAPI, bot: Bot, chat: int, url: str | None
) -> None:
    published = await TelegramChannel(bot, chat).publish(outgoing("Hello"))
    assert (published.external_id, published.url) == ("1", url)


async def test_link_preview_can_be_enabled(fake_api: FakeBotAPI, bot: Bot) -> None:
    await TelegramChannel(bot, "@campaign", link_preview=True).publish(outgoing("https://x.org"))
    assert "link_preview_options" not in fake_api.sent_messages()[0].params


async def test_long_post_is_split_at_paragraphs_with_the_citation_whole_last(
    fake_api: FakeBotAPI, bot: Bot
) -> None:
    text = long_post()
    assert 4096 < telegram_length(text) < 8192

    published = await TelegramChannel(bot, "@campaign").publish(outgoing(text))

    sent = [message.text for message in fake_api.sent_messages("@campaign")]
    assert len(sent) == 2
    assert (published.external_id, published.extra_ids) == ("1", ("2",))
    assert sent[-1].endswith(CITATION) and CITATION not in sent[0]
    assert all(telegram_length(part) <= 4096 for part in sent)
    assert "\n\n".join(sent) == text


async def test_continuation_parts_follow_as_messages(fake_api: FakeBotAPI, bot: Bot) -> None:
    published = await TelegramChannel(bot, -1001234567890).publish(
        outgoing("Part one", continuation=("Part two",))
    )
    assert [m.text for m in fake_api.sent_messages()] == ["Part one", "Part two"]
    assert published.extra_ids == ("2",)


async def test_a_failed_part_is_resumed_without_repeating_earlier_parts(
    fake_api: FakeBotAPI, bot: Bot
) -> None:
    channel = TelegramChannel(bot, "@campaign")
    fake_api.fail_next("sendMessage", 502, "Bad Gateway", after=1)

    error = await failure(channel, outgoing(long_post()))
    assert error.kind == ErrorKind.TRANSIENT and "part 2 of 2" in error.reason

    published = await channel.publish(outgoing(long_post()))
    assert (published.external_id, published.extra_ids) == ("1", ("2",))
    assert fake_api.duplicates == 0 and fake_api.delivered == 2


async def test_close_leaves_the_callers_bot_working(fake_api: FakeBotAPI, bot: Bot) -> None:
    channel = TelegramChannel(bot, "@campaign")
    await channel.close()
    assert (await bot.send_message(777, "still here")).message_id == 1


# -- errors ---------------------------------------------------------------------------------


async def test_flood_control_is_rate_limited_with_retry_after(
    fake_api: FakeBotAPI, bot: Bot
) -> None:
    fake_api.fail_next("sendMessage", 429, "Too Many Requests: retry after 7", retry_after=7)
    error = await failure(TelegramChannel(bot, "@campaign"), outgoing("Hi"))
    assert (error.kind, error.retry_after) == (ErrorKind.RATE_LIMITED, 7.0)


async def test_blocked_user_and_missing_membership_are_permanent(
    fake_api: FakeBotAPI, bot: Bot
) -> None:
    fake_api.block_chat(777)
    fake_api.block_chat("@campaign")

    blocked = await failure(TelegramChannel(bot, 777), outgoing("Hi"))
    not_member = await failure(TelegramChannel(bot, "@campaign"), outgoing("Hi"))

    assert blocked.kind == not_member.kind == ErrorKind.PERMANENT
    assert "blocked" in blocked.reason
    assert "not a member of the channel @campaign" in not_member.reason


async def test_chat_not_found_is_permanent(fake_api: FakeBotAPI, bot: Bot) -> None:
    fake_api.missing_chat("@gone")
    error = await failure(TelegramChannel(bot, "@gone"), outgoing("Hi"))
    assert error.kind == ErrorKind.PERMANENT and "not found" in error.reason


async def test_other_bad_requests_are_permanent(fake_api: FakeBotAPI, bot: Bot) -> None:
    error = await failure(TelegramChannel(bot, "@campaign"), outgoing("<blink>Hi</blink>"))
    assert error.kind == ErrorKind.PERMANENT and "unsupported start tag" in error.reason


async def test_migrated_group_is_followed_and_remembered(fake_api: FakeBotAPI, bot: Bot) -> None:
    fake_api.migrate_chat(-4567, -1004567)
    channel = TelegramChannel(bot, -4567)

    published = await channel.publish(outgoing("First"))
    await channel.publish(outgoing("Second", key="post-2"))

    assert channel.chat_id == channel.migrated_to == -1004567
    assert [m.text for m in fake_api.sent_messages(-1004567)] == ["First", "Second"]
    assert published.url == "https://t.me/c/4567/1"
    assert len(fake_api.calls_to("sendMessage")) == 3  # one refused, then two to the new id


async def test_rejected_token_is_auth(fake_api: FakeBotAPI, bot: Bot) -> None:
    fake_api.fail_next("sendMessage", 401, "Unauthorized")
    error = await failure(TelegramChannel(bot, "@campaign"), outgoing("Hi"))
    assert error.kind == ErrorKind.AUTH


async def test_server_errors_are_transient(transport: str) -> None:
    async with FakeBotAPI(error_rate_5xx=1.0) as fake, make_bot(fake, transport) as bot:
        error = await failure(TelegramChannel(bot, "@campaign"), outgoing("Hi"))
    assert error.kind == ErrorKind.TRANSIENT


async def test_unreachable_server_is_transient(transport: str) -> None:
    async with FakeBotAPI() as fake, make_bot(fake, transport) as bot:
        await fake.close()
        error = await failure(TelegramChannel(bot, "@campaign"), outgoing("Hi"))
    assert error.kind == ErrorKind.TRANSIENT


async def test_timeout_is_uncertain_because_the_post_may_be_out(transport: str) -> None:
    async with FakeBotAPI(timeout_rate=1.0) as fake:
        async with make_bot(fake, transport, read_timeout=0.3) as bot:
            error = await failure(TelegramChannel(bot, "@campaign"), outgoing("Hi"))
        assert error.kind == ErrorKind.UNCERTAIN
        assert [m.text for m in fake.sent_messages("@campaign")] == ["Hi"]


async def test_no_free_connection_is_transient_because_nothing_was_sent(transport: str) -> None:
    options = {"connection_pool_size": 1, "pool_timeout": 0.1, "connect_timeout": 0.1}
    async with FakeBotAPI(timeout_rate=1.0) as fake, make_bot(fake, transport, **options) as bot:
        channel = TelegramChannel(bot, "@campaign")
        holding = asyncio.create_task(channel.publish(outgoing("Held", key="held")))
        await fake.wait_for_calls("sendMessage", answered=False)

        error = await failure(channel, outgoing("Queued", key="queued"))

        await fake.close()  # answers the held request
        assert (await holding).external_id == "1"
    assert error.kind == ErrorKind.TRANSIENT
    assert [m.text for m in fake.sent_messages()] == ["Held"]


# -- splitting ------------------------------------------------------------------------------


def test_message_links() -> None:
    assert message_link("@campaign", 5) == "https://t.me/campaign/5"
    assert message_link(-1009876543210, 5) == "https://t.me/c/9876543210/5"
    assert message_link("-1009876543210", 5) == "https://t.me/c/9876543210/5"
    assert message_link(12345, 5) is None


def test_an_element_spanning_the_cut_is_closed_and_reopened() -> None:
    text = "<blockquote>" + "\n\n".join(["word " * 10] * 4) + "</blockquote>\n\nSource"
    parts = split_html(text, limit=120)
    assert len(parts) > 1
    for part in parts:
        assert telegram_length(part) <= 120
        assert part.count("<blockquote>") == part.count("</blockquote>")
    assert parts[-1].endswith("Source")


def test_a_paragraph_without_breaks_is_cut_between_words_outside_tags() -> None:
    text = " ".join(f'<a href="https://e.org/{n}">link{n}</a>' for n in range(40))
    parts = split_html(text, limit=50)
    for part in parts:
        assert telegram_length(part) <= 50
        assert part.count("<a ") == part.count("</a>")
    assert " ".join(parts) == text


def test_short_text_is_left_alone() -> None:
    assert split_html("<b>short</b>") == ["<b>short</b>"]
