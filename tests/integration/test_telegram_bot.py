"""Supporters talk to the real python-telegram-bot Application through the fake Bot API."""

from __future__ import annotations

import logging
import re
import socket
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import select
from telegram.error import InvalidToken

from bot.store import AuditEntry, Message, Subscriber
from bot.store.subscribers import get_subscriber
from bot.telegram.application import build_application, start, stop
from bot.telegram.services import BotServices
from tests.fakes.telegram_api import FakeBotAPI
from tests.fakes.telegram_fixtures import (  # noqa: F401 (fixtures by name)
    TOKEN,
    BotDriver,
    Reply,
    fake_api_fixture,
    make_services,
    ptb_timedelta_fixture,
    running_bot,
    telegram_campaign,
)

USER = 5551
OTHER = 5552
ARABIC = re.compile(r"[\u0600-\u06FF]")
LATIN_WORD = re.compile(r"\b[A-Za-z]{4,}\b")


def plain(reply: Reply) -> str:
    """The text without the Unicode isolates that keep numbers and names upright in RTL."""
    return re.sub("[\u2066-\u2069\u200e\u200f]", "", reply.text)


def arabic(reply: Reply) -> bool:
    """Arabic text with no English words left in it (tags, commands and zone names aside)."""
    text = re.sub(r"<[^>]+>|/\w+|\w+/\w+|IRAMs", "", reply.text)
    return bool(ARABIC.search(text)) and not LATIN_WORD.search(text)


@pytest.fixture(name="services")
def services_fixture(tmp_path: Path) -> Iterator[BotServices]:
    campaign = telegram_campaign(tmp_path / "campaign")
    services = make_services(campaign, f"sqlite:///{tmp_path / 'bot.sqlite3'}")
    yield services
    services.store.close()


@pytest.fixture(name="driver")
async def driver_fixture(fake_api: FakeBotAPI, services: BotServices) -> AsyncIterator[BotDriver]:
    driver = await running_bot(fake_api, services)
    yield driver
    await driver.stop()


async def subscribe(driver: BotDriver, chat: int, lang: str = "en") -> None:
    """Go through /start with the defaults: consent, language, all topics, weekly Monday."""
    await driver.send(chat, "/start", lang=lang)
    for data in ("c:ok", f"l:{lang}:o", "t:-done:o", "f:weekly:o", "d:0:o", "h:18:00:o"):
        await driver.press(chat, data, lang=lang)
    [done] = await driver.press(chat, "z:-keep:o", lang=lang)
    assert "/act" in done.text and not done.buttons


# -- /start ------------------------------------------------------------------------------------


async def test_start_consent_language_topics_frequency_time_in_arabic(
    driver: BotDriver, services: BotServices
) -> None:
    changed: list[int] = []
    services.on_settings_changed = changed.append

    intro, privacy = await driver.send(USER, "/start", lang="ar")
    assert services.settings.campaign.name in intro.text and ARABIC.search(intro.text)
    assert arabic(privacy) and privacy.data == ["c:ok"]
    assert get_subscriber(services.store, USER) is None  # nothing kept before consent

    [language] = await driver.press(USER, "c:ok", lang="ar")
    assert arabic(language)
    assert language.data == ["l:en:o", "l:ar:o", "l:ckb:o"]
    consented = get_subscriber(services.store, USER)
    assert consented is not None and consented.language == "ar" and consented.active

    [topics] = await driver.press(USER, "l:ar:o", lang="ar")
    assert arabic(topics)
    assert topics.data == ["t:weapons:o", "t:aid:o", "t:acknowledge:o", "t:-done:o"]
    [topics] = await driver.press(USER, "t:aid:o", lang="ar")  # all start chosen: drop aid
    assert [label.startswith("✅") for row in topics.buttons[:3] for label, _ in row] == [
        True,
        False,
        True,
    ]

    [frequency] = await driver.press(USER, "t:-done:o", lang="ar")
    assert arabic(frequency) and frequency.data == ["f:daily:o", "f:weekly:o", "f:off:o"]
    [weekday] = await driver.press(USER, "f:weekly:o", lang="ar")
    assert arabic(weekday) and len(weekday.data) == 7
    [when] = await driver.press(USER, "d:4:o", lang="ar")
    assert arabic(when) and "h:18:00:o" in when.data
    [zone] = await driver.press(USER, "h:20:00:o", lang="ar")
    assert ARABIC.search(zone.text) and "Asia/Baghdad" in zone.text
    [done] = await driver.press(USER, "z:Europe/Berlin:o", lang="ar")
    assert arabic(done) and not done.buttons

    row = get_subscriber(services.store, USER)
    assert row is not None
    assert (row.language, row.topic_list, row.reminder, row.reminder_weekday) == (
        "ar",
        ["weapons", "acknowledge"],
        "weekly",
        4,
    )
    assert (row.reminder_time, row.time_zone, row.active) == ("20:00", "Europe/Berlin", True)
    assert row.consented_at is not None and not row.opted_out
    assert set(changed) == {USER} and len(changed) >= 6  # reminders recomputed on each change
    # Every step edited the one message that carried the consent button.
    assert {r.message_id for r in driver.replies(USER)[2:]} == {privacy.message_id}


