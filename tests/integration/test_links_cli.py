"""``campaign-bot links``: every sign-up link printed, and QR codes that decode back to it."""

from __future__ import annotations

import asyncio
import json
import re
import socket
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import zxingcpp
from click.testing import CliRunner, Result
from PIL import Image, ImageDraw

from bot.cli import cli
from tests.campaign_factory import Campaign, make_campaign
from tests.fakes.telegram_api import FakeBotAPI

TOKEN = "123456:TEST-secret-token-value"
LINKS = [
    {
        "code": "erbil-poster",
        "language": "ckb",
        "topics": ["weapons"],
        "where": "a poster in Erbil",
    },
    {"code": "Event_2026", "language": "ar"},
    {"code": "x" * 64},  # the longest code Telegram allows
]


@pytest.fixture(name="linked")
def linked_fixture(tmp_path: Path) -> Campaign:
    campaign = make_campaign(tmp_path / "campaign")
    config = campaign.config()
    config["signup_links"] = LINKS
    campaign.write_config(config)
    return campaign


def run(campaign: Campaign, *args: str) -> Result:
    return CliRunner().invoke(cli, ["links", "--config", str(campaign.config_path), *args])


def decode_png(path: Path) -> list[str]:
    return [code.text for code in zxingcpp.read_barcodes(Image.open(path))]


def decode_svg(path: Path) -> list[str]:
    """Draw segno's SVG path (runs of dark modules, one row per ``m``) and decode it."""
    root = ET.parse(path).getroot()
    size = int(root.attrib["width"])
    [element] = [e for e in root.iter() if e.tag.endswith("path")]
    scale = float(re.fullmatch(r"scale\((\d+)\)", element.attrib["transform"])[1])  # type: ignore[index]
    image = Image.new("L", (size, size), 255)
    draw = ImageDraw.Draw(image)
    x = y = 0.0
    for command, a, b in re.findall(r"([MmHh])(-?[\d.]+)(?:\s(-?[\d.]+))?", element.attrib["d"]):
        if command in "Mm":
            x, y = (float(a), float(b)) if command == "M" else (x + float(a), y + float(b))
            continue
        end = x + float(a)
        top = (y - 0.5) * scale
        draw.rectangle([x * scale, top, end * scale - 1, top + scale - 1], fill=0)
        x = end
    return [code.text for code in zxingcpp.read_barcodes(image)]


