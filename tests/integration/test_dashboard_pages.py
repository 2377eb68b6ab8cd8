"""The dashboard's pages and actions over HTTP: the same rules and refusals as the CLI."""

from __future__ import annotations

import asyncio
import html
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.store import Delivery, DeliveryStatus, Post, PostStatus
from bot.store.posts import create_post, write_deliveries
from bot.store.subscribers import consent
from tests.campaign_factory import SOURCE, demand, finding
from tests.web_harness import STAFF_A, STAFF_B, Web, dashboard_campaign, start_web

PAGES = (
    "/calendar",
    "/calendar?view=month",
    "/calendar?start=2026-12-01",
    "/library",
    "/library?kind=finding&lang=ar&review=reviewed",
    "/library/f-attacks",
    "/schedule",
    "/deliveries",
    "/deliveries?status=failed&channel=telegram&date=2026-11-24",
    "/broadcasts",
    "/supporters",
    "/calendar/slot?item=f-attacks&lang=en&at=2026-11-24T06:00Z&channels=telegram,x",
)


@pytest.fixture(name="web")
async def web_fixture(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Web]:
    async for web in start_web(dashboard_campaign(tmp_path / "c"), db_url, monkeypatch):
        yield web


@pytest.fixture(name="two_person")
async def two_person_fixture(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Web]:
    campaign = dashboard_campaign(tmp_path / "c", approvals_required=1)
    async for web in start_web(campaign, db_url, monkeypatch):
        yield web


def posts(web: Web) -> list[Post]:
    with web.core.store.sessions() as session:
        return list(session.scalars(select(Post).order_by(Post.id)))


async def test_every_page_renders_with_a_strict_csp_and_no_inline_script(web: Web) -> None:
    await web.sign_in()
    for path in PAGES:
        response = await web.client.get(path)
        text = await response.text()
        assert response.status == 200, (path, text[:500])
        csp = response.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "default-src 'none'" in csp
        assert "unsafe-inline" not in csp and "http" not in csp
        for tag in re.findall(r"<script[^>]*>", text):
            assert 'src="/static/' in tag, (path, tag)
        assert " style=" not in text and "<style" not in text, path
        assert "https://cdn" not in text
    chart = await web.client.get("/supporters/chart.svg")
    assert chart.status == 200 and chart.content_type == "image/svg+xml"
    # pygal writes its config in an inline script: it is an <img>, and its CSP runs no script.
    assert chart.headers["Content-Security-Policy"].startswith("default-src 'none'")
    assert "script-src" not in chart.headers["Content-Security-Policy"]
    assert not re.search(r"<script[^>]*src=", await chart.text())  # no tooltips from a CDN
    script = await web.client.get("/static/progress.js")
    assert script.status == 200 and "fetch(" in await script.text()


async def test_the_calendar_shows_planned_firings_in_every_language(web: Web) -> None:
    await web.sign_in()
    text = await (await web.client.get("/calendar")).text()
    assert "Week of 23 November 2026" in text
    # daily-finding at 09:00 Baghdad, in en and ar (reviewed) and ckb (skipped, unreviewed).
    assert re.search(r"09:00 <span dir=\"ltr\">f-attacks</span> · en", text)
    assert re.search(r"09:00 <span dir=\"ltr\">f-attacks</span> · ar", text)
    assert "skip: the ckb text of f-attacks is not reviewed yet" in text
    month = await (await web.client.get("/calendar?view=month&start=2026-12-15")).text()
    assert "December 2026" in month
    assert 'href="/calendar?view=month&amp;start=2026-11-01" id="earlier"' in month
    assert 'href="/calendar?view=month&amp;start=2027-01-01" id="later"' in month
    slot = await web.client.get(
        "/calendar/slot?item=f-attacks&lang=ar&at=2026-11-25T06:00Z&channels=telegram,x"
    )
    body = await slot.text()
    assert 'dir="rtl" lang="ar"' in body and "UNREVIEWED (not published)" in body
    assert re.search(r"<meter min=\"0\" max=\"280\"", body)  # x: length against its limit
    assert "Amnesty International" in body  # the source