async def test_a_typed_time_and_zone_continue_the_onboarding(
    driver: BotDriver, services: BotServices
) -> None:
    await driver.send(USER, "/start")
    for data in ("c:ok", "l:en:o", "t:-done:o", "f:daily:o"):
        await driver.press(USER, data)

    saved, zone = await driver.send(USER, "7.45")
    assert saved.text == "Saved." and "time zone" in zone.text
    saved, done = await driver.send(USER, "America/New_York")
    assert "You are subscribed" in done.text

    row = get_subscriber(services.store, USER)
    assert row is not None
    assert (row.reminder, row.reminder_time, row.time_zone) == (
        "daily",
        "07:45",
        "America/New_York",
    )


async def test_start_again_keeps_a_subscribers_settings(
    driver: BotDriver, services: BotServices
) -> None:
    await subscribe(driver, USER)
    await driver.press(USER, "h:08:00:s", message_id=1)  # an old settings button
    _intro, again = await driver.send(USER, "/start")
    assert again.text.startswith("You are subscribed")
    assert not again.buttons
    row = get_subscriber(services.store, USER)
    assert row is not None and row.reminder_time == "08:00" and row.active


# -- /settings -----------------------------------------------------------------------------------


async def test_settings_change_language_reminders_time_and_zone(
    driver: BotDriver, services: BotServices
) -> None:
    await subscribe(driver, USER, "ar")

    [menu] = await driver.send(USER, "/settings", lang="ar")
    assert arabic(menu) and "Asia/Baghdad" in menu.text
    assert menu.data == ["s:lang:s", "s:topics:s", "s:rem:s", "s:time:s", "s:tz:s"]

    [languages] = await driver.press(USER, "s:lang:s", lang="ar")
    assert languages.data == ["l:en:s", "l:ar:s", "l:ckb:s"]
    [menu] = await driver.press(USER, "l:en:s")
    assert "Your settings" in menu.text and "English" in menu.text

    await driver.press(USER, "s:rem:s")
    [menu] = await driver.press(USER, "f:daily:s")
    assert "Reminders: Daily" in menu.text

    await driver.press(USER, "s:topics:s")
    await driver.press(USER, "t:weapons:s")
    [menu] = await driver.press(USER, "t:-done:s")
    assert "Topics: Humanitarian aid, Acknowledge the civilian toll" in menu.text

    [hours] = await driver.press(USER, "s:time:s")
    assert "h:12:00:s" in hours.data
    saved, menu = await driver.send(USER, "19:30")
    assert saved.text == "Saved." and "19:30" in menu.text

    [bad] = await driver.send(USER, "Mars/Olympus")
    assert "Unknown time zone" in bad.text
    await driver.press(USER, "s:tz:s")
    [menu] = await driver.press(USER, "z:Europe/London:s")
    assert "Europe/London" in menu.text

    row = get_subscriber(services.store, USER)
    assert row is not None
    assert (row.language, row.reminder, row.reminder_time, row.time_zone) == (
        "en",
        "daily",
        "19:30",
        "Europe/London",
    )
    assert row.topic_list == ["aid", "acknowledge"]


