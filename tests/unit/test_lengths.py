"""Post lengths agree with the networks' own counters on tricky text, and limits hold exactly."""

from __future__ import annotations

from dataclasses import dataclass

import grapheme
import pytest
from mastodon import Mastodon
from twitter_text import parse_tweet

from bot.render.limits import RULES, bluesky_length, mastodon_length, x_length

FSI, PDI, LRI, RLI = "\u2068", "\u2069", "\u2066", "\u2067"
FAMILY = "👨‍👩‍👧‍👦"

# Known differences between limits.mastodon_length and Mastodon's count (Mastodon.py implements
# the server's rule: graphemes, URLs with a known TLD as 23, remote mentions without the domain).
GRAPHEMES = "mastodon_length counts code points; Mastodon counts graphemes (overcount, safe)"
MENTION = "mastodon_length counts @user@domain in full; Mastodon counts @user (overcount, safe)"
TRAILING = (
    "mastodon_length takes punctuation or a bidi isolate after a URL into the URL, "
    "so it is not counted (UNDERCOUNT: a post can pass the check and be refused)"
)
TLD = (
    "mastodon_length counts any http(s) URL as 23; Mastodon only URLs with a known TLD "
    "(UNDERCOUNT for unknown TLDs)"
)


@dataclass(frozen=True)
class Case:
    """A text and what X, Mastodon and Bluesky count for it."""

    id: str
    text: str
    x: int
    mastodon: int
    bluesky: int
    mastodon_differs: str | None = None  # why limits.mastodon_length gives another number


CASES = [
    Case("ascii", "Sign the petition today", 23, 23, 23),
    Case("url", "Read https://example.org/reports/2024/water-access?lang=en now", 32, 32, 62),
    Case("bare-domain", "Visit example.com today", 35, 23, 23),
    Case("url-trailing-period", "Read https://example.org/report.", 29, 29, 32, TRAILING),
    Case(
        "url-in-isolates",
        f"اقرأ {FSI}https://example.org/ar/report{PDI} الآن",
        37,
        35,
        41,
        TRAILING,
    ),
    Case("url-unknown-tld", "See http://report.example/water/access/2024 now", 47, 47, 47, TLD),
    Case("zwj-family", FAMILY, 2, 1, 1, GRAPHEMES),
    Case("flags", "🇸🇾🇮🇶🇵🇸", 6, 3, 3, GRAPHEMES),
    Case("skin-tone", "👍🏽 thanks", 9, 8, 8, GRAPHEMES),
    Case("rainbow-flag", "🏳️‍🌈", 2, 1, 1, GRAPHEMES),
    Case("keycap", "1️⃣", 2, 1, 1, GRAPHEMES),
    Case("cjk", "日本語のテキスト", 16, 8, 8),
    Case("astral-cjk", "\U00020000 x", 4, 3, 3),
    Case("hangul-jamo", "한국어 \u1100\u1161", 9, 5, 5, GRAPHEMES),
    Case("arabic-shadda", "وقّعوا العريضة اليوم", 20, 19, 19, GRAPHEMES),
    Case("sorani", "ئاو مافێکی مرۆییە لە کوردستان", 29, 29, 29),
    Case("combining-marks", "cafe\u0301 nai\u0308ve", 10, 10, 10, GRAPHEMES),
    # X weighs U+2066-U+2069 and LRM/RLM as 2 each: every isolated run costs 4 on X.
    Case("rtl-isolates", f"{LRI}abc{PDI} {RLI}ابج{PDI} {FSI}#غزة{PDI} {PDI}", 27, 20, 20),
    Case("rtl-marks", "\u200fمرحبا\u200e ok", 12, 10, 10),
    Case("crlf", "a\r\nb", 3, 3, 3, GRAPHEMES),
    Case("remote-mention", "Thanks @alice@example.social", 28, 13, 28, MENTION),
]


def by_id(cases: list[Case]) -> list[object]:
    return [pytest.param(case, id=case.id) for case in cases]


def mastodon_param(case: Case, *, only_undercounts: bool = False) -> object:
    reason = case.mastodon_differs
    if reason is None or (only_undercounts and "UNDERCOUNT" not in reason):
        return pytest.param(case, id=case.id)
    return pytest.param(case, id=case.id, marks=pytest.mark.xfail(reason=reason, strict=True))


@pytest.mark.parametrize("case", by_id(CASES))
def test_x_length_is_twitter_texts_weighted_length(case: Case) -> None:
    assert parse_tweet(case.text).weightedLength == case.x
    assert x_length(case.text) == case.x


@pytest.mark.parametrize("case", by_id(CASES))
def test_bluesky_length_counts_graphemes(case: Case) -> None:
    assert grapheme.length(case.text) == case.bluesky
    assert bluesky_length(case.text) == case.bluesky


@pytest.mark.parametrize("case", by_id(CASES))
def test_mastodon_py_counts_as_documented(case: Case) -> None:
    assert Mastodon.get_status_length(case.text) == case.mastodon


@pytest.mark.parametrize("case", [mastodon_param(case) for case in CASES])
def test_mastodon_length_matches_mastodon(case: Case) -> None:
    assert mastodon_length(case.text) == Mastodon.get_status_length(case.text)


@pytest.mark.parametrize("case", [mastodon_param(c, only_undercounts=True) for c in CASES])
def test_mastodon_length_never_undercounts(case: Case) -> None:
    assert mastodon_length(case.text) >= Mastodon.get_status_length(case.text)


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
        (FAMILY * 300, 300, True),
        ("🇵🇸" * 301, 301, False),
        ("a" * 179 + " " + LONG_URL, 300, True),  # Bluesky counts the URL in full
        ("a" * 180 + " " + LONG_URL, 301, False),
    ],
    ids=["arabic-300", "arabic-301", "family-300", "flags-301", "url-300", "url-301"],
)
def test_bluesky_boundary(text: str, length: int, fits: bool) -> None:
    assert bluesky_length(text) == grapheme.length(text) == length
    assert (length <= RULES["bluesky"].limit) is fits
