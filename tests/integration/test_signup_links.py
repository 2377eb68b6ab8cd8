"""Sign-up links through the fake Bot API: /start <code> presets, per-code totals, the button."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.store import AuditEntry, Subscriber
from bot.store.subscribers import get_subscriber
from bot.store.tallies import signup_totals
from bot.telegram.services import BotServices
from tests.campaign_factory import Campaign
from tests.fakes.telegram_api import FakeBotAPI
from tests.fakes.telegram_fixtures import (  # noqa: F401 (fixtures by name)
    CHANNEL,
    STAFF_A,
    BotDriver,
    Running,
    fake_api_fixture,
    make_services,
    ptb_timedelta_fixture,
    running_bot,
    start_running,
    stop_running,
    telegram_campaign,
)

KURDISH = re.compile(r"[\u0600-\u06FF]")
LINKS = [
    {"code": "erbil-poster", "language": "ckb", "topics": ["aid"], "where": "a poster in Erbil"},
    {"code": "Event_2026", "language": "ar", "topics": ["weapons", "acknowledge"]},
    {"code": "channel-en", "language": "en"},
]


def campaign_with_links(root: Path, **channel: object) -> Campaign:
    campaign = telegram_campaign(root)
    config = campaign.config()
    config["signup_links"] = LINKS
    config["channels"]["telegram"].update(channel)
    campaign.write_config(config)
    return campaign


@pytest.fixture(name="services")
def services_fixture(tmp_path: Path, db_url: str) -> Iterator[BotServices]:
    services = make_services(campaign_with_links(tmp_path / "campaign"), db_url)
    yield services
    services.store.close()


@pytest.fixture(name="driver")
async def driver_fixture(fake_api: FakeBotAPI, services: BotServices) -> AsyncIterator[BotDriver]:
    driver = await running_bot(fake_api, services)
    yield driver
    await driver.stop()


async def start_with(driver: BotDriver, chat: int, payload: str, lang: str = "en") -> list[str]:
    """Open the bot through t.me/<bot>?start=<payload>; return the texts of the replies."""
    since = driver.mark()
    driver.fake.inline.push_start(chat, payload, language_code=lang)
    await driver.settle()
    return [reply.text for reply in driver.replies(chat, since)]


async def test_a_poster_code_presets_kurdish_and_aid_and_counts_one_sign_up(
    driver: BotDriver, services: BotServices
) -> None:
    intro, privacy = await start_with(driver, 7001, "erbil-poster")
    assert KURDISH.search(intro) and KURDISH.search(privacy)  # greeted in Kurdish, not English
    assert get_subscriber(services.store, 7001) is None  # nothing stored before consent
    assert signup_totals(services.store) == {}

    [language] = await driver.press(7001, "c:ok")
    assert KURDISH.search(language.text)  # the next step asks in Kurdish, Kurdish ticked
    assert [label for row in language.buttons for label, _ in row] == [
        "English",
        "العربية",
        "✅ کوردی",
    ]
    sub = get_subscriber(services.store, 7001)
    assert sub is not None and sub.active
    assert (sub.language, sub.topic_list) == ("ckb", ["aid"])
    assert signup_totals(services.store) == {"erbil-poster": 1}

    # The supporter can still change everything: the language, then the preselected topics.
    [topics] = await driver.press(7001, "l:en:o")
    ticked = [label for row in topics.buttons for label, _ in row if label.startswith("✅")]
    assert ticked == ["✅ Humanitarian aid"]
    await driver.press(7001, "t:weapons:o")
    sub = get_subscriber(services.store, 7001)
    assert sub is not None and (sub.language, sub.topic_list) == ("en", ["aid", "weapons"])

    # A second person through the same poster: the total goes to two; other codes stay 0.
    await start_with(driver, 7002, "erbil-poster")
    await driver.press(7002, "c:ok")
    assert signup_totals(services.store) == {"erbil-poster": 2}


async def test_nothing_ties_a_supporter_to_the_code_they_used(
    driver: BotDriver, services: BotServices
) -> None:
    await start_with(driver, 7003, "Event_2026")
    await driver.press(7003, "c:ok")
    assert signup_totals(services.store) == {"Event_2026": 1}
    with services.store.sessions() as session:
        row = session.get(Subscriber, 7003)
        assert row is not None and row.language == "ar"
        stored = [str(getattr(row, column.key)) for column in Subscriber.__table__.columns]
        audit = [f"{e.actor} {e.detail}" for e in session.scalars(select(AuditEntry))]
    assert not any("Event_2026" in value for value in stored + audit)
    # Pressing "I agree" again (an old message) does not count the code a second time.
    await driver.press(7003, "c:ok")
    assert signup_totals(services.store) == {"Event_2026": 1}


@pytest.mark.parametrize(
    "payload",
    [
        "no-such-code",
        "erbil-poster!",
        "bad%20code",
        "x" * 65,
        "erbil-poster extra",
        "ERBIL-POSTER",
    ],
)
async def test_an_unknown_or_malformed_payload_starts_the_ordinary_flow(
    driver: BotDriver, services: BotServices, payload: str
) -> None:
    intro, privacy = await start_with(driver, 7004, payload, lang="en")
    assert not KURDISH.search(intro + privacy)
    assert "campaign" in intro.lower() or "<b>" in intro
    await driver.press(7004, "c:ok")
    sub = get_subscriber(services.store, 7004)
    assert sub is not None and sub.active
    assert sub.language == "en" and set(sub.topic_list) == set(services.topics)
    assert signup_totals(services.store) == {}


async def test_a_plain_start_after_a_code_forgets_the_code(
    driver: BotDriver, services: BotServices
) -> None:
    await start_with(driver, 7005, "erbil-poster")
    await driver.send(7005, "/start")
    await driver.press(7005, "c:ok")
    sub = get_subscriber(services.store, 7005)
    assert sub is not None and sub.language == "en"
    assert signup_totals(services.store) == {}


async def test_a_subscriber_scanning_a_poster_is_not_counted_again(
    driver: BotDriver, services: BotServices
) -> None:
    await start_with(driver, 7006, "erbil-poster")
    await driver.press(7006, "c:ok")
    replies = await start_with(driver, 7006, "Event_2026")
    assert len(replies) == 2 and "/act" in replies[1]  # "you are subscribed"
    assert signup_totals(services.store) == {"erbil-poster": 1}


async def test_staff_stats_show_sign_ups_per_code(
    driver: BotDriver, services: BotServices
) -> None:
    await start_with(driver, 7007, "erbil-poster")
    await driver.press(7007, "c:ok")
    text = "\n".join(r.text for r in await driver.send(STAFF_A, "/stats"))
    assert "<b>Sign-ups by link</b>" in text
    assert "  erbil-poster: 1" in text
    assert "  Event_2026: 0" in text and "  channel-en: 0" in text


# -- the "Get reminders" button under channel posts ---------------------------------------------


@pytest.fixture(name="running")
async def running_fixture(
    fake_api: FakeBotAPI, tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Running]:
    campaign = campaign_with_links(tmp_path / "campaign", signup_button=True)
    running = await start_running(fake_api, campaign, db_url, monkeypatch)
    yield running
    await stop_running(running)


async def test_channel_posts_carry_the_sign_up_link_for_their_language(running: Running) -> None:
    for lang in ("en", "ar"):
        await running.driver.send(STAFF_A, f"/post f-attacks telegram +1s {lang}")
    await running.tick(minutes=1)
    sent = {m.message_id: m for m in running.fake.sent_messages(CHANNEL)}
    by_lang = {d.lang: sent[int(d.external_id or 0)] for d in running.deliveries()}
    assert sorted(by_lang) == ["ar", "en"]
    urls = {}
    for lang, message in by_lang.items():
        [[button]] = json.loads(message.params["reply_markup"])["inline_keyboard"]
        urls[lang] = button["url"]
        assert "callback_data" not in button
    assert urls["en"] == "https://t.me/fake_bot?start=channel-en"
    assert urls["ar"] == "https://t.me/fake_bot?start=Event_2026"


async def test_without_the_option_channel_posts_have_no_button(
    fake_api: FakeBotAPI, tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    campaign = campaign_with_links(tmp_path / "campaign")
    running = await start_running(fake_api, campaign, db_url, monkeypatch)
    try:
        await running.driver.send(STAFF_A, "/post f-attacks telegram +1s en")
        await running.tick(minutes=1)
        [message] = running.fake.sent_messages(CHANNEL)
        assert "reply_markup" not in message.params
    finally:
        await stop_running(running)


async def test_a_post_goes_out_without_the_button_when_get_me_fails(running: Running) -> None:
    running.fake.fail_next("getMe", 502, "Bad Gateway")
    await running.driver.send(STAFF_A, "/post f-attacks telegram +1s en")
    await running.tick(minutes=1)
    [first] = running.fake.sent_messages(CHANNEL)
    assert "reply_markup" not in first.params  # published all the same
    await running.driver.send(STAFF_A, "/post f-attacks telegram +1s ar")
    await running.tick(minutes=1)
    _, second = running.fake.sent_messages(CHANNEL)
    [[button]] = json.loads(second.params["reply_markup"])["inline_keyboard"]
    assert button["url"] == "https://t.me/fake_bot?start=Event_2026"
