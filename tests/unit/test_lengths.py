"""Post lengths agree with the networks' own counters on tricky text, and limits hold exactly."""

from __future__ import annotations

from dataclasses import dataclass

import grapheme
import pytest
from mastodon import Mastodon
from twitter_text import parse_tweet

from bot.config import load_config
from bot.render.check import check_campaign
from bot.render.limits import (
    RULES,
    bluesky_bytes_note,
    bluesky_length,
    mastodon_length,
    x_length,
)
from tests.campaign_factory import Campaign, action

FSI, PDI, LRI, RLI = "\u2068", "\u2069", "\u2066", "\u2067"
FAMILY = "👨‍👩‍👧‍👦"


@dataclass(frozen=True)
class Case:
    """A text and what X, Mastodon and Bluesky count for it."""

    id: str
    text: str
    x: int
    mastodon: int
    bluesky: int


CASES = [
    Case("ascii", "Sign the petition today", 23, 23, 23),
    Case("url", "Read https://example.org/reports/2024/water-access?lang=en now", 32, 32, 62),
    Case("bare-domain", "Visit example.com today", 35, 23, 23),
    # Punctuation and bidi isolates after a URL are text, not part of the URL.
    Case("url-trailing-period", "Read https://example.org/report.", 29, 29, 32),
    Case("url-in-parens", "(see https://example.org/report)", 29, 29, 32),
    Case("url-arabic-comma", "بخوێنەوە: https://example.org/ku/report، سوپاس", 40, 40, 46),
    Case("url-in-isolates", f"اقرأ {FSI}https://example.org/ar/report{PDI} الآن", 37, 35, 41),
    # Mastodon only links (and counts as 23) a URL whose TLD it knows; .example is reserved.
    Case("url-unknown-tld", "See http://report.example/water/access/2024 now", 47, 47, 47),
    Case("zwj-family", FAMILY, 2, 1, 1),
    Case("flags", "🇸🇾🇮🇶🇵🇸", 6, 3, 3),
    Case("skin-tone", "👍🏽 thanks", 9, 8, 8),
    Case("rainbow-flag", "🏳️‍🌈", 2, 1, 1),
    Case("keycap", "1️⃣", 2, 1, 1),
    Case("cjk", "日本語のテキスト", 16, 8, 8),
    Case("astral-cjk", "\U00020000 x", 4, 3, 3),
    Case("hangul-jamo", "한국어 \u1100\u1161", 9, 5, 5),
    Case("arabic-shadda", "وقّعوا العريضة اليوم", 20, 19, 19),
    Case("sorani", "ئاو مافێکی مرۆییە لە کوردستان", 29, 29, 29),
    Case("combining-marks", "cafe\u0301 nai\u0308ve", 10, 10, 10),
    # X weighs U+2066-U+2069 and LRM/RLM as 2 each: every isolated run costs 4 on X.
    Case("rtl-isolates", f"{LRI}abc{PDI} {RLI}ابج{PDI} {FSI}#غزة{PDI} {PDI}", 27, 20, 20),
    Case("rtl-marks", "\u200fمرحبا\u200e ok", 12, 10, 10),
    # twitter-text's own conformance case (validate.yml, UnicodeDirectionalMarkerCounterTest).
    Case("x-conformance-directional", f"{LRI}\u202ahttp://foobar.پاکستان/\u202c{PDI}", 31, 27, 26),
    Case("crlf", "a\r\nb", 3, 3, 3),
    Case("remote-mention", "Thanks @alice@example.social", 28, 13, 28),
    Case("remote-mention-in-isolates", f"{FSI}@alice@example.social{PDI}", 25, 8, 23),
]


def by_id(cases: list[Case]) -> list[object]:
    return [pytest.param(case, id=case.id) for case in cases]


@pytest.mark.parametrize("case", by_id(CASES))
def test_x_length_is_twitter_texts_weighted_length(case: Case) -> None:
    assert parse_tweet(case.text).weightedLength == case.x
    assert x_length(case.text) == case.x


@pytest.mark.parametrize("case", by_id(CASES))
def test_bluesky_length_counts_graphemes(case: Case) -> None:
    assert grapheme.length(case.text) == case.bluesky
    assert bluesky_length(case.text) == case.bluesky


@pytest.mark.parametrize("case", by_id(CASES))
def test_mastodon_length_matches_mastodon(case: Case) -> None:
    assert Mastodon.get_status_length(case.text) == case.mastodon
    assert mastodon_length(case.text) == case.mastodon