async def test_scheduling_from_the_form_uses_the_cli_rules(web: Web) -> None:
    csrf = await web.sign_in()
    form = {"item": "f-attacks", "channel": "telegram", "lang": "en", "when": "2026-11-25T10:15"}
    status, _ = await web.post("/schedule", form, csrf)
    assert status == 303
    [post] = posts(web)
    assert post.created_by == f"telegram:{STAFF_A}" and post.lang == "en"
    assert post.due_at.isoformat() == "2026-11-25T07:15:00+00:00"  # 10:15 in Baghdad
    assert ("post", True) in [(a[2], a[3]) for a in web.audit() if a[1] == "web"]
    calendar = await (await web.client.get("/calendar")).text()
    assert f"/calendar/post/{post.id}" in calendar and "10:15" in calendar

    refusals = {
        "is in the past": {**form, "when": "2026-11-23T10:00"},
        "unknown item &#39;f-nothing&#39;": {**form, "item": "f-nothing"},
        "not a date and time": {**form, "when": "next tuesday"},
        "too long": {**form, "item": "f" * 500},
        "the ckb text of f-attacks is not reviewed": {**form, "lang": "ckb"},
        "name at least one channel": {k: v for k, v in form.items() if k != "channel"},
    }
    for message, data in refusals.items():
        status, text = await web.post("/schedule", data, csrf)
        assert status == 400, message
        assert message in text, (message, text[-2000:])
    assert len(posts(web)) == 1


async def test_a_post_can_be_scheduled_for_now_in_two_languages(web: Web) -> None:
    csrf = await web.sign_in()
    data = {"item": "d-acknowledge", "channel": ["telegram", "x"], "lang": ["en", "ar"]}
    response = await web.client.post(
        "/schedule",
        data=[
            ("csrf", csrf),
            ("item", "d-acknowledge"),
            ("channel", "telegram"),
            ("channel", "x"),
            ("lang", "en"),
            ("lang", "ar"),
            ("when", ""),
        ],
        allow_redirects=False,
    )
    assert response.status == 303 and data
    made = posts(web)
    assert [(p.lang, p.channels, p.due_at) for p in made] == [
        ("en", "telegram x", web.clock.now()),
        ("ar", "telegram x", web.clock.now()),
    ]
    page = await (await web.client.get(response.headers["Location"])).text()
    assert f"Scheduled: post {made[0].id}, post {made[1].id}." in page


async def test_a_form_with_a_refused_language_schedules_nothing(web: Web) -> None:
    csrf = await web.sign_in()
    fields = [("csrf", csrf), ("item", "f-attacks"), ("channel", "telegram"), ("when", "")]
    fields += [("lang", "en"), ("lang", "ar"), ("lang", "ckb")]  # ckb is not reviewed
    response = await web.client.post("/schedule", data=fields, allow_redirects=False)
    assert response.status == 400
    text = await response.text()
    assert "the ckb text of f-attacks is not reviewed" in text
    assert "already scheduled" not in text
    assert posts(web) == []  # all or nothing: the en and ar posts were not made either


async def test_two_person_rule_in_the_browser(two_person: Web) -> None:
    web = two_person
    csrf_a = await web.sign_in(STAFF_A)
    form = {"item": "f-attacks", "channel": "telegram", "lang": "en", "when": "2026-11-25T10:00"}
    assert (await web.post("/schedule", form, csrf_a))[0] == 303
    [post] = posts(web)
    page = await (await web.client.get(f"/calendar/post/{post.id}")).text()
    assert "needs approval" in page and 'id="approve"' in page
    status, text = await web.post(f"/posts/{post.id}/approve", {}, csrf_a)
    assert status == 400 and "needs approval by a different staff member" in text
    assert posts(web)[0].approved_by is None

    web.client.session.cookie_jar.clear()
    csrf_b = await web.sign_in(STAFF_B)
    status, _ = await web.post(f"/posts/{post.id}/approve", {}, csrf_b)
    assert status == 303
    assert posts(web)[0].approved_by == f"telegram:{STAFF_B}"
    actions = [(a[0], a[2], a[3]) for a in web.audit() if a[1] == "web"]
    assert (f"telegram:{STAFF_A}", "approve", False) in actions
    assert (f"telegram:{STAFF_B}", "approve", True) in actions