async def test_settings_before_start_asks_to_start(driver: BotDriver) -> None:
    [reply] = await driver.send(USER, "/settings", lang="ar")
    assert arabic(reply) and "/start" in reply.text


# -- /act, /facts, /privacy, /help -------------------------------------------------------------


async def test_act_shows_the_call_to_action_in_the_supporters_language(
    driver: BotDriver, services: BotServices
) -> None:
    await subscribe(driver, USER, "ar")
    [act] = await driver.send(USER, "/act", lang="ar")
    assert "شارك النتائج مع ممثلك." in plain(act)
    assert "https://www.amnesty.org.au/report-cost-civilian-catastrophe-west-mosul-iraq/" in (
        act.text
    )
    [visitor] = await driver.send(OTHER, "/act")  # no subscription: the default language
    assert "Share the findings with your representative." in visitor.text


async def test_facts_shows_the_latest_findings_with_their_sources(
    driver: BotDriver, services: BotServices
) -> None:
    [facts] = await driver.send(OTHER, "/facts")
    assert "Latest findings" in facts.text
    assert "45 attacks" in facts.text and "Aid could not reach" in facts.text
    assert facts.text.count("Amnesty International") == 2  # each finding cites its source
    assert "https://www.amnesty.org.nz/any-cost-civilian-catastrophe-west-mosul-iraq" in facts.text

    await subscribe(driver, USER, "ar")
    await driver.send(USER, "/settings", lang="ar")
    await driver.press(USER, "s:topics:s", lang="ar")
    await driver.press(USER, "t:aid:s", lang="ar")  # off: weapons and acknowledge stay
    await driver.press(USER, "t:-done:s", lang="ar")
    [facts] = await driver.send(USER, "/facts", lang="ar")
    assert "وثّقت منظمة العفو الدولية 45 هجومًا" in plain(facts)
    assert "لم تصل المساعدات" not in plain(facts)  # not one of their topics
    assert "Amnesty International" in plain(facts)


async def test_the_command_menu_is_in_each_campaign_language(driver: BotDriver) -> None:
    menus = driver.fake.commands
    assert sorted(menus) == ["default:", "default:ar", "default:ckb", "default:en"]
    assert menus["default:"] == menus["default:en"]
    assert [c["command"] for c in menus["default:ar"]] == [c["command"] for c in menus["default:"]]
    act = {lang: menus[f"default:{lang}"][0]["description"] for lang in ("en", "ar", "ckb")}
    assert act == {
        "en": "The current call to action",
        "ar": "الدعوة الحالية إلى التحرك",
        "ckb": "بانگەوازی ئێستا",
    }


async def test_privacy_and_help_answer_in_the_users_language(driver: BotDriver) -> None:
    [privacy] = await driver.send(USER, "/privacy", lang="ar")
    [help_text] = await driver.send(USER, "/help", lang="ar")
    assert arabic(privacy) and arabic(help_text)
    [english] = await driver.send(OTHER, "/privacy", lang="en-GB")
    assert english.text.startswith("What we keep, and why")


# -- /stop, /forget, blocking -------------------------------------------------------------------


async def test_stop_keeps_only_an_opt_out_marker(driver: BotDriver, services: BotServices) -> None:
    await subscribe(driver, USER, "ar")
    [stopped] = await driver.send(USER, "/stop", lang="ar")
    assert arabic(stopped)

    row = get_subscriber(services.store, USER)
    assert row is not None
    assert (row.active, row.opted_out, row.consented_at) == (False, True, None)
    assert (row.topics, row.reminder, row.next_reminder_at) == ("", "off", None)
    assert (row.language, row.time_zone) == ("en", "Asia/Baghdad")  # their choices are gone
    since = driver.mark()
    assert await driver.press(USER, "s:lang:s", message_id=1) == []  # old buttons: expired
    [expired] = driver.answers(since)
    assert expired.params["show_alert"] == "true" and "/start" in expired.params["text"]

    _intro, privacy = await driver.send(USER, "/start", lang="ar")
    assert privacy.data == ["c:ok"]  # they can come back, asked again for consent


