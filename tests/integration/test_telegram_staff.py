"""Staff run the campaign from Telegram: real PTB, the real outbox and worker, the fake Bot API."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.render.limits import telegram_length
from bot.store import Broadcast, Delivery, DeliveryStatus, Post, PostStatus
from bot.store.subscribers import consent
from tests.fakes.telegram_api import FakeBotAPI
from tests.fakes.telegram_fixtures import (  # noqa: F401 (fixtures by name)
    CHANNEL,
    STAFF_A,
    STAFF_B,
    START,
    Running,
    fake_api_fixture,
    ptb_timedelta_fixture,
    start_running,
    stop_running,
    telegram_campaign,
)

SUPPORTER = 5551


@pytest.fixture(name="running")
async def running_fixture(
    fake_api: FakeBotAPI, tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Running]:
    running = await start_running(
        fake_api, telegram_campaign(tmp_path / "campaign"), db_url, monkeypatch
    )
    yield running
    await stop_running(running)


@pytest.fixture(name="two_person")
async def two_person_fixture(
    fake_api: FakeBotAPI, tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Running]:
    campaign = telegram_campaign(tmp_path / "campaign", approvals_required=1)
    running = await start_running(fake_api, campaign, db_url, monkeypatch)
    yield running
    await stop_running(running)


async def say(running: Running, user: int, text: str, lang: str = "en") -> str:
    """Send a command from ``user``; return the bot's replies joined."""
    return "\n".join(r.text for r in await running.driver.send(user, text, lang=lang))


# -- who may run staff commands ------------------------------------------------------------------


async def test_non_staff_commands_are_refused_and_audited(running: Running) -> None:
    refusals = [
        await say(running, SUPPORTER, "/post f-attacks telegram"),
        await say(running, SUPPORTER, "/pause"),
        await say(running, SUPPORTER, "/broadcast a-share"),
        await say(running, SUPPORTER, "/approve 1"),
    ]
    arabic = await say(running, SUPPORTER, "/queue", lang="ar")

    assert set(refusals) == {"This command is for campaign staff only."}
    assert arabic == "هذا الأمر مخصّص لفريق الحملة فقط."
    assert running.posts() == [] and not running.core.store.is_paused()
    audit = running.audit()
    assert [(a.actor, a.action, a.allowed) for a in audit] == [
        (f"telegram:{SUPPORTER}", action, False)
        for action in ("post", "pause", "broadcast", "approve", "queue")
    ]
    assert json.loads(audit[0].detail) == {"args": "f-attacks telegram"}
    assert running.channel_posts() == []


# -- the staff commands --------------------------------------------------------------------------


async def test_staff_post_queue_preview_cancel_pause_resume_stats_failed(
    running: Running,
) -> None:
    scheduled = await say(running, STAFF_A, "/post f-attacks telegram +2h ar")
    assert scheduled.startswith("Post 1 scheduled: f-attacks (ar)")
    [post] = running.posts()
    assert (post.item_id, post.lang, post.created_by) == ("f-attacks", "ar", f"telegram:{STAFF_A}")
    assert post.due_at == START + timedelta(hours=2)

    queue = await say(running, STAFF_B, "/queue")
    assert "▶️ running" in queue and "post 1" in queue and "f-attacks" in queue

    preview = await say(running, STAFF_A, "/preview f-attacks telegram ar")
    assert "telegram · ar" in preview and "هجومًا" in preview and "Amnesty" in preview
    unknown = await say(running, STAFF_A, "/preview f-attacks x")
    assert unknown.startswith("⚠️") and "channel" in unknown
    missing = await say(running, STAFF_A, "/preview no-such-item")
    assert missing.startswith("⚠️") and "no-such-item" in missing

    assert "paused" in await say(running, STAFF_A, "/pause")
    assert running.core.store.is_paused()
    assert "already paused" in await say(running, STAFF_B, "/pause")
    assert "⏸ PAUSED" in await say(running, STAFF_B, "/queue")
    assert "resumed" in await say(running, STAFF_B, "/resume")
    assert not running.core.store.is_paused()

    assert "Post 1 cancelled" in await say(running, STAFF_B, "/cancel 1")
    assert "post 1" not in await say(running, STAFF_A, "/queue")
    again = await say(running, STAFF_A, "/cancel 1")
    assert again.startswith("⚠️") and "cancelled" in again
    assert "/cancel 12" in await say(running, STAFF_A, "/cancel soon")

    stats = await say(running, STAFF_A, "/stats")
    assert "Supporters</b>: 0 active, 0 inactive" in stats
    assert "Deliveries</b>: none" in stats
    assert "No failed, missed or uncertain" in await say(running, STAFF_A, "/failed")

    await running.tick(hours=3)
    assert running.channel_posts() == []  # the cancelled post never went out
    actions = [(a.actor, a.action) for a in running.audit()]
    assert (f"telegram:{STAFF_A}", "post") in actions
    assert (f"telegram:{STAFF_B}", "cancel") in actions
    assert (f"telegram:{STAFF_A}", "pause") in actions