async def test_move_and_cancel(web: Web) -> None:
    csrf = await web.sign_in()
    form = {"item": "f-attacks", "channel": "telegram", "lang": "en", "when": "2026-11-25T10:00"}
    await web.post("/schedule", form, csrf)
    [post] = posts(web)
    status, text = await web.post(f"/posts/{post.id}/move", {"when": "2026-11-01T10:00"}, csrf)
    assert status == 400 and "is in the past" in text
    status, text = await web.post(f"/posts/{post.id}/move", {"when": "soon"}, csrf)
    assert status == 400 and "not a date and time" in text
    status, _ = await web.post(f"/posts/{post.id}/move", {"when": "2026-11-27T18:30"}, csrf)
    assert status == 303
    assert posts(web)[0].due_at.isoformat() == "2026-11-27T15:30:00+00:00"
    assert (await web.post(f"/posts/{post.id}/cancel", {}, csrf))[0] == 303
    assert posts(web)[0].status == PostStatus.CANCELLED
    status, text = await web.post(f"/posts/{post.id}/cancel", {}, csrf)
    assert status == 400 and "can no longer be cancelled" in text
    assert {"move", "cancel"} <= {a[2] for a in web.audit() if a[0] == f"telegram:{STAFF_A}"}


async def test_pause_reason_is_shown_escaped_and_audited(web: Web) -> None:
    csrf = await web.sign_in()
    reason = "<script>alert(1)</script> security review"
    status, _ = await web.post("/pause", {"reason": reason, "back": "/library"}, csrf)
    assert status == 303
    assert web.core.store.is_paused() is True
    page = await (await web.client.get("/library")).text()
    assert "&lt;script&gt;alert(1)&lt;/script&gt; security review" in page
    assert "<script>alert" not in page and "PAUSED" in page
    [entry] = [a for a in web.audit() if a[2] == "pause"]
    assert entry[:4] == (f"telegram:{STAFF_A}", "web", "pause", True) and "security" in entry[4]
    status, text = await web.post("/pause", {"reason": "x" * 201}, csrf)
    assert status == 400 and "too long" in text
    assert (await web.post("/resume", {"reason": "done"}, csrf))[0] == 303
    assert web.core.store.is_paused() is False
    calendar = await (await web.client.get("/calendar")).text()
    assert "running" in calendar


async def test_pausing_marks_the_planned_posts_in_the_calendar(web: Web) -> None:
    csrf = await web.sign_in()
    await web.post("/pause", {"reason": "review"}, csrf)
    calendar = await (await web.client.get("/calendar")).text()
    assert "skip: the campaign is paused" in calendar


async def test_blackouts_are_added_listed_and_hold_the_calendar(web: Web) -> None:
    csrf = await web.sign_in()
    window = {"start": "2026-11-26T00:00", "end": "2026-11-27T00:00", "reason": "mourning day"}
    assert (await web.post("/blackouts", window, csrf))[0] == 303
    page = await (await web.client.get("/calendar")).text()
    assert "mourning day" in page
    assert "skip: blackout until 2026-11-26 21:00 UTC" in page
    for bad, message in (
        ({**window, "end": "2026-11-25T00:00"}, "must end after it starts"),
        ({**window, "start": "tomorrow"}, "not a date and time"),
        ({**window, "start": "2026-11-01T00:00", "end": "2026-11-02T00:00"}, "over already"),
    ):
        status, text = await web.post("/blackouts", bad, csrf)
        assert status == 400 and message in text
    assert [a[2] for a in web.audit() if a[2] == "blackout"] == ["blackout"]


