"""Sharing from any chat: inline queries and chosen results through the fake Bot API."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from bot.store.subscribers import consent
from bot.store.tallies import share_totals
from bot.telegram import inline, reminder_buttons
from bot.telegram.services import BotServices
from tests.campaign_factory import Campaign, action, demand, finding, make_campaign
from tests.fakes.telegram_api import FakeBotAPI
from tests.fakes.telegram_fixtures import (  # noqa: F401 (fixtures by name)
    STAFF_A,
    STAFF_B,
    BotDriver,
    fake_api_fixture,
    make_services,
    ptb_timedelta_fixture,
    running_bot,
)
from tests.fakes.telegram_inline import InlineAnswer

USER = 8001
HRW = {
    "publisher": "Human Rights Watch",
    "title": "Iraqi Troops Using Indiscriminate Weapons in Fight Against ISIS",
    "url": "https://www.hrw.org/news/2017/03/15/iraqi-troops-using-indiscriminate-weapons-fight-against-isis",
    "date": "2017-03-15",
}
# The shipped library's wording (F9 and F10 in the research notes).
IRAQI_FORCES = finding(
    "f-irams-iraqi-forces",
    source=HRW,
    text={
        "en": "Human Rights Watch documented Iraqi forces, namely the Emergency Response "
        "Division and the Federal Police, firing IRAMs. A Federal Police spokesperson "
        "confirmed it.",
        "ar": "وثّقت هيومن رايتس ووتش إطلاق القوات العراقية، وتحديدًا فرقة الرد السريع والشرطة "
        "الاتحادية، ذخائر صاروخية مرتجلة (IRAMs). وأكد متحدث باسم الشرطة الاتحادية استخدامها.",
        "ckb": "هیومن ڕایتس ووچ تۆماری کرد کە هێزەکانی عێراق، بە تایبەتی فیرقەی وەڵامدانەوەی "
        "خێرا و پۆلیسی فیدراڵ، IRAMs یان هاویشتووە. وتەبێژێکی پۆلیسی فیدراڵ ئەمەی پشتڕاست "
        "کردەوە.",
    },
    reviewed=["en", "ar", "ckb"],
)
PRO_GOVERNMENT = finding(
    "f-irams-pro-government",
    text={
        "en": "From January 2017, Amnesty says, pro-government forces relied heavily on "
        "wide-area explosive weapons such as IRAMs, causing havoc in densely populated "
        "west Mosul.",
        "ar": "قالت منظمة العفو الدولية إن القوات الموالية للحكومة اعتمدت بكثافة منذ كانون الثاني "
        "2017 على أسلحة متفجرة واسعة الأثر مثل IRAMs، فأحدثت دمارًا بغرب الموصل المكتظ.",
    },
    reviewed=["en"],  # the Arabic text is unreviewed: it must never be offered
)


def sharing_campaign(root: Path) -> Campaign:
    items = [
        IRAQI_FORCES,
        PRO_GOVERNMENT,
        finding(reviewed=["en", "ar"]),
        demand(reviewed=["en", "ar"]),
        action(reviewed=["en", "ar"]),
    ]
    campaign = make_campaign(root, items)
    config = campaign.config()
    config["staff"] = [STAFF_A, STAFF_B]
    config["channels"] = {"telegram": {}}
    config["schedule"]["rules"] = []
    campaign.write_config(config)
    return campaign


@pytest.fixture(name="services")
def services_fixture(tmp_path: Path, db_url: str) -> Iterator[BotServices]:
    services = make_services(sharing_campaign(tmp_path / "campaign"), db_url)
    yield services
    services.store.close()


@pytest.fixture(name="driver")
async def driver_fixture(fake_api: FakeBotAPI, services: BotServices) -> AsyncIterator[BotDriver]:
    driver = await running_bot(
        fake_api, services, extra=[reminder_buttons.register, inline.register]
    )
    yield driver
    await driver.stop()


async def ask(driver: BotDriver, query: str, lang: str = "en", user: int = USER) -> InlineAnswer:
    query_id = driver.fake.inline.push_query(user, query, language_code=lang)
    return await driver.fake.inline.wait_for_answer(query_id)


def rendered(services: BotServices, item_id: str, lang: str) -> str:
    return services.renderer.render(services.library.items[item_id], "telegram", lang).text


async def test_an_english_query_offers_both_sourced_irams_findings(
    driver: BotDriver, services: BotServices
) -> None:
    answer = await ask(driver, "irams")
    # Newest source first: Amnesty's report (Jul 2017), then Human Rights Watch (Mar 2017).
    order = ["f-irams-pro-government", "f-irams-iraqi-forces"]
    assert [r["id"] for r in answer.results] == order
    assert answer.texts == [rendered(services, item_id, "en") for item_id in order]
    first = answer.results[1]
    assert first["title"].startswith("Finding: Human Rights Watch documented")
    assert first["description"] == "Human Rights Watch, 15 Mar 2017"
    content = first["input_message_content"]
    assert content["parse_mode"] == "HTML"
    assert content["link_preview_options"] == {"is_disabled": True}
    assert HRW["url"] in content["message_text"]  # the citation links the source
    assert answer.is_personal and answer.cache_time == inline.CACHE_SECONDS


async def test_an_arabic_query_offers_only_reviewed_arabic_cards(
    driver: BotDriver, services: BotServices
) -> None:
    answer = await ask(driver, "IRAMs", lang="ar")
    # The Amnesty finding matches too, but its Arabic text is unreviewed: left out.
    assert [r["id"] for r in answer.results] == ["f-irams-iraqi-forces"]
    assert answer.texts == [rendered(services, "f-irams-iraqi-forces", "ar")]
    assert answer.results[0]["title"].startswith("ما توصّل إليه التحقيق: وثّقت هيومن")


async def test_a_kurdish_query_offers_the_kurdish_card(
    driver: BotDriver, services: BotServices
) -> None:
    answer = await ask(driver, "irams", lang="ckb")
    assert answer.texts == [rendered(services, "f-irams-iraqi-forces", "ckb")]


async def test_a_subscriber_gets_cards_in_their_chosen_language(
    driver: BotDriver, services: BotServices
) -> None:
    consent(services.store, USER, language="ar", topics="weapons")
    answer = await ask(driver, "irams", lang="en")  # Telegram set to English, bot to Arabic
    assert answer.texts == [rendered(services, "f-irams-iraqi-forces", "ar")]


async def test_demands_are_cards_too_and_an_empty_query_lists_everything_shareable(
    driver: BotDriver,
) -> None:
    answer = await ask(driver, "acknowledge")
    assert [r["id"] for r in answer.results] == ["d-acknowledge"]
    assert answer.results[0]["title"].startswith("Our demand: Publicly acknowledge")
    everything = await ask(driver, "")
    ids = [r["id"] for r in everything.results]
    assert sorted(ids) == sorted(
        ["f-irams-iraqi-forces", "f-irams-pro-government", "f-attacks", "d-acknowledge"]
    )
    assert ids[-1] == "d-acknowledge"  # findings first; the action is no card


async def test_a_query_with_no_match_answers_empty_with_a_way_to_the_bot(
    driver: BotDriver,
) -> None:
    answer = await ask(driver, "chlorine")
    assert answer.results == []
    assert answer.button is not None
    assert answer.button["start_parameter"] == inline.START_PARAMETER


async def test_an_item_id_query_from_a_share_button_finds_that_item(driver: BotDriver) -> None:
    answer = await ask(driver, "a-share")
    assert [r["id"] for r in answer.results] == ["a-share"]
    assert (await ask(driver, "a-share", lang="ckb")).results == []  # ckb is not reviewed


async def test_shares_are_counted_per_item_and_shown_to_staff(
    driver: BotDriver, services: BotServices
) -> None:
    answer = await ask(driver, "irams")
    chosen = answer.results[1]["id"]
    for user in (USER, USER + 1):
        driver.fake.inline.push_chosen(user, chosen, "irams")
    driver.fake.inline.push_chosen(USER, "no-such-item", "irams")  # gone from the library
    await driver.settle()
    assert share_totals(services.store) == {"f-irams-iraqi-forces": 2}

    text = "\n".join(r.text for r in await driver.send(STAFF_A, "/stats"))
    assert "<b>Shares</b>\n  f-irams-iraqi-forces: 2" in text


async def test_without_inline_feedback_nothing_is_counted(
    driver: BotDriver, services: BotServices
) -> None:
    driver.fake.inline.feedback = False
    answer = await ask(driver, "irams")
    assert driver.fake.inline.push_chosen(USER, answer.results[1]["id"]) is None
    await driver.settle()
    assert share_totals(services.store) == {}


async def test_facts_have_a_share_button_that_opens_inline_mode(driver: BotDriver) -> None:
    since = driver.mark()
    await driver.send(USER, "/facts")
    [call] = [
        c
        for c in driver.fake.calls[since:]
        if c.method == "sendMessage" and str(c.params.get("chat_id")) == str(USER)
    ]
    [[button]] = json.loads(call.params["reply_markup"])["inline_keyboard"]
    assert button["text"] == "📤 Share"
    assert button["switch_inline_query"] == ""
    assert "callback_data" not in button
