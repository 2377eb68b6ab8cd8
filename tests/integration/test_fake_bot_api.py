"""The fake Bot API behaves like the real one for PTB: long polling, payloads, errors, caps."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from telegram import Bot, ChatMemberBanned, Message, Update
from telegram.constants import ChatType, MessageEntityType
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Conflict,
    EndPointNotFound,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TimedOut,
)
from telegram.ext import Application, CommandHandler, ContextTypes

from tests.fakes.telegram_api import FakeBotAPI
from tests.fakes.telegram_fixtures import (  # noqa: F401 (fixtures by name)
    TOKEN,
    TRANSPORTS,
    bot_fixture,
    fake_api_fixture,
    make_bot,
    ptb_timedelta_fixture,
    transport_fixture,
)

REPO = Path(__file__).resolve().parents[2]


async def raw_call(fake: FakeBotAPI, method: str, **params: Any) -> tuple[int, dict[str, Any]]:
    """POST a JSON body the way non-PTB clients do; return the status and the envelope."""
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{fake.base_url}{TOKEN}/{method}", json=params) as response,
    ):
        return response.status, await response.json()


# -- long polling and updates ----------------------------------------------------------------


async def test_long_poll_returns_as_soon_as_an_update_is_pushed(
    fake_api: FakeBotAPI, bot: Bot
) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    poll = asyncio.create_task(bot.get_updates(timeout=20))
    await fake_api.wait_for_calls("getUpdates", answered=False)
    fake_api.push_text(777, 777, "/start campaign", language_code="ar")

    updates = await asyncio.wait_for(poll, 5)

    assert loop.time() - started < 5
    message = updates[0].message
    assert message is not None and message.text == "/start campaign"
    assert message.from_user is not None and message.from_user.language_code == "ar"
    assert message.chat.type == ChatType.PRIVATE
    entity = message.entities[0]
    assert (entity.type, entity.offset, entity.length) == (MessageEntityType.BOT_COMMAND, 0, 6)


async def test_a_polling_application_answers_a_command(
    fake_api: FakeBotAPI, transport: str
) -> None:
    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        await update.effective_message.reply_html("<b>Welcome</b>")

    request = TRANSPORTS[transport]
    application = (
        Application.builder()
        .token(TOKEN)
        .base_url(fake_api.base_url)
        .request(request())
        .get_updates_request(request())
        .build()
    )
    application.add_handler(CommandHandler("start", start))
    async with application:
        assert application.updater is not None
        await application.updater.start_polling(poll_interval=0, timeout=10)
        await application.start()
        fake_api.push_text(777, 777, "/start")
        await fake_api.wait_for(lambda: bool(fake_api.sent_messages(777)))
        await application.updater.stop()
        await application.stop()

    [reply] = fake_api.sent_messages(777)
    assert (reply.text, reply.params["parse_mode"]) == ("<b>Welcome</b>", "HTML")
    assert fake_api.pending_updates() == []  # the stop call confirmed the update
    assert [c.method for c in fake_api.calls[:2]] == ["getMe", "deleteWebhook"]


async def test_offset_confirms_updates(fake_api: FakeBotAPI, bot: Bot) -> None:
    first = fake_api.push_text(777, 777, "hello")
    fake_api.push_text(777, 777, "again")

    updates = await bot.get_updates(timeout=0)
    assert [u.update_id for u in updates] == [first["update_id"], first["update_id"] + 1]
    assert await bot.get_updates(offset=updates[-1].update_id + 1, timeout=0) == ()
    assert fake_api.pending_updates() == []


async def test_empty_long_poll_waits_for_its_timeout(fake_api: FakeBotAPI, bot: Bot) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await bot.get_updates(timeout=1) == ()
    assert loop.time() - started >= 0.9


async def test_callback_membership_and_raw_updates_parse(fake_api: FakeBotAPI, bot: Bot) -> None:
    sent = await bot.send_message(777, "Pick a language")
    fake_api.push_callback(777, 777, "lang:en", sent.message_id)
    fake_api.push_my_chat_member(777, 777, "kicked")
    fake_api.push_raw({"edited_message": {**fake_api.push_text(777, 777, "x")["message"]}})
    fake_api.push_raw(
        {
            "channel_post": {
                "message_id": 5,
                "date": 1_700_000_000,
                "chat": fake_api.chat_object(-1001234567890),
                "sticker": {
                    "file_id": "s",
                    "file_unique_id": "s",
                    "type": "regular",
                    "width": 512,
                    "height": 512,
                    "is_animated": False,
                    "is_video": False,
                },
            }
        }
    )

    updates = await bot.get_updates(timeout=0)

    query = updates[0].callback_query
    assert query is not None and query.data == "lang:en"
    assert query.message is not None and query.message.message_id == sent.message_id
    member = updates[1].my_chat_member
    assert member is not None and isinstance(member.new_chat_member, ChatMemberBanned)
    assert updates[3].edited_message is not None
    post = updates[4].channel_post
    assert post is not None and post.sticker is not None
    assert post.chat.type == ChatType.CHANNEL


async def test_a_newer_poll_ends_the_older_with_conflict(fake_api: FakeBotAPI, bot: Bot) -> None:
    older = asyncio.create_task(bot.get_updates(timeout=20))
    await fake_api.wait_for_calls("getUpdates", answered=False)
    async with make_bot(fake_api) as other:
        assert await other.get_updates(timeout=0) == ()
    with pytest.raises(Conflict, match="terminated by other getUpdates"):
        await asyncio.wait_for(older, 5)
    stats = fake_api.stats()
    assert stats["max_concurrent_polls"] == 2  # what a test of replicas asserts never happens
    assert stats["poll_conflicts"] == 1


async def test_webhook_blocks_polling_until_deleted(fake_api: FakeBotAPI, bot: Bot) -> None:
    assert await bot.set_webhook("https://example.invalid/hook", secret_token="s3cret")
    assert (await bot.get_webhook_info()).url == "https://example.invalid/hook"
    with pytest.raises(Conflict, match="webhook is active"):
        await bot.get_updates(timeout=0)
    assert await bot.delete_webhook()
    assert await bot.get_updates(timeout=0) == ()


# -- results --------------------------------------------------------------------------------


async def test_messages_are_shaped_like_the_real_api(fake_api: FakeBotAPI, bot: Bot) -> None:
    first = await bot.send_message(777, "<b>Bold</b> &amp; plain", parse_mode="HTML")
    second = await bot.send_message(777, "second")
    in_channel = await bot.send_message("@campaign", "post")
    in_group = await bot.send_message(-4567, "hi group")

    assert (first.message_id, second.message_id) == (1, 2)
    assert first.text == "Bold & plain"
    assert first.entities[0].type == MessageEntityType.BOLD
    assert first.from_user is not None and first.from_user.username == "fake_bot"
    assert first.date.year >= 2024
    assert in_channel.chat.type == ChatType.CHANNEL and in_channel.chat.username == "campaign"
    assert in_channel.message_id == 1
    assert in_group.chat.type == ChatType.GROUP
    assert [m.text for m in fake_api.sent_messages(777)] == [
        "<b>Bold</b> &amp; plain",
        "second",
    ]
    assert fake_api.sent_messages("@campaign")[0].chat_id == in_channel.chat.id


async def test_edit_answer_delete_commands_and_get_chat(fake_api: FakeBotAPI, bot: Bot) -> None:
    sent = await bot.send_message(777, "old")
    edited = await bot.edit_message_text("new", chat_id=777, message_id=sent.message_id)
    assert isinstance(edited, Message) and edited.text == "new"
    with pytest.raises(BadRequest, match="not modified"):
        await bot.edit_message_text("new", chat_id=777, message_id=sent.message_id)
    assert await bot.answer_callback_query("cq1", text="Saved")
    assert await bot.set_my_commands([("start", "Start")])
    assert await bot.delete_message(777, sent.message_id)
    with pytest.raises(BadRequest, match="not found"):
        await bot.delete_message(777, sent.message_id)
    chat = await bot.get_chat(-1001234567890)
    assert chat.type == ChatType.CHANNEL
    assert fake_api.commands["default:"] == [{"command": "start", "description": "Start"}]


async def test_json_bodies_are_accepted(fake_api: FakeBotAPI) -> None:
    status, body = await raw_call(fake_api, "sendMessage", chat_id=777, text="from JSON")
    assert status == 200 and body["ok"] is True
    assert body["result"]["chat"] == {"id": 777, "type": "private", "first_name": "User 777"}


# -- errors ---------------------------------------------------------------------------------


async def test_injected_429_becomes_retry_after(fake_api: FakeBotAPI, bot: Bot) -> None:
    fake_api.fail_next("sendMessage", 429, "Too Many Requests: retry after 3", retry_after=3)
    with pytest.raises(RetryAfter) as caught:
        await bot.send_message(777, "x")
    assert caught.value.retry_after == timedelta(seconds=3)
    await bot.send_message(777, "only the next call fails")


async def test_blocked_chat_gives_403_forbidden(fake_api: FakeBotAPI, bot: Bot) -> None:
    fake_api.block_chat(555)
    fake_api.block_chat("@campaign")
    with pytest.raises(Forbidden, match="bot was blocked by the user"):
        await bot.send_message(555, "x")
    with pytest.raises(Forbidden, match="not a member of the channel"):
        await bot.send_message("@campaign", "x")
    status, body = await raw_call(fake_api, "sendMessage", chat_id=555, text="x")
    assert (status, body) == (
        403,
        {"ok": False, "error_code": 403, "description": "Forbidden: bot was blocked by the user"},
    )


async def test_missing_chat_gives_400_chat_not_found(fake_api: FakeBotAPI, bot: Bot) -> None:
    fake_api.missing_chat(-1009)
    with pytest.raises(BadRequest, match="Chat not found"):
        await bot.send_message(-1009, "x")
    status, body = await raw_call(fake_api, "getChat", chat_id=-1009)
    assert (status, body["description"]) == (400, "Bad Request: chat not found")


async def test_migrated_chat_gives_chat_migrated(fake_api: FakeBotAPI, bot: Bot) -> None:
    fake_api.migrate_chat(-4567, -1004567)
    with pytest.raises(ChatMigrated) as caught:
        await bot.send_message(-4567, "x")
    assert caught.value.new_chat_id == -1004567
    moved = await bot.send_message(-1004567, "x")
    assert moved.chat.type == ChatType.SUPERGROUP
    _, body = await raw_call(fake_api, "sendMessage", chat_id=-4567, text="x")
    assert body["parameters"] == {"migrate_to_chat_id": -1004567}


async def test_wrong_token_and_unknown_method(transport: str) -> None:
    async with FakeBotAPI(token="1:RIGHT") as fake:
        with pytest.raises(InvalidToken):
            async with make_bot(fake, transport, token="1:WRONG"):
                pass
        async with make_bot(fake, transport, token="1:RIGHT") as right:
            with pytest.raises(EndPointNotFound):
                await right.do_api_request("noSuchMethod")
        assert [c.status for c in fake.calls] == [401, 200, 404]


async def test_random_5xx_is_a_network_error(transport: str) -> None:
    async with FakeBotAPI(error_rate_5xx=1.0) as fake, make_bot(fake, transport) as bot:
        with pytest.raises(NetworkError, match="Bad Gateway"):
            await bot.send_message(777, "x")
        assert fake.stats()["errors_5xx"] == 1 and fake.delivered == 0


async def test_timeout_still_delivers(transport: str) -> None:
    async with FakeBotAPI(timeout_rate=1.0) as fake:
        async with make_bot(fake, transport, read_timeout=0.3) as bot:
            with pytest.raises(TimedOut):
                await bot.send_message(777, "maybe sent")
        assert [m.text for m in fake.sent_messages(777)] == ["maybe sent"]
        assert fake.stats()["timeouts"] == 1


async def test_html_rules_are_enforced(fake_api: FakeBotAPI, bot: Bot) -> None:
    with pytest.raises(BadRequest, match="unsupported start tag"):
        await bot.send_message(777, "line<br>break", parse_mode="HTML")
    with pytest.raises(BadRequest, match="find end tag corresponding"):
        await bot.send_message(777, "<b>open", parse_mode="HTML")
    with pytest.raises(BadRequest, match="escape it"):
        await bot.send_message(777, "1 < 2", parse_mode="HTML")
    with pytest.raises(BadRequest, match="too long"):
        await bot.send_message(777, "x" * 4097)
    await bot.send_message(777, "<b>" + "x" * 4096 + "</b>", parse_mode="HTML")


# -- latency, caps and counters -------------------------------------------------------------


async def test_latency_is_added_to_send_message(transport: str) -> None:
    async with FakeBotAPI(latency_ms=200) as fake, make_bot(fake, transport) as bot:
        loop = asyncio.get_running_loop()
        started = loop.time()
        await bot.send_message(777, "slow")
        assert loop.time() - started >= 0.19


async def test_overall_rate_cap_answers_429(transport: str) -> None:
    async with FakeBotAPI(rate_cap=2) as fake, make_bot(fake, transport) as bot:
        await bot.send_message(1, "a")
        await bot.send_message(2, "b")
        with pytest.raises(RetryAfter) as caught:
            await bot.send_message(3, "c")
        assert caught.value.retry_after == timedelta(seconds=1)
        assert (fake.delivered, fake.rate_limited) == (2, 1)


async def test_per_chat_cap_is_optional(transport: str) -> None:
    async with FakeBotAPI(per_chat_cap=1.0) as fake, make_bot(fake, transport) as bot:
        await bot.send_message(1, "a")
        await bot.send_message(2, "a")
        with pytest.raises(RetryAfter):
            await bot.send_message(1, "b")
        assert fake.per_chat_delivered == {1: 1, 2: 1}
    async with FakeBotAPI() as uncapped, make_bot(uncapped, transport) as bot:
        await bot.send_message(1, "a")
        await bot.send_message(1, "a")
        assert uncapped.duplicates == 1


async def test_separate_process_serves_stats_and_reset() -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "tests.fakes.telegram_api", "--rate-cap", "1", "--latency-ms", "5"),
        cwd=REPO,
        env=env,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), 20)
        word, port = line.decode().split()
        assert word == "READY"
        root = f"http://127.0.0.1:{port}"
        async with aiohttp.ClientSession() as session:
            for text in ("a", "b"):
                form = {"chat_id": "1", "text": text}
                async with session.post(f"{root}/bot{TOKEN}/sendMessage", data=form) as response:
                    await response.read()
            async with session.get(f"{root}/_stats") as response:
                stats = await response.json()
            assert (stats["delivered"], stats["rate_limited"]) == (1, 1)
            async with session.post(f"{root}/_reset") as response:
                assert response.status == 200
            async with session.get(f"{root}/_stats") as response:
                assert (await response.json())["delivered"] == 0
    finally:
        process.terminate()
        await asyncio.wait_for(process.wait(), 10)
    assert process.returncode in (0, -15)


async def test_wait_for_reports_a_timeout(fake_api: FakeBotAPI) -> None:
    with pytest.raises(TimeoutError, match="condition not met"):
        await fake_api.wait_for(lambda: bool(fake_api.calls), timeout=0.05)


def test_listens_on_loopback_only() -> None:
    with pytest.raises(ValueError, match="loopback"):
        FakeBotAPI(host="0.0.0.0")
    assert json.loads(json.dumps(FakeBotAPI().stats()))["delivered"] == 0
