"""The bot's interface strings: every language has every string the code asks for."""

from __future__ import annotations

import re
import string
from pathlib import Path

import pytest

from bot.telegram.application import MENU
from bot.telegram.i18n import LOCALES, TOPIC_NAMES, WEEKDAYS, Translator

BOT = Path(__file__).resolve().parents[2] / "bot"
# t(lang, "msgid"), translate(lang, "msgid"), app.translate(sub.language, "msgid", ...)
_CALL = re.compile(r"\b(?:t|translate)\((?:[^\"'()]|\([^()]*\))*?,\s*[\"']([^\"']+)[\"']")
# Labels looked up through a variable: menus and buttons.
_LABELS = re.compile(r"\(\s*\"\w+\",\s*\"([A-Z][^\"]*)\"\s*\)")


def used_msgids() -> set[str]:
    found: set[str] = set(TOPIC_NAMES.values()) | set(WEEKDAYS) | {text for _, text in MENU}
    for path in BOT.rglob("*.py"):
        source = path.read_text(encoding="utf-8")
        found.update(_CALL.findall(source))
        if path.name == "keyboards.py":
            found.update(_LABELS.findall(source))
    return found


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


@pytest.fixture(scope="module", name="translate")
def translate_fixture() -> Translator:
    return Translator()


def test_every_language_has_a_catalogue(translate: Translator) -> None:
    assert sorted(translate.catalogs) == ["ar", "ckb", "en"]
    assert sorted(p.name for p in LOCALES.iterdir()) == ["ar", "ckb", "en"]


@pytest.mark.parametrize("lang", ["en", "ar", "ckb"])
def test_every_string_the_code_uses_is_translated(translate: Translator, lang: str) -> None:
    catalog = translate.catalogs[lang]
    missing = sorted(m for m in used_msgids() if catalog.get(m) is None or not catalog[m].string)
    assert missing == []


@pytest.mark.parametrize("lang", ["ar", "ckb"])
def test_translations_keep_the_placeholders(translate: Translator, lang: str) -> None:
    english = translate.catalogs["en"]
    for message in translate.catalogs[lang]:
        if message.id and isinstance(message.string, str):
            source = english.get(message.id)
            assert source is not None, f"{lang} has {message.id!r}, English does not"
            assert placeholders(message.string) == placeholders(str(source.string)), message.id


def test_missing_strings_fall_back_to_english(translate: Translator) -> None:
    assert translate("xx", "Saved.") == "Saved."
    assert translate("ar", "no such string") == "no such string"
    assert translate("ar", "I will remind you tomorrow at {time}.", time="18:00").count("18:00")