async def test_deliveries_put_failed_and_uncertain_first(web: Web) -> None:
    csrf = await web.sign_in()
    assert csrf
    store = web.core.store
    now = web.clock.now()
    post = create_post(
        store,
        item_id="f-attacks",
        lang="en",
        channels=["telegram", "x", "mastodon"],
        due_at=now,
        created_by="cli:test",
        via="cli",
    )
    assert post is not None
    with store.sessions.begin() as session:
        write_deliveries(session, post, now, DeliveryStatus.SENT)
    with store.sessions.begin() as session:
        rows = list(session.scalars(select(Delivery).order_by(Delivery.id)))
        rows[0].url = "https://t.me/campaign/7"
        rows[1].status = DeliveryStatus.FAILED
        rows[1].error = "X said: <b>duplicate</b>"
        rows[2].status = DeliveryStatus.UNCERTAIN
    text = await (await web.client.get("/deliveries")).text()
    order = [m.group(1) for m in re.finditer(r"<td><strong>(\w+)</strong></td>", text)]
    assert order[:2] == ["failed", "uncertain"] or order[:2] == ["uncertain", "failed"]
    assert order[-1] == "sent"
    assert 'id="counts">failed 1 · sent 1 · uncertain 1' in text
    assert re.search(r"X today: \d+/10</p>", text)
    assert "&lt;b&gt;duplicate&lt;/b&gt;" in text and 'href="https://t.me/campaign/7"' in text
    only = await (await web.client.get("/deliveries?status=sent")).text()
    assert "failed</strong>" not in only and "sent</strong>" in only
    bad = await web.client.get("/deliveries?date=yesterday")
    assert bad.status == 400 and "is not a date" in await bad.text()
    post_page = await (await web.client.get(f"/calendar/post/{post.id}")).text()
    assert "https://t.me/campaign/7" in post_page


async def test_broadcast_shows_its_audience_then_starts_and_cancels(web: Web) -> None:
    csrf = await web.sign_in()
    for chat, lang in ((101, "en"), (102, "en"), (103, "ar"), (104, "ckb")):
        consent(web.core.store, chat, language=lang)
    status, text = await web.post("/broadcasts/plan", {"item": "a-share"}, csrf)
    assert status == 200
    assert re.search(r"<td>en</td><td>2</td>", text) and re.search(r"<td>ar</td><td>1</td>", text)
    assert "ckb (left out: no reviewed text)" in text and "Send to 3 supporters" in text
    assert "broadcast" not in [a[2] for a in web.audit()]  # nothing started yet
    status, _ = await web.post("/broadcasts", {"item": "a-share", "topic": "", "lang": ""}, csrf)
    assert status == 303
    page = await (await web.client.get("/broadcasts")).text()
    match = re.search(r'data-progress="/broadcasts/(\d+)/progress"', page)
    assert match is not None
    progress = await (await web.client.get(f"/broadcasts/{match.group(1)}/progress")).json()
    assert progress["item"] == "a-share" and progress["status"] in ("selecting", "pending")
    status, _ = await web.post(f"/broadcasts/{match.group(1)}/cancel", {}, csrf)
    assert status == 303
    progress = await (await web.client.get(f"/broadcasts/{match.group(1)}/progress")).json()
    assert progress["status"] == "cancelled"
    status, text = await web.post("/broadcasts/plan", {"item": "nothing"}, csrf)
    assert status == 400 and "unknown item" in text


async def test_supporters_page_shows_aggregates_and_no_person(web: Web) -> None:
    await web.sign_in()
    for chat, lang in ((777001, "en"), (777002, "ar")):
        consent(web.core.store, chat, language=lang, topics="weapons")
    text = await (await web.client.get("/supporters")).text()
    assert "<strong>2</strong> active" in text and "#weapons" in text
    assert "777001" not in text and "777002" not in text
    chart = await (await web.client.get("/supporters/chart.svg")).text()
    assert "active" in chart and "777001" not in chart