def test_links_print_and_qr_codes_decode_back_to_them(
    linked: Campaign, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_USERNAME", "@mosul_campaign_bot")
    out = tmp_path / "posters"
    result = run(linked, "--out", str(out))
    assert result.exit_code == 0, result.output
    urls = [f"https://t.me/mosul_campaign_bot?start={link['code']}" for link in LINKS]
    for url in urls:
        assert url in result.stdout
    assert "erbil-poster (ckb, weapons) · a poster in Erbil" in result.stdout
    assert f"Wrote 3 QR codes (PNG and SVG) to {out}/" in result.stdout
    for link, url in zip(LINKS, urls, strict=True):
        assert decode_png(out / f"{link['code']}.png") == [url]
        assert decode_svg(out / f"{link['code']}.svg") == [url]
    assert sorted(p.name for p in out.iterdir()) == sorted(
        f"{link['code']}.{ext}" for link in LINKS for ext in ("png", "svg")
    )


def test_json_and_no_qr(linked: Campaign, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_USERNAME", "mosul_campaign_bot")
    result = run(linked, "--no-qr", "--json")
    assert result.exit_code == 0, result.output
    data: list[dict[str, Any]] = json.loads(result.stdout)
    assert data[0] == {
        "code": "erbil-poster",
        "url": "https://t.me/mosul_campaign_bot?start=erbil-poster",
        "language": "ckb",
        "topics": ["weapons"],
        "where": "a poster in Erbil",
        "png": None,
        "svg": None,
    }
    assert not (tmp_path / "signup-qr").exists()


def test_the_default_folder_is_signup_qr(
    linked: Campaign, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_USERNAME", "mosul_campaign_bot")
    assert run(linked).exit_code == 0
    assert (Path.cwd() / "signup-qr" / "Event_2026.png").is_file()


def test_without_a_username_or_token_it_says_what_is_needed(linked: Campaign) -> None:
    result = run(linked)
    assert result.exit_code == 2
    assert "TELEGRAM_BOT_USERNAME" in result.stderr and "TELEGRAM_BOT_TOKEN" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_bad_username_setting_is_a_config_error(
    linked: Campaign, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_USERNAME", "t.me/bot")
    result = run(linked)
    assert result.exit_code == 2
    assert "is not a Telegram username" in result.stderr


def test_unknown_topics_are_warned_about(
    linked: Campaign, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = linked.config()
    config["signup_links"] = [{"code": "stall", "topics": ["weapons", "chlorine"]}]
    linked.write_config(config)
    monkeypatch.setenv("TELEGRAM_BOT_USERNAME", "mosul_campaign_bot")
    result = run(linked, "--no-qr")
    assert result.exit_code == 0
    assert "Warning: link stall: topic 'chlorine' is in no library item" in result.stderr


def test_no_links_configured(campaign: Campaign) -> None:
    result = run(campaign)
    assert result.exit_code == 0
    assert "No sign-up links" in result.stdout and "signup_links" in result.stdout


# -- the username from Telegram's getMe ----------------------------------------------------------


@contextmanager
def fake_in_thread(**options: Any) -> Iterator[FakeBotAPI]:
    """The fake Bot API on its own loop, so the command can run its own asyncio.run."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    fake = FakeBotAPI(**options)
    asyncio.run_coroutine_threadsafe(fake.start(), loop).result(30)
    try:
        yield fake
    finally:
        asyncio.run_coroutine_threadsafe(fake.close(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(30)
        loop.close()


def test_with_a_token_the_username_comes_from_get_me(
    linked: Campaign, monkeypatch: pytest.MonkeyPatch
) -> None:
    with fake_in_thread(bot_username="campaign_reminder_bot") as fake:
        monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
        monkeypatch.setenv("TELEGRAM_API_BASE_URL", fake.root)
        monkeypatch.setenv("TELEGRAM_BOT_USERNAME", "old_name_bot")
        result = run(linked, "--no-qr")
        assert [c.method for c in fake.calls] == ["getMe"]
    assert result.exit_code == 0, result.output
    assert "https://t.me/campaign_reminder_bot?start=erbil-poster" in result.stdout
    assert "old_name_bot but the token's bot is @campaign_reminder_bot" in result.stderr
    assert TOKEN not in result.output


def test_a_rejected_token_is_a_config_error(
    linked: Campaign, monkeypatch: pytest.MonkeyPatch
) -> None:
    with fake_in_thread(token="999:other-token") as fake:
        monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
        monkeypatch.setenv("TELEGRAM_API_BASE_URL", fake.root)
        result = run(linked, "--no-qr")
    assert result.exit_code == 2
    assert "Telegram rejected TELEGRAM_BOT_TOKEN" in result.stderr
    assert TOKEN not in result.output


def test_telegram_unreachable_falls_back_to_the_setting(
    linked: Campaign, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as sock:  # a loopback port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("TELEGRAM_API_BASE_URL", f"http://127.0.0.1:{port}")
    result = run(linked, "--no-qr")
    assert result.exit_code == 2
    assert "set TELEGRAM_BOT_USERNAME" in result.stderr
    monkeypatch.setenv("TELEGRAM_BOT_USERNAME", "mosul_campaign_bot")
    result = run(linked, "--no-qr")
    assert result.exit_code == 0
    assert "https://t.me/mosul_campaign_bot?start=Event_2026" in result.stdout
    assert "using TELEGRAM_BOT_USERNAME" in result.stderr
    assert TOKEN not in result.output