async def test_blocking_the_bot_deactivates_and_start_brings_them_back(
    driver: BotDriver, services: BotServices
) -> None:
    await subscribe(driver, USER)
    await driver.send(USER, "/settings")
    await driver.press(USER, "s:time:s")
    await driver.press(USER, "h:08:00:s")

    driver.fake.push_my_chat_member(USER, USER, "kicked")
    await driver.settle()
    row = get_subscriber(services.store, USER)
    assert row is not None and not row.active and row.inactive_reason == "blocked the bot"

    driver.fake.push_my_chat_member(USER, USER, "member")  # unblocked: not yet subscribed
    await driver.settle()
    row = get_subscriber(services.store, USER)
    assert row is not None and not row.active

    await driver.send(USER, "/start")
    await driver.press(USER, "c:ok")
    row = get_subscriber(services.store, USER)
    assert row is not None and row.active and row.reminder_time == "08:00"  # settings kept


# -- what the bot does not understand ------------------------------------------------------------


async def test_unknown_commands_and_text_get_a_short_help(driver: BotDriver) -> None:
    await subscribe(driver, USER, "ar")
    for text in ("/frobnicate", "hello there", "/start@other_bot extra"):
        replies = await driver.send(USER, text, lang="ar")
        assert len(replies) == 1 and arabic(replies[0]) and "/help" in replies[0].text
    [english] = await driver.send(OTHER, "what is this?")
    assert "did not understand" in english.text


async def test_odd_updates_never_crash_the_bot(
    driver: BotDriver, services: BotServices, caplog: pytest.LogCaptureFixture
) -> None:
    await subscribe(driver, USER)
    fake = driver.fake
    caplog.set_level(logging.WARNING)
    message = fake.push_text(USER, USER, "original")["message"]
    sticker = {
        "file_id": "s",
        "file_unique_id": "s",
        "type": "regular",
        "width": 512,
        "height": 512,
        "is_animated": False,
        "is_video": False,
    }
    fake.push_raw({"edited_message": {**message, "text": "edited", "edit_date": message["date"]}})
    fake.push_raw({"message": {**message, "message_id": 90, "sticker": sticker, "text": None}})
    fake.push_raw(
        {"channel_post": {"message_id": 5, "date": 1, "chat": fake.chat_object(-1001234567890)}}
    )
    fake.push_text(-4567, USER, "/post f-attacks telegram")  # a group: not for us
    fake.push_my_chat_member(-4567, USER, "member")
    first_press = int(fake.push_callback(USER, USER, "c:ok", 1)["callback_query"]["id"][2:])
    for data in (
        "l:ar:o" + "x" * 300,  # longer than Telegram allows
        "\x00\xff garbage",
        "t:no-such-topic:s",
        "d:99:s",
        "h:25:99:s",
        "z:Not/AZone:s",
        "s:nothing:s",
        "s:",
        "x:maybe",
        "rem:done:no-such-item",
    ):
        fake.push_callback(USER, USER, data, 1)
    fake.push_callback(OTHER, OTHER, "l:ar:o", 77)  # a stranger's stale button
    fake.push_callback(OTHER, OTHER, "x:yes", 78)  # forget, from someone we never knew
    fake.push_raw(
        {
            "callback_query": {
                "id": "inline",
                "from": fake.user_object(OTHER),
                "chat_instance": "i",
                "inline_message_id": "abc",
                "data": "c:ok",
            }
        }
    )

    await driver.settle()
    [help_reply] = await driver.send(USER, "/help")

    assert "/act" in help_reply.text  # still answering, after all of that
    problems = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert problems == [], [r.getMessage() for r in problems]
    row = get_subscriber(services.store, USER)
    assert row is not None and row.active and row.time_zone == "Asia/Baghdad"
    assert row.reminder_time == "18:00" and row.topic_list == ["weapons", "aid", "acknowledge"]
    assert get_subscriber(services.store, OTHER) is None
    assert not fake.sent_messages(-4567)
    answered = {c.params["callback_query_id"] for c in fake.calls_to("answerCallbackQuery")}
    assert {f"cq{n}" for n in range(first_press, first_press + 12)} | {"inline"} <= answered


