"""No channel delivery stays ``sending``: odd answers and bugs make it uncertain at once."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import OperationalError
from telegram import Bot

from bot.channels import Channel, Outgoing, Published
from bot.channels.mastodon import MastodonChannel
from bot.channels.telegram import TelegramChannel
from bot.store import Store
from bot.store.posts import list_deliveries
from tests.campaign_factory import Campaign
from tests.fakes.mastodon_api import FakeMastodon, mastodon_api_fixture  # noqa: F401
from tests.fakes.recording_channel import RecordingChannel
from tests.fakes.telegram_api import FakeBotAPI
from tests.fakes.telegram_fixtures import (  # noqa: F401 (fixtures by name)
    CHANNEL,
    bot_fixture,
    fake_api_fixture,
    ptb_timedelta_fixture,
    transport_fixture,
)
from tests.integration.test_outbox import Engine, make_engine


class Broken:
    """A channel adapter with a bug: it raises something that is not a ChannelError."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.calls = 0

    async def publish(self, post: Outgoing) -> Published:
        self.calls += 1
        raise RuntimeError("adapter bug")

    async def close(self) -> None:
        return None


def engine_with(campaign: Campaign, store: Store, name: str, channel: Channel) -> Engine:
    engine = make_engine(campaign, store)
    engine.outbox.channels = {name: channel}
    return engine


def uncertain_notices(engine: Engine, name: str) -> list[str]:
    return [n for n in engine.notices.sent if f"on {name}" in n and "uncertain" in n]


async def test_a_malformed_bot_api_answer_makes_the_channel_post_uncertain_and_tells_staff(
    campaign: Campaign, store: Store, fake_api: FakeBotAPI, bot: Bot
) -> None:
    engine = engine_with(campaign, store, "telegram", TelegramChannel(bot, CHANNEL))
    # A broken self-hosted Bot API server: "ok", but the Message lacks its chat and date.
    fake_api.answer_next_with("sendMessage", {"message_id": 7})
    engine.post(channels=["telegram"])
    await engine.tick()  # one tick: no restart needed for the verdict
    [row] = list_deliveries(store)
    assert row.status == "uncertain"
    assert "unexpected error while publishing" in (row.error or "")
    [notice] = uncertain_notices(engine, "telegram")
    assert "Check the channel" in notice
    assert len(fake_api.calls_to("sendMessage")) == 1
    engine.clock.advance(hours=2)
    await engine.tick()
    assert len(fake_api.calls_to("sendMessage")) == 1  # never re-sent blindly


async def test_a_malformed_mastodon_answer_makes_the_post_uncertain(
    campaign: Campaign, store: Store, mastodon_api: FakeMastodon
) -> None:
    channel = MastodonChannel(mastodon_api.base_url, mastodon_api.token)
    engine = engine_with(campaign, store, "mastodon", channel)
    mastodon_api.fail("POST", "/api/v1/statuses", 200, {"content": "<p>no id</p>"})
    engine.post(channels=["mastodon"])
    await engine.tick()
    assert engine.statuses() == [("mastodon", "uncertain")]
    assert len(uncertain_notices(engine, "mastodon")) == 1
    await channel.close()


@pytest.mark.parametrize("name", ["telegram", "x", "mastodon", "bluesky"])
async def test_any_adapter_bug_after_the_claim_makes_the_post_uncertain(
    campaign: Campaign, store: Store, name: str
) -> None:
    broken = Broken(name)
    engine = engine_with(campaign, store, name, broken)
    engine.post(channels=[name])
    await engine.tick()
    assert engine.statuses() == [(name, "uncertain")]
    assert len(uncertain_notices(engine, name)) == 1
    engine.clock.advance(hours=2)
    await engine.tick()
    assert broken.calls == 1


async def test_an_outcome_the_database_refused_is_written_when_it_answers(
    campaign: Campaign, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    channel = RecordingChannel("x")
    engine = engine_with(campaign, store, "x", channel)
    engine.post(channels=["x"])
    import bot.delivery.unwritten as unwritten

    real = unwritten.finish_delivery
    refusals = [OperationalError("UPDATE deliveries", {}, Exception("connection refused"))]

    def finish_or_refuse(*args: object, **values: object) -> None:
        if refusals:
            raise refusals.pop()
        real(*args, **values)  # type: ignore[arg-type]

    monkeypatch.setattr(unwritten, "finish_delivery", finish_or_refuse)
    with pytest.raises(OperationalError):
        await engine.tick()  # the post went out, its outcome could not be written
    assert engine.statuses() == [("x", "sending")]
    assert len(engine.outbox.unwritten) == 1
    await engine.tick()  # the database answers again
    [row] = list_deliveries(store)
    assert (row.status, row.external_id) == ("sent", "x-1")
    assert len(channel.published) == 1
    assert len(engine.outbox.unwritten) == 0