def test_limits_are_the_networks_limits() -> None:
    assert (RULES["x"].limit, RULES["mastodon"].limit, RULES["bluesky"].limit) == (280, 500, 300)


LONG_URL = "https://example.org/" + "p" * 100  # 120 characters


@pytest.mark.parametrize(
    ("text", "length", "fits"),
    [
        ("a" * 280, 280, True),
        ("a" * 281, 281, False),
        ("日" * 140, 280, True),
        ("日" * 141, 282, False),
        (FAMILY * 140, 280, True),
        ("x" * 256 + " " + LONG_URL, 280, True),  # a URL is 23, however long
    ],
    ids=["ascii-280", "ascii-281", "cjk-140", "cjk-141", "family-140", "long-url"],
)
def test_x_boundary(text: str, length: int, fits: bool) -> None:
    assert x_length(text) == parse_tweet(text).weightedLength == length
    assert (length <= RULES["x"].limit) is fits is parse_tweet(text).valid


@pytest.mark.parametrize(
    ("text", "length", "fits"),
    [
        ("a" * 500, 500, True),
        ("a" * 501, 501, False),
        ("ع" * 500, 500, True),
        ("a" * 476 + " " + LONG_URL, 500, True),  # a URL is 23, however long
    ],
    ids=["ascii-500", "ascii-501", "arabic-500", "long-url"],
)
def test_mastodon_boundary(text: str, length: int, fits: bool) -> None:
    assert mastodon_length(text) == Mastodon.get_status_length(text) == length
    assert (length <= RULES["mastodon"].limit) is fits


@pytest.mark.parametrize(
    ("text", "length", "fits"),
    [
        ("ا" * 300, 300, True),
        ("ا" * 301, 301, False),
        ("🇵🇸" * 300, 300, True),  # 2400 bytes
        ("🇵🇸" * 301, 301, False),
        ("a" * 179 + " " + LONG_URL, 300, True),  # Bluesky counts the URL in full
        ("a" * 180 + " " + LONG_URL, 301, False),
    ],
    ids=["arabic-300", "arabic-301", "flags-300", "flags-301", "url-300", "url-301"],
)
def test_bluesky_boundary(text: str, length: int, fits: bool) -> None:
    assert bluesky_length(text) == grapheme.length(text) == length
    assert (length <= RULES["bluesky"].limit) is fits


@pytest.mark.parametrize(
    ("text", "graphemes", "size", "length", "fits"),
    [
        (FAMILY * 120, 120, 3000, 120, True),  # exactly at the byte cap
        (FAMILY * 121, 121, 3025, 303, False),  # 121 graphemes, but over 3000 bytes
        (FAMILY * 300, 300, 7500, 750, False),
    ],
    ids=["family-120", "family-121", "family-300"],
)
def test_bluesky_byte_cap(text: str, graphemes: int, size: int, length: int, fits: bool) -> None:
    # The post lexicon: maxGraphemes 300 and maxLength 3000, which the PDS counts in UTF-8
    # bytes. A family emoji is one grapheme and 25 bytes.
    assert (grapheme.length(text), len(text.encode("utf-8"))) == (graphemes, size)
    assert bluesky_length(text) == length
    assert (length <= RULES["bluesky"].limit) is fits
    assert (bluesky_bytes_note(text) is None) is fits


def test_mastodon_counts_an_unknown_tld_url_in_full_at_the_boundary() -> None:
    url = "http://report.example/" + "p" * 24  # 46 characters, not linked by Mastodon
    assert mastodon_length("a" * 453 + " " + url) == 500
    assert mastodon_length("a" * 454 + " " + url) == 501 > RULES["mastodon"].limit


def test_check_reports_a_bluesky_post_over_the_byte_cap(campaign: Campaign) -> None:
    # 120 family emoji: far below 300 graphemes, but 3000 bytes before the rest of the post.
    text = {lang: f"{share} {FAMILY * 120}" for lang, share in action()["text"].items()}
    campaign.write_items("items.yaml", [action(text=text)])

    report = check_campaign(load_config(campaign.config_path))

    bluesky = {p.lang: p.message for p in report.problems if p.channel == "bluesky"}
    assert set(bluesky) == {"en", "ar", "ckb"}
    assert all("3000 UTF-8 bytes" in message for message in bluesky.values())
    # Mastodon counts a family emoji as one character, like Bluesky's graphemes.
    assert "mastodon" not in {p.channel for p in report.problems}
    for rendered in (r for r in report.renders["a-share"] if r.channel == "bluesky"):
        assert grapheme.length(rendered.text) < 300 < rendered.length