async def test_library_shows_renders_with_length_and_problems(web: Web) -> None:
    await web.sign_in()
    listing = await (await web.client.get("/library?lang=ar&review=unreviewed")).text()
    assert "No item matches." in listing  # en and ar are reviewed everywhere
    listing = await (await web.client.get("/library?review=unreviewed")).text()
    assert "f-attacks" in listing and "ckb (unreviewed)" in listing
    item = await (await web.client.get("/library/f-attacks")).text()
    assert item.count("<meter") >= 9  # every channel × language
    assert 'dir="rtl" lang="ckb"' in item
    assert (await web.client.get("/library/nothing")).status == 404


@pytest.mark.parametrize("start", ["2100-01-01", "9999-12-31", "0001-01-01", "2029-01-01"])
async def test_a_calendar_far_from_today_is_a_plain_400(web: Web, start: str) -> None:
    await web.sign_in()
    for view in ("month", "week"):
        response = await web.client.get(f"/calendar?view={view}&start={start}")
        assert response.status == 400
        assert "within two years of today (2026-11-24)" in await response.text()
    near = await web.client.get("/calendar?view=month&start=2028-11-01")
    assert near.status == 200 and "November 2028" in await near.text()


async def test_the_calendar_plans_off_the_event_loop(
    web: Web, monkeypatch: pytest.MonkeyPatch
) -> None:
    import bot.web.calendar as calendar_page

    loops: list[bool] = []
    real = calendar_page.entries

    def watched(*args: Any) -> Any:
        try:
            asyncio.get_running_loop()
            loops.append(True)
        except RuntimeError:  # a worker thread has no running loop
            loops.append(False)
        return real(*args)

    monkeypatch.setattr(calendar_page, "entries", watched)
    await web.sign_in()
    response = await web.client.get("/calendar?view=month")
    assert response.status == 200
    assert loops and not any(loops)  # every calendar request planned in a worker thread


async def test_a_slot_page_shows_the_state_the_calendar_shows(web: Web) -> None:
    await web.sign_in()
    calendar = await (await web.client.get("/calendar")).text()
    hrefs = [html.unescape(h) for h in re.findall(r'href="(/calendar/slot\?[^"]+)"', calendar)]
    ckb = next(h for h in hrefs if "lang=ckb" in h)
    en = next(h for h in hrefs if "lang=en" in h)
    body = await (await web.client.get(ckb)).text()
    assert re.search(r"· skip: the ckb text of \S+ is not reviewed yet\.", body)
    assert "· planned." in await (await web.client.get(en)).text()
    web.core.store.set_paused(True, "test", "cli")
    assert "· skip: the campaign is paused." in await (await web.client.get(en)).text()
    moved = re.sub(r"%3A(\d)\dZ", r"%3A\g<1>7Z", en)  # seven minutes past any firing
    assert moved != en
    assert "· not planned at this time." in await (await web.client.get(moved)).text()


COPY = "https://www.commondreams.org/newswire/2017/07/11/iraq-battle-between-us-led-coalition"


async def test_a_second_hand_source_is_credited_and_warned_about(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    campaign = dashboard_campaign(tmp_path / "c")
    via = {**SOURCE, "url": COPY, "via": "Common Dreams"}
    items = [finding(reviewed=["en", "ar"], source=via), demand(reviewed=["en", "ar"])]
    campaign.write_items("items.yaml", items)
    async for web in start_web(campaign, db_url, monkeypatch):
        await web.sign_in()
        listing = await (await web.client.get("/library")).text()
        row = listing.split('href="/library/f-attacks"')[1].split("</tr>")[0]
        assert "Amnesty International via Common Dreams" in row
        assert "1 warning" in row and "none" not in row
        page = await (await web.client.get("/library/f-attacks")).text()
        assert "Source: Amnesty International via Common Dreams," in page
        assert "None: <code>campaign-bot check</code> finds nothing wrong" not in page
        assert "second-hand source: Amnesty International via Common Dreams" in page
        slot = await web.client.get("/calendar/slot?item=f-attacks&lang=en&at=2026-11-24T06:00Z")
        assert "Source: Amnesty International via Common Dreams," in await slot.text()