# -- /forget (both databases) ---------------------------------------------------------------------


async def test_forget_removes_every_row_about_the_supporter(
    fake_api: FakeBotAPI, tmp_path: Path, db_url: str
) -> None:
    services = make_services(telegram_campaign(tmp_path / "campaign"), db_url)
    driver = await running_bot(fake_api, services)
    try:
        await subscribe(driver, USER, "ar")
        await subscribe(driver, OTHER)
        await driver.send(USER, "/stop", lang="ar")
        await driver.send(USER, "/start", lang="ar")
        await driver.press(USER, "c:ok", lang="ar")
        now = datetime.now(UTC)
        with services.store.sessions.begin() as session:
            for chat in (USER, OTHER):
                session.add(
                    Message(
                        idempotency_key=f"r:{chat}",
                        kind="reminder",
                        chat_id=chat,
                        item_id="a-share",
                        lang="en",
                        next_attempt_at=now,
                        created_at=now,
                        updated_at=now,
                    )
                )

        [question] = await driver.send(USER, "/forget", lang="ar")
        assert arabic(question) and question.data == ["x:yes", "x:no"]
        [kept] = await driver.press(USER, "x:no", lang="ar")
        assert arabic(kept) and get_subscriber(services.store, USER) is not None

        await driver.send(USER, "/forget", lang="ar")
        [gone] = await driver.press(USER, "x:yes", lang="ar")
        assert arabic(gone)

        with services.store.sessions() as session:
            assert session.get(Subscriber, USER) is None
            assert session.scalars(select(Message.chat_id)).all() == [OTHER]
            audit = session.scalars(select(AuditEntry)).all()
        assert get_subscriber(services.store, OTHER) is not None  # others are untouched
        assert not [a for a in audit if str(USER) in f"{a.actor} {a.detail}"]
        assert "forget" in [a.action for a in audit]  # that it happened, not who

        [reply] = await driver.send(USER, "/settings", lang="ar")
        assert "/start" in reply.text  # nothing left to show
    finally:
        await driver.stop()
        services.store.close()


# -- webhook mode --------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_webhook_mode_checks_telegrams_secret_token(
    fake_api: FakeBotAPI, services: BotServices
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/telegram/hook"
    application = build_application(TOKEN, fake_api.root, services)
    await start(
        application, webhook_url=url, secret="s3cret-Value_1", listen="127.0.0.1", port=port
    )
    try:
        [registered] = fake_api.calls_to("setWebhook")
        assert registered.params["url"] == url
        assert registered.params["secret_token"] == "s3cret-Value_1"
        update = fake_api.push_text(USER, USER, "/privacy")
        fake_api.reset()  # the update goes by webhook, not getUpdates
        async with aiohttp.ClientSession() as session:
            for secret, expected in (("wrong", 403), (None, 403), ("s3cret-Value_1", 200)):
                headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret else {}
                async with session.post(url, json=update, headers=headers) as response:
                    assert response.status == expected
        await fake_api.wait_for(lambda: bool(fake_api.sent_messages(USER)))
        [reply] = fake_api.sent_messages(USER)
        assert reply.text.startswith("What we keep, and why")
    finally:
        await stop(application)


async def test_a_rejected_token_fails_start_without_showing_it(services: BotServices) -> None:
    async with FakeBotAPI(token="1:OTHER") as fake:
        application = build_application(TOKEN, fake.root, services)
        with pytest.raises(InvalidToken) as caught:
            await start(application)
        assert [c.method for c in fake.calls] == ["getMe"]
    assert str(caught.value) == "Telegram rejected the bot token (TELEGRAM_BOT_TOKEN)"
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    assert not application.running
