"""A retracted item leaves /facts and /act, and the fan-out refuses it at send time."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import yaml

from bot.clock import SystemClock
from bot.delivery.withdrawals import StatusWatch
from bot.library.reload import reload_library
from bot.store import Store
from bot.telegram.services import BotServices
from tests.campaign_factory import Campaign
from tests.fakes.telegram_api import FakeBotAPI
from tests.fakes.telegram_fixtures import (  # noqa: F401 (fixtures by name)
    BotDriver,
    fake_api_fixture,
    make_services,
    ptb_timedelta_fixture,
    running_bot,
    telegram_campaign,
)
from tests.integration.test_fanout_support import (
    add_subscribers,
    messages,
    reviewed_campaign,
    running_harness,
    wait_until,
)

VISITOR = 5552


class Notices:
    def __init__(self) -> None:
        self.sent: list[str] = []

    async def notify_staff(self, text: str) -> None:
        self.sent.append(text)


def retract(messages_dir: Path, *item_ids: str) -> None:
    path = messages_dir / "items.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    for item in data["items"]:
        if item["id"] in item_ids:
            item["status"] = {
                "state": "retracted",
                "date": "2026-11-24",
                "reason": {lang: "Withdrawn pending a check." for lang in item["text"]},
            }
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")


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


async def test_facts_and_act_stop_offering_a_retracted_item_from_the_next_tick(
    driver: BotDriver, services: BotServices
) -> None:
    [facts] = await driver.send(VISITOR, "/facts")
    [act] = await driver.send(VISITOR, "/act")
    assert "45 attacks" in facts.text and "Aid could not reach" in facts.text
    assert "Share the findings with your representative." in act.text

    notices = Notices()
    watch = StatusWatch(services.library, services.store, SystemClock(), notices)  # at start
    retract(services.library.root, "f-attacks", "a-share")
    await watch.check()  # what the worker's next tick does in the same process

    [facts] = await driver.send(VISITOR, "/facts")
    [act] = await driver.send(VISITOR, "/act")
    assert "45 attacks" not in facts.text and "Aid could not reach" in facts.text
    assert "Share the findings" not in act.text
    assert "Publicly acknowledge the civilian toll in Mosul." in act.text  # the demand
    assert sorted(n.split(" ", 1)[0] for n in notices.sent) == ["a-share", "f-attacks"]


async def test_the_fan_out_skips_a_retracted_items_messages_at_send_time(
    campaign: Campaign, store: Store, fake_api: FakeBotAPI
) -> None:
    """Rows the sweep did not see (written by a process with the old library) are refused."""
    async with running_harness(reviewed_campaign(campaign), store, fake_api) as harness:
        add_subscribers(store, range(1, 6), language="en")
        store.set_paused(True, "cli:a", "cli")
        broadcast = harness.queue("a-share", topic="acknowledge")
        await wait_until(lambda: len(messages(store, broadcast)) == 5, 10, "the recipients")
        retract(campaign.messages, "a-share")
        assert reload_library(harness.core.library) == []  # reloaded, not swept
        store.set_paused(False, "cli:a", "cli")
        await harness.finished(broadcast)
    rows = messages(store, broadcast)
    assert {row.status for row in rows} == {"skipped"}
    assert {row.error for row in rows} == {
        "a-share was retracted on 2026-11-24: Withdrawn pending a check."
    }
    assert fake_api.per_chat_delivered == {}