async def test_long_listings_are_split_to_fit_telegram(running: Running) -> None:
    store = running.core.store
    now = running.clock.now()
    with store.sessions.begin() as session:
        for n in range(150):
            post = Post(
                item_id="f-attacks",
                lang="en",
                channels="telegram",
                due_at=now + timedelta(minutes=n + 1),
                created_by="cli:test",
                created_at=now,
                updated_at=now,
            )
            session.add(post)
            session.flush()
            if n < 30:
                post.status = PostStatus.DISPATCHED
                session.add(
                    Delivery(
                        post_id=post.id,
                        channel="telegram",
                        item_id="f-attacks",
                        lang="en",
                        idempotency_key=f"k{n}",
                        status=DeliveryStatus.FAILED,
                        next_attempt_at=now,
                        error="Telegram rejected the post: <b>" + "very long reason " * 200,
                        created_at=now,
                        updated_at=now,
                    )
                )

    for command, marker in (("/queue 1", "post "), ("/failed", "failed")):
        since = running.driver.mark()
        replies = await running.driver.send(STAFF_A, command)
        assert 1 < len(replies) <= 4, command
        assert all(telegram_length(r.text) <= 4096 for r in replies)
        assert all(r.text.count("<b>") == r.text.count("</b>") for r in replies)
        shown = sum(r.text.count(marker) for r in replies)
        assert shown >= 30, command
        assert len(running.driver.replies(STAFF_A, since)) == len(replies)
    failed = "\n".join(r.text for r in replies)
    assert "&lt;b&gt;" in failed  # the error text is shown, escaped, not as markup


# -- publishing --------------------------------------------------------------------------------


async def test_a_scheduled_post_reaches_the_channel_exactly_once(running: Running) -> None:
    await say(running, STAFF_A, "/post f-attacks telegram +10m")
    await running.tick()
    assert running.channel_posts() == []  # not due yet

    await running.tick(minutes=10)
    await running.tick()
    await running.tick(minutes=5)

    [text] = running.channel_posts()
    assert "45 attacks" in text and "Amnesty International" in text
    [sent] = running.fake.sent_messages(CHANNEL)
    assert json.loads(sent.params["link_preview_options"]) == {"is_disabled": True}
    [delivery] = running.deliveries()
    assert delivery.status == DeliveryStatus.SENT
    assert delivery.url == f"https://t.me/campaign/{sent.message_id}"


async def test_flood_control_on_a_channel_post_waits_retry_after(running: Running) -> None:
    await say(running, STAFF_A, "/post f-attacks telegram")
    running.fake.fail_next("sendMessage", 429, "Too Many Requests: retry after 3", retry_after=3)

    await running.tick()
    [delivery] = running.deliveries()
    assert delivery.status == DeliveryStatus.PENDING and "rate limited" in (delivery.error or "")
    assert delivery.next_attempt_at == running.clock.now() + timedelta(seconds=3)
    await running.tick()
    await running.tick(seconds=2)
    assert running.channel_posts() == []

    await running.tick(seconds=1)
    await running.tick(seconds=30)

    assert len(running.channel_posts()) == 1
    to_channel = [
        c.status
        for c in running.fake.calls_to("sendMessage")
        if c.params.get("chat_id") == CHANNEL
    ]
    assert to_channel == [429, 200]
    [delivery] = running.deliveries()
    assert delivery.status == DeliveryStatus.SENT and delivery.attempts == 2


async def test_two_person_rule_holds_a_post_until_another_staff_member_approves(
    two_person: Running,
) -> None:
    running = two_person
    created = await say(running, STAFF_A, "/post f-attacks telegram")
    assert "Needs approval by another staff member: /approve 1" in created

    await running.tick()
    [post] = running.posts()
    assert post.status == PostStatus.HELD and running.channel_posts() == []
    for staff in (STAFF_A, STAFF_B):
        [notice] = [m.text for m in running.fake.sent_messages(staff) if "held" in m.text]
        assert "/approve 1" in notice

    own = await say(running, STAFF_A, "/approve 1")
    assert own.startswith("⚠️") and "different staff member" in own
    await running.tick()
    assert running.channel_posts() == []
    refused = await say(running, SUPPORTER, "/approve 1")
    assert "staff only" in refused

    assert "Post 1 approved" in await say(running, STAFF_B, "/approve 1")
    await running.tick()
    await running.tick(seconds=5)
    assert "already approved" in await say(running, STAFF_B, "/approve 1")

    assert len(running.channel_posts()) == 1
    [post] = running.posts()
    assert (post.status, post.approved_by) == (PostStatus.DISPATCHED, f"telegram:{STAFF_B}")


# -- broadcasts ----------------------------------------------------------------------------------


async def test_broadcast_is_planned_confirmed_by_button_and_cancelled(running: Running) -> None:
    store = running.core.store
    people = ((101, "ar", "acknowledge"), (102, "en", "weapons"), (103, "ckb", ""))
    for chat, lang, topics in people:
        consent(store, chat, language=lang, topics=topics, time_zone="Asia/Baghdad")
    driver = running.driver

    [plan] = await driver.send(STAFF_A, "/broadcast a-share")
    assert "Broadcast a-share to 2 subscribers" in plan.text
    assert "ar 1, en 1" in plan.text and "1 ckb" in plan.text  # ckb is not reviewed
    assert plan.data == ["bc:go:1", "bc:no:1"]

    since = driver.mark()
    assert await driver.press(SUPPORTER, "bc:go:1", message_id=plan.message_id) == []
    [refusal] = driver.answers(since)
    assert refusal.params["show_alert"] == "true" and "staff" in refusal.params["text"]
    assert running.audit()[-1].action == "button" and not running.audit()[-1].allowed

    [queued] = await driver.press(STAFF_B, "bc:go:1", message_id=plan.message_id)
    assert queued.text.startswith("Broadcast 1 queued")
    since = driver.mark()
    assert await driver.press(STAFF_B, "bc:go:1", message_id=plan.message_id) == []
    assert "expired" in driver.answers(since)[0].params["text"]

    [narrow] = await driver.send(STAFF_A, "/broadcast a-share #acknowledge ar")
    assert "to 1 subscriber on #acknowledge (ar 1)" in narrow.text
    [dropped] = await driver.press(STAFF_A, narrow.data[1], message_id=narrow.message_id)
    assert dropped.text == "Broadcast not sent."

    with store.sessions() as session:
        [row] = session.scalars(select(Broadcast)).all()
    assert (row.item_id, row.topic, row.lang, row.created_by, row.status) == (
        "a-share",
        None,
        None,
        f"telegram:{STAFF_B}",
        "selecting",
    )

    assert "Broadcast 1 cancelled" in await say(running, STAFF_A, "/broadcast cancel 1")
    assert "cancelled already" in await say(running, STAFF_A, "/cancelbroadcast 1")
    assert "usage: /broadcast" in await say(running, STAFF_A, "/broadcast")
    assert "no-such-item" in await say(running, STAFF_A, "/broadcast no-such-item")
    assert "nothing to send" in await say(running, STAFF_A, "/broadcast a-share aid")
    with store.sessions() as session:
        assert session.get(Broadcast, 1).status == "cancelled"  # type: ignore[union-attr]


async def test_staff_notices_fit_one_message_and_skip_staff_without_a_chat(
    running: Running,
) -> None:
    notifier = running.runtime.notifier
    running.fake.missing_chat(STAFF_B)  # never started the bot
    await notifier.notify_staff("Delivery 7 failed: <b>" + "reason " * 1000)

    [notice] = running.fake.sent_messages(STAFF_A)
    assert telegram_length(notice.text) <= 4096
    assert notice.text.startswith("⚠️ Delivery 7 failed: &lt;b&gt;")
    assert running.fake.sent_messages(STAFF_B) == []


async def test_help_lists_staff_commands_for_staff_only(running: Running) -> None:
    staff_help = await say(running, STAFF_A, "/help")
    assert "/broadcast /cancelbroadcast" in staff_help
    assert "/broadcast" not in await say(running, SUPPORTER, "/help")
